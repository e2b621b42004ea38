"""Loyalty at the pump: after the card's PIN the station is asked for the card's points
(REWARDS); its answer brings the rewards on offer, the card's pending vouchers and its
earning rules (points.py). A menu offers them ("N points - 1..8 redeem / E fuel"); a
reward chosen is bought with REDEEM under a redemption id this pump makes and writes to
its flash before sending it (a counter that survives a power cut: an id is never used
twice). One voucher - the one just bought, or the card's oldest pending one - comes off
this sale's amount: the card is debited the metered amount less it, and after the debit
the journal's EV_VOUCHER event names the voucher and the sale, right before its FINAL;
the station marks the voucher used by that event (docs/protocol.md, docs/card.md).

Network faults: the link sends a question again in its next session when one drops
before the answer, and the station answers a REDEEM it has seen with its first result
(same id): a lost answer costs the points once. No answer in time (or offline before the
REDEEM): the sale goes on without a voucher; a voucher the station made meanwhile stays
pending for the card's next fill (here or at any pump) or a manager's cancel (points
back), so no points are spent on a voucher nobody got. Offline, no menu at all, and the
receipt says the points are credited later (the station earns them when the sale
arrives); with the answer, it shows this sale's points (the station's own figure: the
same function, the same rules) and the card's total.

The card desk (cardsale.py) calls: start() when the PIN is good, key() before the sale
gets a key, step() each step, off() and applied() at the debit, receipt() and line()."""
import asyncio

from . import log, protocol, storage
from . import points as earning
from .journal import EV_VOUCHER

_ASK_MS = 3000  # a REWARDS_ANSWER later than this: the sale goes on without the menu
_REDEEM_MS = 8000  # a REDEEM_ANSWER (the link asks again in a new session meanwhile)
ASKING, MENU, REDEEMING = 1, 2, 3
_CHOICES = "12345678"


def _reward(item):
    """[id, name, cost, kind, value] of a REWARDS_ANSWER, checked; None if malformed."""
    rid, name, cost, kind, value = item
    if protocol.is_uint(rid, 1, protocol.MAX_ID) and type(name) is str and \
            protocol.is_uint(cost, 1) and kind in ("percent", "amount") and \
            protocol.is_uint(value, 1):
        return item
    return None


def _voucher(item):
    """[number, kind, value] of a pending voucher, checked; None if malformed."""
    number, kind, value = item
    if protocol.is_uint(number, 1, protocol.MAX_ID) and kind in ("percent", "amount") and \
            protocol.is_uint(value, 1):
        return [number, kind, value]
    return None


class Rewards:
    def __init__(self, desk):
        self.desk = desk
        self.path = desk.pump.paths.redeem
        self.clear()

    def clear(self):
        """A new card: nothing known of it yet (a question still out is withdrawn)."""
        if getattr(self, "_task", None) is not None:
            self._task.cancel()
        self.phase = 0  # ASKING, MENU, REDEEMING while the menu holds the keypad
        self.answer = None  # its REWARDS_ANSWER: rates, pct, double
        self.points = 0  # the card's points before this sale's earning
        self.offer = []  # the rewards the card can afford
        self.voucher = None  # [number, kind, value] this sale takes
        self.redemption = None  # the REDEEM in flight
        self._cost = 0  # of the reward it buys
        self._asn = None  # the card asked about
        self._task = None
        self._got = None  # [answer] once the task is done

    # -- the desk's hooks ------------------------------------------------------------------
    def start(self, asn, card_type):
        """The PIN was good: ask the station (online, and it said in its WELCOME that it
        answers REWARDS: an older one would refuse the frame), else nothing (the sale goes
        on). Returns the desk's actions."""
        self.clear()
        link = self.desk.pump.link
        if link is None or not link.online or not link.loyalty:
            return []
        self._ask(link, protocol.REWARDS, {"asn": asn, "card_type": card_type},
                  protocol.REWARDS_ANSWER, _ASK_MS)
        self.phase = ASKING
        return [("show", "rewards_asking", None)]

    def key(self, key):
        """A key while the menu holds the keypad: (taken, actions). C is never taken (it
        cancels the sale)."""
        if not self.phase or key == "C":
            return False, None
        if self.phase != MENU:
            return True, None  # the station is being asked: wait
        if key == "E":
            self.phase = 0
            return True, [("show", "choose_preset", None)]
        i = _CHOICES.find(key)
        if self.voucher is None and 0 <= i < len(self.offer):
            return True, self._redeem(self.offer[i])
        return True, None

    def step(self, state_ok):
        """Each step of the desk: the answer taken when it came; a question withdrawn
        when the sale left the preset (`state_ok` False: cancelled, card pulled)."""
        task = self._task
        if not state_ok:  # the menu goes with the preset (a timeout, C, the card pulled)
            if task is not None:
                task.cancel()
                self._task = None
            self.phase = 0
            return None
        if task is None:
            return None
        got = self._got
        if got is None:
            return None
        self._task = None
        self._got = None
        if self.phase == ASKING:
            return self._answered(got[0])
        return self._redeemed(got[0])

    def off(self, amount):
        """Money this sale's voucher takes off `amount` (0: none)."""
        voucher = self.voucher
        return earning.off(amount, voucher[1], voucher[2]) if voucher else 0

    def applied(self, sale):
        """The card paid with the voucher off: the journal says so before the FINAL
        (EV_VOUCHER); the station marks the voucher used by it."""
        number = self.voucher[0]
        self.desk.pump.recorder.event(EV_VOUCHER, number, sale)
        log.event("voucher_applied", {"voucher": number, "sale": sale})

    def receipt(self, amount):
        """The receipt's points: (earned, total) with the station's answer; "later" when
        it was not had (offline, no answer: the station credits them when the sale
        arrives); None when this pump has no station (no loyalty)."""
        answer = self.answer
        if answer is None:
            return "later" if self.desk.pump.link is not None else None
        grade = self.desk.bill["grade"] if self.desk.bill else ""
        earned = earning.earn(amount, earning.rate_of(answer["rates"], grade),
                              answer.get("pct", 100), answer.get("double") is True)
        return earned, self.points + earned

    def line(self):
        """The menu's value line."""
        if self.phase == MENU:
            if self.voucher is not None:
                return "%s  E" % _describe(self.voucher)
            return "%d  " % self.points + " ".join(
                "%d:%s %d" % (i + 1, self.offer[i][1][:10], self.offer[i][2])
                for i in range(len(self.offer)))
        return ""

    # -- the station's answers -------------------------------------------------------------
    def _answered(self, answer):
        if answer is None or answer.get("asn") != self._asn:
            self.phase = 0  # no answer in time: no menu, the sale goes on without
            log.event("rewards", {"answer": False})
            return [("show", "choose_preset", None)]
        rates = answer.get("rates") or {}
        answer["rates"] = {g: rates[g] for g in rates if protocol.is_uint(rates[g])}
        self.answer = answer
        self.points = answer["points"]
        offer = []
        for item in answer["rewards"]:
            item = _reward(item)
            if item is not None and item[2] <= self.points:
                offer.append(item)
        self.offer = offer
        for item in answer.get("vouchers") or ():
            self.voucher = _voucher(item)  # the oldest sound one
            if self.voucher is not None:
                break
        log.event("rewards", {"answer": True, "points": self.points, "offer": len(offer),
                              "voucher": self.voucher[0] if self.voucher else None})
        if self.voucher is None and not offer:
            self.phase = 0
            return [("show", "choose_preset", None)]
        self.phase = MENU
        return [("show", "rewards_menu", None)]

    def _redeem(self, reward):
        """REDEEM `reward` under a new id, written to the flash before it is sent."""
        saved = storage.read_json(self.path)
        n = (saved.get("n", 0) if isinstance(saved, dict) else 0) + 1
        journal = self.desk.pump.journal
        ident = journal.ident if isinstance(journal.ident, str) else "0"
        rid = "%s-%s-%d" % (self.desk.cfg.terminal_id, ident, n)
        try:
            storage.write_json(self.path, {"n": n, "id": rid, "reward": reward[0]})
        except OSError as e:  # no id kept, none sent
            log.event("redeem_unsaved", {"why": str(e)})
            self.phase = 0
            return [("show", "rewards_unavailable", None)]
        link = self.desk.pump.link
        self.redemption = {"asn": self._asn, "reward": reward[0], "redemption_id": rid}
        self._ask(link, protocol.REDEEM, self.redemption, protocol.REDEEM_ANSWER, _REDEEM_MS)
        self.phase = REDEEMING
        self._cost = reward[2]
        log.event("redeem", {"id": rid, "reward": reward[0]})
        return [("show", "rewards_redeeming", None)]

    def _redeemed(self, answer):
        self.phase = 0
        rid = self.redemption["redemption_id"]
        if answer is None or answer.get("redemption_id") != rid:
            # none in time: this sale goes without; a voucher the station made waits
            log.event("redeem_answer", {"id": rid, "status": None})
            return [("show", "rewards_unavailable", None)]
        ok = answer["status"] == "ok" and "voucher" in answer and "kind" in answer and \
            "value" in answer
        log.event("redeem_answer", {"id": rid, "status": answer["status"] if ok else
                                    "refused", "why": answer.get("why")})
        if not ok:
            return [("show", "redeem_refused", None)]
        self.voucher = [answer["voucher"], answer["kind"], answer["value"]]
        self.points = answer.get("points", self.points - self._cost)
        return [("show", "redeemed", None)]

    def _ask(self, link, mtype, payload, want, timeout_ms):
        self._asn = payload["asn"]
        self._got = None

        async def ask():
            self._got = [await link.ask(mtype, payload, want, timeout_ms)]
        self._task = asyncio.create_task(ask())


def _describe(voucher):
    if voucher[1] == "percent":
        return "-%d%%" % voucher[2]
    return "-%d.%02d" % (voucher[2] // 100, voucher[2] % 100)

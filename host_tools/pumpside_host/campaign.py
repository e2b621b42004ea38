"""Power-cut campaign: random sales on the virtual pump, cut at random moments.

Cuts: mains lost with the supply monitor's warning (the firmware gets its hold-up time),
mains lost without warning (kill -9 at once), and cuts inside the flash itself (a
program that never happens, a torn program, a half-done erase; armed at boot, they fire
at the Nth flash operation, during a sale or during the next boot's own recovery).
After each cut the pump boots again from the same flash and must mount and verify its
journal. At the end every sale the bench delivered must be in the journal exactly once,
with the bench's volume: exact when the warning came, within one checkpoint without.
"""
import random
import sys
import time

from .bench import Bench
from .vboard import DEFAULT_CONFIG, VirtualPump

K_FACTOR = 100000  # pulses per litre x 1000 (the default config's)
# each erase stalls the board as long as a 4 KB sector erase of the boards' NOR flash does
# (W25Q-class, typical): a warned checkpoint behind one is as late as on a real board
FLASH_ERASE_MS = 45
HOLDUP_S = 0.25  # the sim board's hold-up after the warning (vboard.power_cut)
FLASH_KINDS = ("program", "torn", "erase")  # boards/sim/simflash.py's faults


def _campaign_config(checkpoint_ml):
    config = dict(DEFAULT_CONFIG)
    config.update(checkpoint_ml=checkpoint_ml, checkpoint_ms=1000, slow_lead_ml=150,
               no_flow_timeout_ms=3000, no_pulse_timeout_ms=2000, settle_ms=150,
               done_show_ms=0, max_unsynced_sales=100000, max_unsynced_amount=2000000000)
    return config


class Campaign:
    def __init__(self, cuts, seed, checkpoint_ml=200, lpm=120.0, flash_blocks=2048, log=None,
                 cut_share=0.85, config=None, cards=None, erase_ms=FLASH_ERASE_MS):
        self.rng = random.Random(seed)
        self.cuts_wanted = cuts
        self.checkpoint_ml = checkpoint_ml
        self.bench = Bench(fast_lpm=lpm, slow_lpm=20.0)
        self.cut_share = cut_share  # share of sales cut at a random moment
        pump_config = _campaign_config(checkpoint_ml)
        pump_config.update(config or {})
        self.pump = VirtualPump(config=pump_config, bench=self.bench, flash_blocks=flash_blocks,
                                cards=cards, flash_erase_ms=erase_ms)
        self.erase_ms = erase_ms
        self.lpm = lpm
        self.log = log or (lambda text: None)
        self.sales = {}  # sale number -> {"pulses": bench truth, "warned": bool}
        self.cuts = {"warn": 0, "hard": 0, "flash": 0}
        self.flash_cuts = {kind: 0 for kind in FLASH_KINDS}  # the "flash" cuts by kind
        self.boots = 0
        self.boot_failures = []  # boots whose journal did not mount and verify
        self.corrupt_seen = 0
        self.details = []  # what went wrong, for the report
        self.warn_latency_max = 0.0  # warning -> warned checkpoint, as the bench saw it
        self.warn_missed = 0
        self.crashes = 0  # the firmware died without a cut: never acceptable
        self._x_seen = 0
        self.armed = None

    # -- one boot ---------------------------------------------------------------------
    def _boot(self, first=False, retry=0):
        fault = None
        if retry > 20:  # no armed fault fires 20 boots in a row: the firmware itself fails
            raise RuntimeError("firmware does not boot; console:\n"
                               + "\n".join(self.pump.lines[-20:]))
        if not first and self.rng.random() < 0.35:
            kind = self.rng.choice(("program", "torn", "torn", "erase"))
            # an armed fault lives about one sale (the next cut reboots without it): a
            # sale programs the flash some 50 times but erases it only once or twice
            fault = "%s:%d" % (kind, self.rng.randint(1, 4 if kind == "erase" else 25))
        self._x_seen = self.bench.self_cuts
        self.pump.reboot(flash_fault=fault) if not first else self.pump.start()
        self.armed = fault
        self.armed_sales = 0
        self.boots += 1
        try:
            report = self.pump.wait_event("journal", 30)
        except RuntimeError:  # the armed flash fault fired during boot or recovery
            self._count_flash_cut()
            return self._boot(retry=retry + 1)
        except TimeoutError:
            closed = [f for n, f in self.pump.seen if n == "closed"]
            self.boot_failures.append(closed[-1]["why"] if closed else "no journal report")
            raise
        self.corrupt_seen += report["corrupt"]
        if report["corrupt"]:
            self.details.append({"boot": self.boots, "corrupt": [
                f for n, f in self.pump.seen if n == "journal_corrupt"], "armed": self.armed})
        try:
            self.pump.wait_state("IDLE", 10)
        except RuntimeError:
            self._count_flash_cut()
            return self._boot(retry=retry + 1)
        return report

    def _count_flash_cut(self):
        """The firmware died by itself: an armed flash fault fired (it told the bench
        `X` first), or else it crashed, which is a failure of its own."""
        self.pump.kill()
        if self.bench.self_cuts > self._x_seen:
            self._flash_cut()
        else:
            self.crashes += 1
            self.details.append({"crash": self.pump.lines[-12:]})
        self._x_seen = self.bench.self_cuts

    def _flash_cut(self):
        """An armed flash fault fired: count it, and its kind."""
        self.cuts["flash"] += 1
        self.flash_cuts[self.armed.split(":")[0]] += 1

    def cut_count(self):
        return sum(self.cuts.values())

    def _pick_cut(self):
        """The cut the next sale gets: "warn", "hard" or None (a share cut_share of the
        sales). An armed flash fault cuts by itself: it is given one sale to do so."""
        cut = None
        if (not self.armed or self.armed_sales) and self.rng.random() < self.cut_share:
            cut = self.rng.choice(("warn", "hard"))
        self.armed_sales += 1
        return cut

    def _cut_power(self, cut, died):
        """Cut the power as `cut` says, unless the pump died already (`died`, or not
        alive: an armed flash fault fired). Counts the cut and returns its kind: "warn",
        "hard", "flash", or None when there was none."""
        if died or not self.pump.alive():
            self._count_flash_cut()
            return "flash"
        if not cut:
            return None
        self_cuts = self.bench.self_cuts
        self.pump.power_cut(warn=cut == "warn", holdup_s=HOLDUP_S)
        if self.bench.self_cuts > self_cuts:
            # the armed flash fault fired during the hold-up (on the warned checkpoint's
            # own write): a cut without a completed warning
            self._flash_cut()
            return "flash"
        self.cuts[cut] += 1
        return cut

    def _fuelling(self):
        """The dispenser's valves are open or its meter settling, by its latest events: the
        recorder checkpoints the count on the warning. Once the state went back to IDLE
        the settled count is checkpointed before the FINAL, with or without a warning."""
        for name, fields in reversed(self.pump.seen):
            if name == "state":
                return fields["state"] in ("FUELLING", "SETTLING")
            if name in ("delivery", "authorized"):
                return False
        return False

    # -- one sale -----------------------------------------------------------------------
    def _sale(self):
        rng = self.rng
        pump = self.pump
        bench = self.bench
        preset_ml = rng.choice((200, 400, 700, 1000, 1600))
        start = bench.counts()[0]
        sale = None
        died = False
        bench.press("V%dE" % (preset_ml // 10))
        try:
            sale = pump.wait_event("authorized", 5)["sale"]
        except RuntimeError:
            died = True  # flash fault fired while writing the authorisation
        except TimeoutError:
            tail = "\n".join(pump.lines[-20:])
            raise RuntimeError("pump did not authorise; console:\n" + tail) from None
        cut = None
        if not died:
            bench.lift()
            cut = self._pick_cut()
            flow_s = preset_ml / (self.lpm * 1000 / 60) + 0.6
            wait = rng.uniform(0.0, flow_s * 1.2) if cut else 60
            try:
                pump.wait_event("delivery", wait)
            except TimeoutError:
                pass  # the moment of the cut came first
            except RuntimeError:
                died = True
        fuelling = self._fuelling()
        cut = self._cut_power(cut, died)
        if cut == "warn":
            latency = pump.warning_latency()
            if latency is not None:
                self.warn_latency_max = max(self.warn_latency_max, latency)
            elif fuelling and bench.counts()[0] > start:
                self.warn_missed += 1  # fuel flowed, yet no warned checkpoint came
                self.details.append({"warned_missed": sale, "events": [
                    (n, f.get("state", "")) for n, f in pump.seen[-6:]]})
        bench.hang_up()
        if sale is not None:
            self.sales[sale] = {"pulses": bench.counts()[0] - start, "warned": cut == "warn",
                                "cut": cut, "preset_ml": preset_ml}
        if cut:
            self._boot()

    def run(self):
        t0 = time.monotonic()
        self._boot(first=True)
        while self.cut_count() < self.cuts_wanted:
            self._sale()
            if len(self.sales) % 10 == 0:
                self.log("cuts %d sales %d" % (self.cut_count(), len(self.sales)))
        self.pump.kill()
        result = self.verify()
        result["wall_s"] = time.monotonic() - t0
        return result

    # -- the verdict ----------------------------------------------------------------------
    def verify(self):
        dump = self.pump.dump_journal()
        finals = {}  # the record of the fuel: FINAL, or ESCAPE for a card not yet debited
        for r in dump["records"]:
            if r["type"] in ("FINAL", "ESCAPE"):
                finals.setdefault(r["sale"], []).append(r)
        lost = doubled = mismatched = phantom = 0
        err_max = 0
        # Without the warning a sale loses the flow since its last completed checkpoint:
        # one checkpoint interval, plus what flowed during the tick and the commit of the
        # checkpoint the cut interrupted (allow 40 ms: a 5 ms tick running late + commit).
        slack_ml = int(self.lpm * 1000 / 60 * 0.040)
        self.bound_ml = self.checkpoint_ml + slack_ml
        bound_pulses = self.bound_ml * K_FACTOR // 1000000
        for sale, truth in self.sales.items():
            got = finals.get(sale, [])
            if not got:
                lost += 1
                continue
            if len(got) > 1:
                doubled += 1
            pulses = got[0]["pulses"]
            err = truth["pulses"] - pulses
            err_max = max(err_max, abs(err))
            exact = truth["cut"] in (None, "warn")
            if (exact and err != 0) or not 0 <= err <= bound_pulses:
                mismatched += 1
                self.details.append({"sale": sale, "truth": truth, "journal": got[0]})
        for sale, bills in finals.items():
            if sale not in self.sales and any(b["pulses"] for b in bills):
                phantom += 1  # fuel in the journal that the bench never delivered
        ml_per_pulse = 1000000 // K_FACTOR
        return {
            "power_cuts": self.cut_count(), "cuts_warned": self.cuts["warn"],
            "cuts_hard": self.cuts["hard"], "cuts_flash": self.cuts["flash"],
            **{"cuts_flash_" + kind: n for kind, n in self.flash_cuts.items()},
            "boots": self.boots, "sales": len(self.sales), "sales_lost": lost,
            "firmware_crashes": self.crashes,
            "sales_doubled": doubled, "sales_volume_mismatch": mismatched,
            "sales_phantom": phantom, "volume_error_max_ml": err_max * ml_per_pulse,
            "volume_error_bound_ml": self.bound_ml,
            "journal_corrupt_at_boot": self.corrupt_seen,
            "journal_corrupt_at_end": len(dump["corrupt"]),
            "boot_failures": len(self.boot_failures), "records": len(dump["records"]),
            "open_sale_at_end": dump["state"]["open_sale"], "details": self.details,
            "warned_commit_us_max": max([f["commit_us"] for n, f in self.pump.seen
                                         if n == "power_warning"] or [0]),
            "warned_checkpoint_ms_max": int(self.warn_latency_max * 1000),
            "warned_checkpoint_missed": self.warn_missed,
            "holdup_ms": int(HOLDUP_S * 1000), "flash_erase_ms": self.erase_ms,
            **self.verify_cards(dump),
        }

    def verify_cards(self, dump):
        return {}

    def close(self):
        self.pump.stop()


class CardCampaign(Campaign):
    """The same cuts during card sales, at any moment from the card going in to the
    receipt: reading, PIN, grey lock, fuelling, debit, FINAL. The card stays in the
    reader through the cut, as at a real pump. After each reboot the card is taken out
    and put back until it is not grey (each try may be cut by an armed flash fault too).
    At the end: no card grey, every card's balance = start - the journal's settled amounts
    (FINAL + UNLOCK), every ESCAPE settled by exactly one UNLOCK, no sale paid twice."""

    PIN = "123456"
    START = 100000000  # 1,000,000.00 on each card

    def __init__(self, cuts, seed, store_path, n_cards=3, **kw):
        from .bench.cards import CardStore

        self.store = CardStore(store_path)
        self.asns = ["62000000000001%02d" % (i + 1) for i in range(n_cards)]
        for asn in self.asns:
            self.store.issue(asn, self.START, pin=self.PIN)
        config = {"sale_mode": "card", "sale_timeout_ms": 10000}
        super().__init__(cuts, seed, config=config, cards=self.store, **kw)

    def _until(self, name, where, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(name)
        return self.pump.wait_event(name, left, where)

    def _sale(self):
        rng = self.rng
        pump = self.pump
        bench = self.bench
        asn = rng.choice(self.asns)
        preset_ml = rng.choice((200, 400, 700, 1000))
        start = bench.counts()[0]
        mark = len(pump.seen)
        cut = self._pick_cut()
        whole_s = 1.2 + preset_ml / (self.lpm * 1000 / 60) + 1.0
        deadline = time.monotonic() + (rng.uniform(0.0, whole_s) if cut else 60)
        died = False
        try:
            pump.insert(asn)
            self._until("card", lambda f: f["prompt"] == "enter_pin", deadline)
            bench.press(self.PIN + "E")
            self._until("card", lambda f: f["prompt"] == "choose_preset", deadline)
            bench.press("V%dE" % (preset_ml // 10))
            self._until("authorized", None, deadline)
            bench.lift()
            self._until("receipt", None, deadline)
            if cut is None:
                bench.hang_up()
                bench.remove_card()
                self._until("card_slot", lambda f: not f["present"], deadline)
        except TimeoutError:
            if cut is None:
                raise RuntimeError("card sale stalled; console:\n"
                                   + "\n".join(pump.lines[-25:])) from None
        except RuntimeError:
            died = True  # an armed flash fault cut the power
        cut = self._cut_power(cut, died)
        bench.hang_up()
        for name, fields in pump.seen[mark:]:
            if name == "authorized":
                self.sales[fields["sale"]] = {"pulses": bench.counts()[0] - start,
                                              "cut": cut, "asn": asn}
        if cut:
            self._boot()
            self._settle_card(asn)

    def _settle_card(self, asn):
        """Take the card out and put it back until it is not grey (补扣 on insertion)."""
        pump = self.pump
        for _ in range(20):
            try:
                pump.wait_event("card", 5, lambda f: f["prompt"] in (
                    "enter_pin", "take_receipt", "card_error", "card_removed",
                    "card_grey_elsewhere"))
                if pump.bench.display[2:3] == ["Enter PIN, E to confirm"]:
                    self.bench.press("C")
                    pump.wait_event("card", 5, lambda f: f["prompt"] == "cancelled")
                self.bench.remove_card()
                pump.wait_event("card_slot", 5, lambda f: not f["present"])
            except RuntimeError:
                self._count_flash_cut()
                self._boot()
                continue
            except TimeoutError:
                self.bench.remove_card()
            if not self.store.cards[asn].s["grey"]:
                return
            pump.insert(asn)
        raise RuntimeError("card %s stays grey; console:\n%s" % (asn, "\n".join(pump.lines[-25:])))

    def verify_cards(self, dump):
        paid = {}
        fuel = {}
        unlocks = {}
        for record in dump["records"]:
            if record["type"] not in ("FINAL", "ESCAPE", "UNLOCK"):
                continue
            asn = record["asn"][:16]
            if record["type"] == "UNLOCK":
                unlocks.setdefault(record["sale"], []).append(record)
            else:
                fuel[record["sale"]] = record
            if record["type"] != "ESCAPE":
                paid[asn] = paid.get(asn, 0) + record["amount"]
        unpaid = twice = 0
        for sale, record in fuel.items():
            unlock_count = len(unlocks.get(sale, []))
            if record["type"] == "ESCAPE" and unlock_count != 1:
                unpaid += unlock_count == 0
                twice += unlock_count > 1
                self.details.append({"sale": sale, "escape": record, "unlocks": unlock_count})
            elif record["type"] == "FINAL" and unlock_count:
                twice += 1
                self.details.append({"sale": sale, "final_and_unlock": unlock_count})
        grey = mismatch = 0
        for asn in self.asns:
            state = self.store.cards[asn].s
            grey += bool(state["grey"])
            if state["balance"] != self.START - paid.get(asn, 0):
                mismatch += 1
                self.details.append({"card": asn, "balance": state["balance"],
                                     "journal_paid": paid.get(asn, 0)})
        return {"cards_grey_at_end": grey, "card_balance_mismatch": mismatch,
                "sales_unpaid": unpaid, "sales_paid_twice": twice,
                "escapes": sum(1 for r in fuel.values() if r["type"] == "ESCAPE"),
                "card_money_moved": sum(paid.values())}


def run(cuts, seed, log=None, cards=False, **kw):
    if cards:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            campaign = CardCampaign(cuts, seed, tmp + "/cards.json", log=log, **kw)
            try:
                return campaign.run()
            finally:
                campaign.close()
    campaign = Campaign(cuts, seed, log=log, **kw)
    try:
        return campaign.run()
    finally:
        campaign.close()


FIGURES = ("power_cuts", "sales_lost", "sales_doubled", "volume_error_max_ml")
# journal_corrupt_at_boot: littlefs commits a file's new contents atomically (a cut or a
# torn program leaves the old contents, an interrupted erase only an unreferenced block),
# so no cut can legitimately leave a damaged record.
# warned_checkpoint_missed: fuel flowed and the warning came, yet no warned checkpoint
# landed within the hold-up: the journal must be exact after a warned cut.
MUST_BE_ZERO = ("sales_lost", "sales_doubled", "sales_volume_mismatch", "sales_phantom",
                "boot_failures", "journal_corrupt_at_boot", "journal_corrupt_at_end",
                "firmware_crashes", "cards_grey_at_end", "card_balance_mismatch",
                "sales_unpaid", "sales_paid_twice", "warned_checkpoint_missed")


def print_result(result, out=sys.stdout):
    for key in FIGURES:
        out.write("%s: %d\n" % (key, result[key]))
    for key in sorted(result):
        if key not in FIGURES and key != "details":
            value = result[key]
            out.write("%s: %s\n" % (key, ("%.1f s" % value) if key == "wall_s" else value))
    for d in result["details"]:
        out.write("detail: %s\n" % d)

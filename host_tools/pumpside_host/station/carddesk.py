"""The station's card desk: issue and personalise cards, load them (圈存), report lost,
unblock, replace, reset a PIN, and look a card up, driving a card-issuing reader over the
firmware's APDU layer (pumpside.card.apdu). The reader is passed in: the bench's
IssuingReader on the bench, a PC/SC reader's transceive on a real desk.

The issuer's master keys (purchase, load, TAC) come from the key file beside the
database (`--issuer-keys`, accounts.load_master_keys), never from it; the card's own keys
are diversified here and written to it at issue; the load key never leaves the station.

Every method runs its changes through `tx(run, action, target)`, which the service layer
(service.py) gives it after checking the operator's role: run() -> (old, new, result) in
one transaction with the audit record `action` (none when None). A load records what the
card answered to INITIALIZE FOR LOAD before it sends CREDIT FOR LOAD, so a load cut at
any point is found again from the card (its log, its online counter): loaded once, or
waiting again, never lost. docs/card.md has the APDUs and MACs, docs/operations.md the
desk's procedures.
"""
import struct
import time

from pumpside.card import apdu
from pumpside.card.apdu import CardError
from pumpside.card.fuelcard import pin_block

from .. import cardcrypto
from .accounts import bcd_datetime
from .cardbook import DONE, KINDS, PENDING, STARTED, CardBook, load_time
from .cardio import (
    DESK_TID,
    FILES,
    KEY_LOAD,
    KEY_PIN,
    KEY_PURCHASE,
    KEY_TAC,
    T_LOAD,
    DeskCard,
    card_files,
    load_tac,
)
from .masking import mask_card
from .problems import Invalid


class DeskError(ValueError):
    """What the desk could not do and what to do about it (never a key or a PIN)."""


class DeskProblem(Invalid, DeskError):
    """A DeskError the back office's card form can cause: a problems.MESSAGES code (said
    in the operator's language; str(): the English the command line prints)."""


def why_of(e):
    if e.kind == apdu.REMOVED:
        return "the card was pulled"
    return "the card answered %s" % e


def _holder(kind, name, id_number, phone):
    """(name, last 4 of the ID number, phone) checked for the card's kind."""
    if kind not in KINDS:
        raise DeskError("a card is registered or anonymous")
    if kind == "anonymous":
        if name or id_number or phone:
            raise DeskError("an anonymous card has no holder: leave name, ID and phone out")
        return "", "", ""
    name = (name or "").strip()
    if not name or len(name.encode()) > 20 or not name.isprintable():
        raise DeskError("a registered card needs the holder's name (up to 20 bytes)")
    id_number = (id_number or "").strip()
    if len(id_number) < 4 or not id_number.isalnum():
        raise DeskError("a registered card needs the holder's ID number (letters and digits)")
    phone = (phone or "").strip()
    if not 5 <= len(phone) <= 16 or not phone.lstrip("+").isdigit():
        raise DeskError("a registered card needs the holder's phone number (digits)")
    return name, id_number[-4:].upper(), phone


class Desk:
    def __init__(self, ledger):
        self.ledger = ledger
        self.book = CardBook(ledger.db)
        self.restrictions = None  # asn -> {sfi: bytes} written at each load, or None

    # -- keys -------------------------------------------------------------------------------
    def _issuer(self, issuer=None, need=("purchase", "load", "tac")):
        """(issuer id, its master keys) of the key file: the one named, or the only one
        with the keys `need`s."""
        masters = self.ledger.cards.masters
        fit = [(i, k) for i, k in sorted(masters.items())
               if (issuer is None or i == issuer) and all(k.get(n) for n in need)]
        if len(fit) != 1:
            raise DeskError("the card desk needs the issuer's %s master keys in the issuer "
                            "key file (--issuer-keys FILE: %s)" % (
                                ", ".join(need), ", ".join("%s_key" % n for n in need))
                            if not fit else "several issuers in the key file: name one")
        return fit[0]

    @staticmethod
    def _key(masters, name, issuer, asn):
        return cardcrypto.card_key(masters[name], issuer, bytes.fromhex(asn))

    def card_keys(self, record, names):
        """The card's own keys `names` ("load", "tac", "purchase") of its record,
        diversified from its issuer's master keys; DeskError when the key file lacks
        them. They stay in the station."""
        issuer, masters = self._issuer(bytes.fromhex(record["issuer"]), names)
        return {n: self._key(masters, n, issuer, record["asn"]) for n in names}

    # -- the card in the reader ---------------------------------------------------------------
    def _open(self, reader):
        """(DeskCard, its record) of the issued card in the reader."""
        card = DeskCard(reader)
        try:
            card.select()
            ef15 = card.file(0x95, 30)
        except CardError as e:
            raise DeskError("cannot read the card: %s" % why_of(e)) from None
        record = self.book.get(ef15[12:20].hex()) if ef15 else None
        if record is None:
            raise DeskError("this card was not issued here (blank, or another station's): "
                            "card-issue issues a blank one")
        return card, record

    @staticmethod
    def _pin(card, pin):
        try:
            card.verify_pin(pin)
        except CardError as e:
            left = e.tries_left()
            raise DeskError("wrong PIN, %d tries left" % left if left is not None
                            else "PIN not accepted: %s" % why_of(e)) from None

    # -- issue ------------------------------------------------------------------------------
    def issue(self, tx, reader, kind, pin, name="", id_number="", phone="", now=None,
              replaces=None, holder=None):
        """Personalise the blank card in the reader; the account is made only once the
        card reads back right and proves its load key. Returns the card number."""
        holder = holder or _holder(kind, name, id_number, phone)
        try:
            block = pin_block(pin)
        except CardError:
            raise DeskError("a PIN is 4 to 6 digits") from None
        issuer, masters = self._issuer()
        now = int(now or time.time())
        card = DeskCard(reader)
        try:
            card.select()
            ef15 = card.file(0x95, 30)
        except CardError as e:
            raise DeskError("cannot read the card: %s" % why_of(e)) from None
        if ef15 is not None:
            asn = ef15[12:20].hex()
            if ef15[:8] != issuer:
                raise DeskError("this card is another issuer's (%s): not ours to issue"
                                % ef15[:8].hex())
            if self.book.get(asn) is not None:
                raise DeskError("this card is already issued: %s" % mask_card(asn))
            # an issue cut after EF15 was written: personalised again under its number
        else:
            asn = tx(lambda: ("", "", self.book.allocate_asn()))
        files = card_files(issuer, asn, kind, holder, now)
        keys = {w: self._key(masters, n, issuer, asn) for w, n in (
            (KEY_PURCHASE, "purchase"), (KEY_LOAD, "load"), (KEY_TAC, "tac"))}
        try:
            for which, key in sorted(keys.items()):
                card.write_key(which, key)
            card.write_key(KEY_PIN, block)
            for sfi, _n in FILES:
                card.write_file(sfi, files[sfi])
            self._verify_issued(card, files, pin, keys[KEY_LOAD])
        except CardError as e:
            raise DeskError("the card was not issued (%s): nothing is on record; insert it "
                            "again and issue again" % why_of(e)) from None

        def run():
            self.book.add(asn, issuer.hex(), kind, holder[0], holder[1], holder[2],
                          replaces, now)
            return "", "%s card%s" % (kind, ", replaces %s" % mask_card(replaces)
                                      if replaces else ""), asn
        return tx(run, "card-issue", mask_card(asn))

    @staticmethod
    def _verify_issued(card, files, pin, load_key):
        """The card reads back what was written, takes its PIN and proves its load key
        (MAC1 of a load of 0, never credited)."""
        card.select()
        for sfi, n in FILES:
            if card.file(sfi, n) != files[sfi]:
                raise CardError(apdu.MALFORMED, "file %02X reads back different" % sfi)
        card.verify_pin(pin)
        init = card.init_load(0, DESK_TID)
        session = cardcrypto.des3(load_key, init["random"] + init["counter"] + b"\x80\x00")
        if cardcrypto.mac(session, init["balance"] + bytes(4) + bytes((T_LOAD,)) + DESK_TID) \
                != init["mac1"]:
            raise CardError(apdu.STATUS, "its load key does not verify (MAC1)", 0x9302)

    # -- money ------------------------------------------------------------------------------
    def _usable(self, asn):
        record = self.book.get(asn) if isinstance(asn, str) else None
        if record is None:
            raise DeskProblem("card_unknown", card=mask_card(asn))
        if record["status"] == "lost":
            raise DeskProblem("card_is_lost", card=mask_card(asn))
        if record["status"] == "closed":
            raise DeskProblem("card_closed", card=mask_card(asn),
                              by=mask_card(record["replaced_by"]))
        return record

    def fund(self, tx, asn, amount, source, now=None):
        """Money taken for a card: cash at the desk or an online top-up; it waits on the
        card's account until the card is at the desk (load). Returns the load's id."""
        self._usable(asn)

        def run():
            load_id = self.book.fund(asn, amount, source, now)
            return "", "%d %s (load %d)" % (amount, source, load_id), load_id
        return tx(run, "card-fund", mask_card(asn))

    def load(self, tx, reader, pin, now=None):
        """Finish any cut load, then put each waiting load on the card in the reader,
        oldest first. Returns [load id, ...] loaded now or found loaded."""
        card, record = self._open(reader)
        asn = record["asn"]
        self._usable(asn)
        self._pin(card, pin)
        keys = self.card_keys(record, ("load", "tac"))
        done = self._recover(tx, card, asn, keys, True, now)
        files = self.restrictions(asn, now) if self.restrictions else None
        if files:  # a fleet card: its restrictions as the station knows them now
            try:
                for sfi, data in sorted(files.items()):
                    card.write_file(sfi, data)
            except CardError as e:
                raise DeskError("the card's restrictions were not written (%s): nothing "
                                "loaded; insert it again" % why_of(e)) from None
        for load in self.book.loads(asn, (PENDING,)):
            self._load_one(tx, card, asn, keys, load, now)
            done.append(load["id"])
        return done

    def _load_one(self, tx, card, asn, keys, load, now):
        try:
            init = card.init_load(load["amount"], DESK_TID)
        except CardError as e:
            raise DeskError("the card refused the load (%s): the money waits on the account"
                            % why_of(e)) from None
        counter, before, when, mac2 = self.begin_load(tx, keys, load, init, DESK_TID, now)
        try:
            tac = card.credit_load(when, mac2)
        except CardError as e:
            raise DeskError("the load was cut (%s): the money stays on the account; insert "
                            "the card again to finish it (the desk asks the card whether it "
                            "got it)" % why_of(e)) from None
        self.finish_load(tx, asn, keys, dict(load, counter=counter, before=before,
                                         at=when.hex(), terminal=DESK_TID.hex()), tac,
                     "loaded", now)

    def begin_load(self, tx, keys, load, init, terminal, now=None):
        """The waiting `load` onto a card that answered INITIALIZE FOR LOAD with `init`
        (bytes: balance, counter, random, MAC1) for terminal id `terminal` (the desk's, or
        a pump's PSAM): MAC1 checked with the card's load key, the load recorded as
        started (committed before anything reaches the card: a cut from here on is found
        again from the card), MAC2 made. Returns (counter, balance before, date and time
        CREDIT carries, MAC2). DeskError: MAC1 does not verify, or the load is not
        waiting any more (nothing recorded)."""
        amount = load["amount"]
        session = cardcrypto.des3(keys["load"], init["random"] + init["counter"] + b"\x80\x00")
        if cardcrypto.mac(session, init["balance"] + struct.pack(">I", amount)
                          + bytes((T_LOAD,)) + terminal) != init["mac1"]:
            raise DeskError("the card's MAC1 does not verify: nothing loaded")
        when = bcd_datetime(int(now or time.time()))
        counter = struct.unpack(">H", init["counter"])[0]
        before = struct.unpack(">I", init["balance"])[0]
        try:
            tx(lambda: (None, None, self.book.started(load["id"], terminal.hex(), counter,
                                                      before, when.hex())))
        except ValueError as e:  # another load took it meanwhile
            raise DeskError(str(e)) from None
        mac2 = cardcrypto.mac(session, struct.pack(">I", amount) + bytes((T_LOAD,)) + terminal
                              + when)
        return counter, before, when, mac2

    def finish_load(self, tx, asn, keys, load, tac, how, now=None):
        after = load["before"] + load["amount"]
        expect = load_tac(keys["tac"], after, load["counter"], load["amount"],
                          bytes.fromhex(load["terminal"]), bytes.fromhex(load["at"]))
        if tac is None:  # recovered: the station holds the TAC key and every input
            tac, how = expect, how + ", TAC recomputed"
        elif tac != expect:
            how += ", TAC DOES NOT VERIFY"

        def run():
            self.book.done(load["id"], tac.hex(), how, now)
            return "%d waiting" % load["amount"], "%d on the card (load %d, balance %d -> %d, "\
                "%s)" % (load["amount"], load["id"], load["before"], after, how), None
        tx(run, "card-load", mask_card(asn))

    def _recover(self, tx, card, asn, keys, pin_ok, now=None):
        """Each load cut after INITIALIZE: on the card (its log shows it, or its online
        counter moved past it) -> done; not (the counter did not move) -> waiting again.
        Without the PIN only the log can tell: the load stays as it is."""
        started = self.book.loads(asn, (STARTED,))
        if not started:
            return []
        try:
            log = card.log()
            counter = struct.unpack(">H", card.init_load(0, DESK_TID)["counter"])[0] \
                if pin_ok else None
        except CardError as e:
            raise DeskError("cannot read the card's log: %s" % why_of(e)) from None
        return self.settle_started(tx, asn, keys, log, counter, now)

    def settle_started(self, tx, asn, keys, log, counter, now=None):
        """Each load of the card recorded as started (MAC2 given, CREDIT maybe sent), from
        what the card shows: its log (entries of type 02) holds it, or its online counter
        (None: not known) is past the load's -> done (the TAC recomputed); the counter is
        the load's -> it never got it: waiting again. Returns the ids found done."""
        found = []
        for load in self.book.loads(asn, (STARTED,)):
            hit = any(e["type"] == T_LOAD and e["ctc"] == load["counter"]
                      and e["amount"] == load["amount"] and e["terminal_id"].hex()
                      == load["terminal"] and e["datetime"].hex() == load["at"] for e in log)
            if hit or (counter is not None and counter > load["counter"]):
                self.finish_load(tx, asn, keys, load, None, "recovered from the card's %s" % (
                    "log" if hit else "online counter"), now)
                found.append(load["id"])
            elif counter is not None:
                tx(lambda load=load: ("started", "waiting again (the card never got it)",
                                      self.book.not_credited(load["id"])),
                   "card-load-retry", mask_card(asn))
        return found

    # -- lost, unblock, replace, PIN ------------------------------------------------------
    def _registered(self, asn, what):
        record = self.book.get(asn) if isinstance(asn, str) else None
        if record is None:
            raise DeskProblem("card_unknown", card=mask_card(asn))
        if record["kind"] == "anonymous":
            raise DeskProblem("card_anonymous", card=mask_card(asn), what=what)
        if record["status"] == "closed":
            raise DeskProblem("card_closed", card=mask_card(asn),
                              by=mask_card(record["replaced_by"]))
        return record

    def lost(self, tx, asn, now=None):
        """Report a registered card lost: hotlisted (every pump has it within a
        heartbeat). Returns the hotlist version."""
        if self._registered(asn, "reported lost")["status"] == "lost":
            raise DeskProblem("card_already_lost", card=mask_card(asn))

        def run():
            self.book.set_status(asn, "lost", now)
            version = self.ledger.hotlist_change(asn, True)
            return "active", "lost (hotlist version %d)" % version, version
        return tx(run, "card-lost", mask_card(asn))

    def unblock(self, tx, asn, id_last4):
        """A card reported lost and found again: off the hotlist, usable again."""
        record = self._registered(asn, "unblocked")
        if record["status"] != "lost":
            raise DeskProblem("card_not_lost", card=mask_card(asn))
        self._identity(record, id_last4)

        def run():
            self.book.set_status(asn, "active")
            version = self.ledger.hotlist_change(asn, False)
            return "lost", "active (hotlist version %d)" % version, version
        return tx(run, "card-unblock", mask_card(asn))

    @staticmethod
    def _identity(record, id_last4):
        if not isinstance(id_last4, str) or id_last4.strip().upper() != record["id_last4"]:
            raise DeskProblem("card_identity")

    def proven(self, asn):
        """(balance the station can prove for the card, what its open escapes owe)."""
        owed = self.ledger.cards.grey.owed(asn)
        return self.book.balance(asn) - owed, owed

    def _settle_by_bills(self, tx, record, now):
        """A load cut on a card that never came back: on the card if the card's newest
        bill (after the load) shows it, by the last bill's balance plus the loads since
        against the sum of the bills; else it waits on (and moves with) the account."""
        asn = record["asn"]
        started = self.book.loads(asn, (STARTED,))
        bill = self.book.last_bill(asn) if started else None
        if bill is None:
            return
        since = sum(load["amount"] for load in self.book.loads(asn, (DONE,))
                    if load_time(load) > bill[0])
        surplus = bill[1] + since - self.book.balance(asn)
        keys = self.card_keys(record, ("tac",))
        for load in started:
            if load_time(load) <= bill[0] and surplus >= load["amount"]:
                self.finish_load(tx, asn, keys, load, None, "recovered from the card's later "
                             "bills", now)
                surplus -= load["amount"]

    def replace(self, tx, reader, asn, pin, id_last4, now=None):
        """A new card (the blank in the reader) for a registered card reported lost at
        least replace_wait_s ago, carrying the balance the station can prove; the old
        account is closed; money waiting for it waits for the new card; its loyalty points
        and pending vouchers are the new card's (loyalty.carry). Returns (new card
        number, amount carried and moved, loaded onto it)."""
        record = self._registered(asn, "replaced")
        if record["status"] != "lost":
            raise DeskError("report card %s lost first: its replacement needs it on the "
                            "hotlist" % mask_card(asn))
        self._identity(record, id_last4)
        now = int(now or time.time())
        wait = self.book.setting("replace_wait_s")
        if now - record["lost_at"] < wait:
            raise DeskError("card %s was reported lost %d s ago: bills of it may still be "
                            "offline at a pump; replace it after %d s (replace_wait_s)"
                            % (mask_card(asn), now - record["lost_at"], wait))
        self._settle_by_bills(tx, record, now)
        amount, owed = self.proven(asn)
        new = self.issue(tx, reader, record["kind"], pin, now=now, replaces=asn,
                         holder=(record["name"], record["id_last4"], record["phone"]))

        def run():
            self.book.close(asn, new, amount, now)
            if amount > 0:
                self.book.fund(new, amount, "replacement", now)
            moved = self.book.move_waiting(asn, new)
            points, vouchers = self.ledger.loyalty.carry(asn, new, now)
            return "lost", "closed, %d carried to %s%s%s%s%s" % (
                amount, mask_card(new), ", %d waiting moved" % moved if moved else "",
                ", %d owed by open escapes" % owed if owed else "",
                ", %d loyalty points" % points if points else "",
                ", %d vouchers" % vouchers if vouchers else ""), moved
        moved = tx(run, "card-replace", mask_card(asn))
        amount += moved
        loaded = False
        if amount > 0:
            try:
                self.load(tx, reader, pin, now)
                loaded = True
            except DeskError:
                pass  # the money waits on the new card's account: card-load finishes it
        return new, amount, loaded

    def pin_reset(self, tx, reader, id_last4, pin):
        """A new PIN for the registered card in the reader, after the holder's identity
        check (the ID number's last 4): the station's PIN RESET under the card's load key.
        The PIN goes to the card only."""
        card, record = self._open(reader)
        asn = record["asn"]
        self._registered(asn, "given a new PIN")
        self._identity(record, id_last4)
        try:
            block = pin_block(pin)
        except CardError:
            raise DeskError("a PIN is 4 to 6 digits") from None
        issuer, masters = self._issuer(bytes.fromhex(record["issuer"]), ("load",))
        key = self._key(masters, "load", issuer, asn)
        try:
            card.pin_reset(block, cardcrypto.mac(cardcrypto.single(key),
                                                 block + bytes.fromhex(asn)))
        except CardError as e:
            raise DeskError("the PIN was not reset: %s" % why_of(e)) from None
        tx(lambda: ("(set)", "(set)", None), "card-pin-reset", mask_card(asn))

    # -- query ------------------------------------------------------------------------------
    def query(self, asn, reader=None):
        """A card's account, bills, balances and flags (cardquery.py)."""
        from .cardquery import query

        return query(self, asn, reader)

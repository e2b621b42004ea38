"""The journal's side of a delivery: AUTHORIZED before a valve may open, CHECKPOINTs
while fuel flows (every checkpoint_ml or checkpoint_ms, and at once and after every
further pulse while the power-fail warning is up), the exact count once the meter
settles, then FINAL (or ESCAPE). A journal the flash refuses closes the pump (`on_fail`,
app.Pump.close): no fuel flows that the journal cannot record.
"""
from . import log, meter
from . import record as rec
from .compat import const, ticks_diff, ticks_ms, ticks_us

# A checkpoint that renews its directory erases a block (journal.py): tens of ms that hold
# up the control loop, so it waits while a slow-down or close may fall due this soon
COMMIT_GUARD_MS = const(100)


class Recorder:
    def __init__(self, board, cfg, journal, core, on_fail):
        self.board = board
        self.cfg = cfg
        self.journal = journal
        self.core = core
        self.on_fail = on_fail  # called with why when the journal cannot be written
        self.failed = False
        self._cp_pulses = 0  # pulses in the last checkpoint
        self._cp_ms = 0
        self._cp_warned = False

    def _fail(self, e):
        self.failed = True
        self.on_fail("journal write failed (%s)" % e)

    def begin(self, bill):
        """The sale's AUTHORIZED record (write-ahead: before any valve can open, and for a
        card sale before the card is grey-locked). False: it could not be written."""
        bill["nozzle"] = self.cfg.nozzle
        try:
            sale = self.journal.begin(bill)
        except OSError as e:
            self._fail(e)
            return False
        self._cp_pulses = 0
        self._cp_ms = ticks_ms()
        self._cp_warned = False
        log.event("authorized", {"sale": sale, "grade": bill["grade"], "price": bill["price"],
                                 "mode": bill["mode"], "volume_ml": bill["preset_ml"],
                                 "amount": bill["preset_amount"]})
        return True

    def event(self, code, a=0, b=0):
        """A lock, an unlock, unauthorised flow: an event record in the journal."""
        try:
            self.journal.event(self.board.clock.time(), code, a, b)
        except OSError as e:
            self._fail(e)

    def _checkpoint(self, pulses, now, warned):
        ml = meter.ml_for_pulses(pulses, self.cfg.k_factor)
        try:
            self.journal.checkpoint(self.board.clock.time(), pulses, ml,
                                    rec.F_WARNED if warned else 0)
        except OSError as e:
            self._fail(e)
            return
        self._cp_pulses = pulses
        self._cp_ms = now
        self._cp_warned = warned

    def progress(self, count, now):
        """While fuel flows, at pulser count `count`: a checkpoint when one is due."""
        core = self.core
        cfg = self.cfg
        pulses = core.pulses(count)
        if self.board.power_fail.asserted():
            core.power_fail(now)
            if pulses != self._cp_pulses or not self._cp_warned:
                self._warned(pulses, now)
            return
        moved = pulses - self._cp_pulses
        if moved <= 0:
            return
        if (meter.ml_for_pulses(moved, cfg.k_factor) >= cfg.checkpoint_ml
                or ticks_diff(now, self._cp_ms) >= cfg.checkpoint_ms) and not (
                self.journal.checkpoint_renews() and core.near_stage(count, now,
                                                                     COMMIT_GUARD_MS)):
            self._checkpoint(pulses, now, False)

    def settled(self, delivery, now):
        """The dispenser settled the volume: checkpointed exactly (a cut while FINAL is
        written loses nothing). The flags for its FINAL, or None when the pump closed."""
        flags = rec.F_OVERRUN if delivery.overrun_ml else 0
        asserted = self.board.power_fail.asserted()
        warned = self._cp_warned or asserted
        if warned:
            flags |= rec.F_WARNED
        if asserted and (delivery.pulses != self._cp_pulses or not self._cp_warned):
            self._warned(delivery.pulses, now)  # the warning came as the meter settled
        elif delivery.pulses != self._cp_pulses:
            self._checkpoint(delivery.pulses, now, warned)
        else:
            return flags
        return None if self.failed else flags

    def _warned(self, pulses, now):
        """The power-fail warning's checkpoint, and how long its commit took."""
        started_us = ticks_us()
        self._checkpoint(pulses, now, True)
        log.event("power_warning", {"pulses": pulses, "commit_us":
                                    ticks_diff(ticks_us(), started_us)})

    def interrupted(self):
        """^C on the USB serial, outputs already off: with a sale in flight, its count
        checkpointed exactly once the meter is quiet (settle_ms), as on a power-fail
        warning; the next boot settles the sale."""
        if self.journal.open_sale is None:
            return
        pulser = self.board.pulser
        count = pulser.count()
        quiet_since = ticks_ms()
        while ticks_diff(ticks_ms(), quiet_since) < self.cfg.settle_ms:  # the valves closing
            latest = pulser.count()
            if latest != count:
                count, quiet_since = latest, ticks_ms()
        self._checkpoint(self.core.pulses(count), ticks_ms(), True)

    def finish(self, delivery, flags, card=None, rtype=rec.FINAL, off=0):
        """FINAL (or ESCAPE) of the open sale for the metered amount less `off` (a loyalty
        voucher's); its bill, or None when the journal could not be written."""
        journal = self.journal
        try:
            bill = journal.finish(self.board.clock.time(), delivery.pulses, delivery.ml,
                                  delivery.amount - off, delivery.stop, flags,
                                  delivery.overrun_ml, card, rtype)
        except OSError as e:
            self._fail(e)
            return None
        fields = delivery.as_dict()
        fields["sale"] = bill["sale"]
        fields["flags"] = flags
        fields["record"] = rec.TYPE_NAMES[rtype]
        fields["total_ml"] = journal.totals.volume_ml
        fields["total_amount"] = journal.totals.amount
        stats = getattr(self.board.flash, "stats", None)
        if stats:
            fields["flash"] = stats()
        log.event("delivery", fields)
        return bill


def open_journal(board, cfg):
    """Mount the flash, verify the journal and settle a sale a power cut left open.
    Returns (journal, storage.Paths)."""
    from . import storage
    from .journal import Journal

    paths, formatted = storage.mount(board.flash)
    journal = Journal(paths.journal, cfg.nozzle)
    for seq, why in journal.open():
        log.event("journal_corrupt", {"seq": seq, "why": why})
    if journal.identify() and (journal.records or journal.ack_seq or journal.open_sale):
        # a journal an older firmware wrote: its records go on under the new identity
        log.event("journal_identity", {"ident": journal.ident, "records": journal.records})
    recovered = journal.recover(board.clock.time())
    cut = journal.recover_load(board.clock.time())
    if cut is not None:
        log.event("load_cut", {"load": cut["load"], "amount": cut["amount"],
                               "recovered": True})
    totals = journal.totals
    report = {"formatted": formatted, "ident": journal.ident, "records": journal.records,
              "next_seq": journal.next_seq, "ack": journal.ack_seq,
              "corrupt": len(journal.corrupt), "unsynced": journal.unsynced,
              "unsynced_amount": journal.unsynced_amount, "total_ml": totals.volume_ml,
              "total_amount": totals.amount, "free_blocks": storage.free_blocks(paths.root)}
    if recovered is not None:
        report["recovered"] = {"sale": recovered["sale"], "pulses": recovered["pulses"],
                               "ml": recovered["ml"], "amount": recovered["amount"],
                               "flags": recovered["flags"]}
    log.event("journal", report)
    return journal, paths

"""The alert engine: rules the manager switches on and tunes (through the service layer,
audited), each alert stored in the station's alarms (journals.py, with its rule and
severity) and POSTed to a webhook when one is set.

Rules on the trade (off until a manager switches them on):
  large_sale          a sale (FINAL, ESCAPE) of at least `amount` (minor units)
  frequent_card       one card in at least `sales` sales within `minutes` (by the bills'
                      own times), or at two pumps within `overlap_s` of each other
  hotlisted_card      a card on the hotlist presented at a pump: its CARD_INFO (the card
                      on the station's hotlist, or the pump says it refused it for its
                      own list: `refused` "card_hotlisted"), at most once per card and
                      pump within `every_s`; and a sale stored whose card is on the
                      hotlist (the sales a pump's stale list let through, the UNLOCKs a
                      listed card still pays). An offline pump sends no CARD_INFO: its
                      refusal is not heard of
  wrong_pins          a terminal's event log reports `count` wrong service PINs in a row
                      (the keypad records "pin_wrong" from the 5th on; a card's wrong
                      PINs are the card's own business and are not reported)
  pump_offline        a pump not heard from for `minutes` (once per outage; the station's
                      timer checks every TICK_S)
  totalizer_mismatch  a shift closed with a nozzle whose totalizer moved other than its
                      records by more than `ml` (shifts.py)
Rules other modules raise through `raise_` (on until a manager switches them off):
  gauge_variance      a tank's month variance past `month_l` litres + `month_pct` % of
                      its throughput, or a day's past `day_l` + `day_pct` % of its sales
                      (tanks.py's reconciliation)
  low_tank            a tank below its low level or its pump-suction level (tanks.py)
  delivery_differs    a delivery that differs from its note by more than `permille` of it,
                      at least `floor_l` litres (tanks.py)
  gauge_off           the tank gauge off, timing out or answering garbage, `polls` polls
                      in a row (once per outage: gauge.py)
  gauge_alarm         an in-tank alarm the console raises anew (I205: gauge.py)
  tank_command_failed the suspend/resume of a tank's nozzles that could not be sent
  backup_failed       a backup that failed (service.py)
  new_journal         a terminal with a new journal identity (journals.py)
  conflict            a record whose key holds a different one (ledger.py)
  fleet_limit         a fleet card past its month (fleet.py)
  payment_notification_refused  a payment notification refused: a bad signature, an
                      unknown order (web/pay.py)
  payment_notification_contradicts_the_order  the gateway's word against the order:
                      another amount paid, a refund never asked for (web/pay.py)
  paid_order          a pump's REPLY or FINAL naming a paid order the orders refuse: not
                      this station's, settled otherwise (server.py)
A rule switched off stores nothing and sends nothing; the parts that raise them go on
(a gauge that is off never stops the pumps; a conflicting record is still kept).

The engine runs inside the ledger's store (`stored`: after each sale is stored, in its
transaction; the rules are read once per batch) and on the server's timer (`tick`). The
webhook never blocks: alerts go to a bounded queue a thread of its own POSTs, each tried
WEBHOOK_TRIES times with growing waits, then dropped with a log line. An alert is queued
when its alarm is written, inside the transaction that writes it: a transaction rolled
back afterwards (a batch refused by a failing disk) may have sent an alert the store does
not keep.
"""
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request

from .masking import mask_card
from .problems import Invalid
from .tanks import DELIVERY, VARIANCE

log = logging.getLogger("pumpside.station")

SCHEMA = (
    "ALTER TABLE alarms ADD COLUMN rule TEXT",
    "ALTER TABLE alarms ADD COLUMN severity TEXT",
    "CREATE TABLE IF NOT EXISTS alert_rules (rule TEXT PRIMARY KEY, "
    "enabled INTEGER NOT NULL, params TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS alert_state (rule TEXT NOT NULL, key TEXT NOT NULL, "
    "at INTEGER NOT NULL, PRIMARY KEY (rule, key))",
)
# rule -> (severity, on by default, default parameters)
RULES = {
    "large_sale": ("warning", False, {"amount": 100000}),
    "frequent_card": ("warning", False, {"sales": 5, "minutes": 30, "overlap_s": 120}),
    "hotlisted_card": ("critical", False, {"every_s": 60}),
    "wrong_pins": ("warning", False, {"count": 5}),
    "pump_offline": ("warning", False, {"minutes": 30}),
    "totalizer_mismatch": ("critical", False, {"ml": 0}),
    "gauge_variance": ("critical", True, VARIANCE),
    "low_tank": ("warning", True, {}),
    "delivery_differs": ("warning", True, DELIVERY),
    "gauge_off": ("critical", True, {"polls": 1}),
    "gauge_alarm": ("critical", True, {}),
    "tank_command_failed": ("critical", True, {}),
    "backup_failed": ("critical", True, {}),
    "new_journal": ("warning", True, {}),
    "conflict": ("critical", True, {}),
    "fleet_limit": ("warning", True, {}),  # fleet.py: a fleet card past its month
    # the payment desk's (web/pay.py, server.py); the rule names are the alarms' `what`
    "payment_notification_refused": ("critical", True, {}),
    "payment_notification_contradicts_the_order": ("critical", True, {}),
    "paid_order": ("critical", True, {}),
}
PUMP_HOTLISTED = "card_hotlisted"  # CARD_INFO's `refused`: on the pump's hotlist (sale.py)
WEBHOOK = "webhook"  # the alert_rules row holding the webhook's URL (params "url")
TICK_S = 30
WEBHOOK_TRIES = 5
WEBHOOK_WAITS_S = (1, 4, 15, 60)  # before each try after the first
WEBHOOK_TIMEOUT_S = 5
WEBHOOK_QUEUE = 1000
PARAM_MAX = 10 ** 12


class Alerts:
    def __init__(self, db, journals, pumps=None):
        self.db = db
        self.journals = journals
        self.pumps = pumps  # Ledger.pumps (pump_offline)
        self.webhook = Webhook()
        journals.listen(self._alarmed)
        journals.alert = self.raise_  # its new_journal alarms: a rule like any other
        self._rules = None  # the rules as read for the batch being stored

    # -- rules ---------------------------------------------------------------------------
    def rules(self):
        """{rule: {"enabled", "params", "severity"}} of every rule, defaults filled in."""
        have = {rule: (bool(on), json.loads(params)) for rule, on, params in self.db.execute(
            "SELECT rule, enabled, params FROM alert_rules")}
        out = {}
        for rule, (severity, on, params) in RULES.items():
            enabled, given = have.get(rule, (on, {}))
            out[rule] = {"enabled": enabled, "params": dict(params, **given),
                         "severity": severity}
        return out

    def set_rule(self, rule, enabled, params=None):
        """Switch a rule on or off and tune its parameters (ValueError: unknown rule or
        parameter, or a value that is not a whole number 0..10^12: nothing set). Returns
        (old, new) as {"enabled", "params"}."""
        if rule not in RULES:
            raise ValueError("no alert rule %r (rules: %s)" % (rule, ", ".join(RULES)))
        defaults = RULES[rule][2]
        for name, value in (params or {}).items():
            if name not in defaults:
                raise ValueError("rule %s has no parameter %r (%s)" % (
                    rule, name, ", ".join(defaults) or "none"))
            if not isinstance(value, int) or isinstance(value, bool) \
                    or not 0 <= value <= PARAM_MAX:
                raise Invalid("alert_param", name=name, rule=rule, high=PARAM_MAX)
        old = self.rules()[rule]
        new = {"enabled": bool(enabled), "params": dict(old["params"], **(params or {}))}
        self.db.execute("INSERT OR REPLACE INTO alert_rules VALUES (?, ?, ?)",
                        (rule, int(new["enabled"]), json.dumps(new["params"],
                                                               sort_keys=True)))
        return {"enabled": old["enabled"], "params": old["params"]}, new

    def params(self, rule):
        """A rule's parameters as tuned (the defaults filled in): what another part reads
        its thresholds from (tanks.py)."""
        return self.rules()[rule]["params"]

    def webhook_url(self):
        row = self.db.execute("SELECT params FROM alert_rules WHERE rule = ?",
                              (WEBHOOK,)).fetchone()
        return json.loads(row[0]).get("url", "") if row else ""

    def set_webhook(self, url):
        """The URL alerts are POSTed to ("": none). Returns the one before."""
        if url and (not isinstance(url, str) or not url.startswith(("http://", "https://"))
                    or len(url) > 500 or not url.isprintable()):
            raise Invalid("webhook_url")
        old = self.webhook_url()
        self.db.execute("INSERT OR REPLACE INTO alert_rules VALUES (?, 1, ?)",
                        (WEBHOOK, json.dumps({"url": url or ""})))
        return old

    # -- raising -------------------------------------------------------------------------
    def hook(self, rule_of):
        """An alarm(source, what, why) for a part that names its own alarms (tanks.py):
        each goes through the rule `rule_of` gives its `what` (else `what` as a rule name),
        keeping its `what`."""
        def alarm(source, what, why):
            return self.raise_(rule_of.get(what, what.replace(" ", "_")), source, why,
                               what=what)
        return alarm

    def raise_(self, rule, terminal, why, key=None, rules=None, every=None, at=None,
               what=None):
        """An alert of `rule` about `terminal` ("" for the station), stored if the rule is
        on and, with a `key`, not raised for that key already (with `every`: not within
        `every` seconds of `at` before): the hook other modules call. Returns whether it
        was stored."""
        rules = rules or self.rules()
        severity = RULES.get(rule, ("warning",))[0]
        if rule in rules and not rules[rule]["enabled"]:
            return False
        if key is not None:
            at = int(time.time()) if at is None else at
            row = self.db.execute("SELECT at FROM alert_state WHERE rule = ? AND key = ?",
                                  (rule, str(key))).fetchone()
            if row is not None and (every is None or abs(at - row[0]) < every):
                return False
            self.db.execute("INSERT OR REPLACE INTO alert_state VALUES (?, ?, ?)",
                            (rule, str(key), at))
        self.journals.raise_alarm(terminal or "", what or rule.replace("_", " "), why,
                                  rule=rule, severity=severity)
        return True

    def _alarmed(self, alarm):
        """Every alarm stored (journals.py's listener): to the webhook, if one is set."""
        url = self.webhook_url()
        if url:
            self.webhook.post(url, alarm)

    # -- hooks of the ingest ---------------------------------------------------------------
    def batch(self):
        """A batch begins: the rules read once for it (None when every sale rule is off:
        `stored` then costs nothing)."""
        rules = self.rules()
        on = any(rules[r]["enabled"] for r in ("large_sale", "frequent_card",
                                               "hotlisted_card"))
        self._rules = rules if on else None
        return self._rules

    def stored(self, terminal, record, kind):
        """A sale record just stored for the first time (inside the ledger's
        transaction)."""
        rules = self._rules
        if rules is None:
            return
        sold = kind in ("FINAL", "ESCAPE")
        amount = record.get("amount", 0)
        rule = rules["large_sale"]
        if sold and rule["enabled"] and amount >= rule["params"]["amount"]:
            self.raise_("large_sale", terminal, "sale %s of %d.%02d (%s, %d ml) at or above "
                        "%d.%02d" % (record.get("sale"), amount // 100, amount % 100,
                                     kind, record.get("ml", 0),
                                     rule["params"]["amount"] // 100,
                                     rule["params"]["amount"] % 100), rules=rules)
        asn = record.get("asn")
        if not asn:
            return
        if rules["hotlisted_card"]["enabled"] and self.db.execute(
                "SELECT 1 FROM hotlist WHERE asn = ?", (asn,)).fetchone():
            self.raise_("hotlisted_card", terminal, "card %s is on the hotlist: %s of sale "
                        "%s" % (mask_card(asn), kind, record.get("sale")), rules=rules)
        rule = rules["frequent_card"]
        at = record.get("time", 0)
        if sold and rule["enabled"] and at:
            p = rule["params"]
            window = p["minutes"] * 60
            n = self.db.execute("SELECT COUNT(*) FROM sales WHERE asn = ? AND at > ? AND "
                                "at <= ? AND kind IN ('FINAL', 'ESCAPE')",
                                (asn, at - window, at)).fetchone()[0]
            if n >= p["sales"]:
                self.raise_("frequent_card", terminal, "card %s: %d sales within %d min"
                            % (mask_card(asn), n, p["minutes"]), rules=rules,
                            key=asn, every=window, at=at)
            other = self.db.execute(
                "SELECT terminal FROM sales WHERE asn = ? AND at >= ? AND at <= ? AND "
                "terminal != ? AND kind IN ('FINAL', 'ESCAPE') LIMIT 1",
                (asn, at - p["overlap_s"], at + p["overlap_s"], terminal)).fetchone()
            if other:
                self.raise_("frequent_card", terminal, "card %s at two pumps at once: %s "
                            "and %s within %d s" % (mask_card(asn), other[0], terminal,
                                                    p["overlap_s"]), rules=rules,
                            key=asn + ":two", every=max(window, p["overlap_s"]), at=at)

    def presented(self, terminal, asn, refused=None, now=None):
        """A card read at a pump (its CARD_INFO: cardinfo.SEEN runs `card_seen`), `refused`
        the pump's reason if it refuses it: `hotlisted_card` when the card is on the
        station's hotlist or the pump refused it for its own. Returns whether an alert was
        stored."""
        rule = self.rules()["hotlisted_card"]
        if not rule["enabled"]:
            return False
        listed = self.db.execute("SELECT 1 FROM hotlist WHERE asn = ?",
                                 (asn,)).fetchone() is not None
        if not listed and refused != PUMP_HOTLISTED:
            return False
        said = refused if isinstance(refused, str) and len(refused) <= 40 \
            and refused.isprintable() else None
        why = "card %s presented at the pump: %s%s" % (
            mask_card(asn), "on the hotlist" if listed else "not on the station's hotlist",
            ", refused (%s)" % said if said else ", the pump did not say it refused it")
        return self.raise_("hotlisted_card", terminal, why, key="%s:%s" % (terminal, asn),
                           every=rule["params"]["every_s"], at=now)

    def events(self, terminal, items, held_before):
        """Event-log records a terminal sent, those after `held_before` now held."""
        rule = self.rules()["wrong_pins"]
        if not rule["enabled"]:
            return
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("n"), int) \
                    or item["n"] <= held_before or item.get("what") != "pin_wrong":
                continue
            count = item.get("new")
            if isinstance(count, int) and count >= rule["params"]["count"]:
                self.raise_("wrong_pins", terminal, "%d wrong service PINs in a row"
                            % count, key="%s:%s" % (terminal, item["n"]))

    def shift_closed(self, shift):
        """A shift's report (shifts.py): its nozzles whose totalizers do not match."""
        rule = self.rules()["totalizer_mismatch"]
        if not rule["enabled"]:
            return
        for n in shift["nozzles"]:
            if abs(n["diff_ml"]) > rule["params"]["ml"] or n["diff_amount"]:
                self.raise_("totalizer_mismatch", n["terminal"], "shift %d nozzle %s: the "
                            "totalizer moved %d ml %d, the records %d ml %d" % (
                                shift["id"], n["nozzle"], n["moved_ml"], n["moved_amount"],
                                n["metered_ml"], n["metered_amount"]))

    def tick(self, now=None):
        """The timer: pumps offline for long (one alert per outage: keyed by when the pump
        was last heard from)."""
        rule = self.rules()["pump_offline"]
        if not rule["enabled"] or self.pumps is None:
            return
        now = int(time.time()) if now is None else now
        limit = rule["params"]["minutes"] * 60
        for pump in self.pumps(now):
            if pump["seen"] is not None and not pump["online"] \
                    and now - pump["seen"] >= limit:
                self.raise_("pump_offline", pump["terminal"], "not heard from for %d min "
                            "(since %s)" % ((now - pump["seen"]) // 60, time.strftime(
                                "%Y-%m-%d %H:%M:%S", time.localtime(pump["seen"]))),
                            key="%s:%d" % (pump["terminal"], pump["seen"]))


def card_seen(ledger, terminal, payload):
    """cardinfo.SEEN: a card read at a pump, to the alert engine (hotlisted_card)."""
    ledger.alerts.presented(terminal, payload["asn"], payload.get("refused"))


class Webhook:
    """POSTs alerts as JSON, off the caller's thread: a bounded queue, one worker thread
    (started at the first alert), each alert tried `tries` times, waiting `waits`."""

    def __init__(self, tries=WEBHOOK_TRIES, waits=WEBHOOK_WAITS_S, timeout=WEBHOOK_TIMEOUT_S):
        self.tries = tries
        self.waits = waits
        self.timeout = timeout
        self.queue = queue.Queue(WEBHOOK_QUEUE)
        self.thread = None
        self.sent = 0
        self.dropped = 0

    def post(self, url, alarm):
        """Queue an alert (never blocks: a full queue drops it, logged)."""
        try:
            self.queue.put_nowait((url, json.dumps(alarm, sort_keys=True).encode()))
        except queue.Full:
            self.dropped += 1
            log.error("webhook: queue full, alert dropped: %s", alarm.get("what"))
            return
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="alert-webhook",
                                           daemon=True)
            self.thread.start()

    def _run(self):
        while True:
            url, body = self.queue.get()
            for attempt in range(self.tries):
                if attempt:
                    time.sleep(self.waits[min(attempt - 1, len(self.waits) - 1)])
                try:
                    request = urllib.request.Request(url, body, method="POST", headers={
                        "Content-Type": "application/json", "User-Agent": "pumpside"})
                    with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                        answer.read()
                    self.sent += 1
                    break
                except (urllib.error.URLError, OSError, ValueError) as e:
                    log.warning("webhook: try %d of %d failed: %s", attempt + 1, self.tries,
                                getattr(e, "reason", e))
            else:
                self.dropped += 1
                log.error("webhook: alert dropped after %d tries", self.tries)
            self.queue.task_done()

"""The service layer's till calls (a part of service.Service): the cashier's postpay and
prepay, the change owed, and the manager's "refuse the next sale" setting (till.py does
the work). Each change checks the role first and is audited in its own transaction
(service._tx) with what it changed; a second tab's act on a sale or an order already
dealt with is refused (till.TillProblem) and writes nothing.

A pump the till holds is suspended and resumed by the existing commands (service.command)
as the operator SYSTEM_TILL, audited like an operator's, in the same transaction as the
act that made it due (a sale stored, paid, or the setting switched).
"""
import time

from .payments import config as pay_config
from .payments.orders import Orders
from .payments.service import new_order_no
from .till import TILL_KINDS, TillProblem

SYSTEM_TILL = "system:till"  # the operator the till's suspend/resume act as
PUMP_MAX = 99
# the till calls that change the store, by the permission each needs (service.ROLE_OF)
TILL_MUTATORS = {"till_pay": "till", "till_prepay": "till", "till_change": "till",
                 "set_till_refuse_next": "params"}


def _amount(minor):
    return "%d.%02d" % (minor // 100, minor % 100)


class TillCalls:
    """Mixed into service.Service: uses its check(), _tx(), command() and ledger."""

    def _orders(self):
        return Orders(self.db)

    # -- reads -----------------------------------------------------------------------------
    def till(self, actor):
        """The till's page: the unpaid attended sales, the till orders' change owed, the
        setting, and the setting form's version (the audit id of its last change)."""
        self.check(actor, "till")
        return {"unpaid": self.ledger.till.unpaid(),
                "change": self._orders().change_owed(),
                "refuse_next": self.ledger.till.refuse_next(),
                "held": self.ledger.till.held(),
                "version": self.trail.last("till-setting")}

    # -- postpay ---------------------------------------------------------------------------
    def till_pay(self, actor, sale_id, kind, now=None):
        """The cashier took `kind` (TILL_KINDS) for unpaid sale `sale_id` (the till's
        list: the ledger's row id); the pump the till held for it is resumed when none
        of its sales is unpaid any more. Returns the sale."""
        self.check(actor, "till")

        def run():
            sale = self.ledger.till.take(sale_id, kind, now)
            self._till_due(sale["terminal"])
            return "unpaid", "%s %s" % (kind, _amount(sale["amount"])), dict(sale, pay=kind)
        sale = self.ledger.till.sale(sale_id) if isinstance(sale_id, int) else None
        return self._tx(actor)(run, "till-pay", "%s sale %s" % (
            sale["terminal"], sale["sale"]) if sale else "sale %s" % sale_id)

    def till_arrived(self, terminal):
        """The station's loop, after it stored a terminal's sales: hold the pump (the
        setting on, a sale of it unpaid) or let it go. Returns the command sent, if any.
        Nothing to do (the common case: the setting off, no pump held) is one read, no
        transaction."""
        if self.ledger.till.due(terminal) is None:
            return None
        with self.ledger.transaction():
            return self._till_due(terminal)

    def _till_due(self, terminal):
        """suspend or resume `terminal` as the till needs now (till.Till.due), inside the
        caller's transaction; the command is the service's own (audited)."""
        from .service import Actor

        cmd = self.ledger.till.due(terminal)
        if cmd is None:
            return None
        if cmd == "suspend":
            self.ledger.till.hold(terminal)
        else:
            self.ledger.till.release(terminal)
        self.command(Actor(SYSTEM_TILL, "manager"), terminal, cmd)
        return cmd

    def set_till_refuse_next(self, actor, on):
        """Refuse the next sale on a pump with an unpaid one (True) or not; each pump is
        held or let go as that makes due. Returns what it was."""
        self.check(actor, "params")
        if not isinstance(on, bool):
            raise TillProblem("till_setting")

        def run():
            was = self.ledger.till.set_refuse_next(on)
            for terminal in self.ledger.terminals():
                self._till_due(terminal)
            return "on" if was else "off", "on" if on else "off", was
        return self._tx(actor)(run, "till-setting", "refuse the next sale while one is "
                               "unpaid")

    # -- prepay ----------------------------------------------------------------------------
    def till_prepay(self, actor, terminal, pump, amount, kind, now=None):
        """The cashier took `amount` (minor units) in `kind` for pump `pump` of
        `terminal`: a till order, paid at once (no gateway: orders.py); the link sends
        it to the pump as any paid order (AUTHORIZE with the pump's next heartbeat
        answer: server.py, payments/service.py authorizations). Returns the order."""
        self.check(actor, "till")
        if terminal not in self.ledger.terminals():
            raise TillProblem("unknown_terminal", terminal=terminal)
        if not isinstance(pump, int) or not 1 <= pump <= PUMP_MAX:
            raise TillProblem("till_pump", high=PUMP_MAX)
        if kind not in TILL_KINDS:
            raise TillProblem("till_kind", choices=", ".join(TILL_KINDS))
        settings = pay_config.windows(self.ledger.path)  # with or without a gateway
        if not isinstance(amount, int) or not 1 <= amount <= settings["amount_max"]:
            raise TillProblem("till_amount", high=_amount(settings["amount_max"]))
        now = time.time() if now is None else now
        orders = self._orders()
        orders.now = lambda: now

        def run():
            if orders.open_on(terminal, pump, now):
                raise TillProblem("till_pump_busy", terminal=terminal, pump=pump)
            order_no = new_order_no(now)
            orders.create(order_no, terminal, pump, "amount", amount, now, source="till",
                          kind=kind)
            orders.paid(order_no, amount, "till:" + actor.name,
                        now + settings["use_window_s"])
            self.ledger.till.move("prepay", kind, amount, order_no, now)
            return "", "%s %s on pump %s/%s" % (kind, _amount(amount), terminal, pump), \
                order_no
        order_no = self._tx(actor)(run, "till-prepay", "%s pump %s" % (terminal, pump))
        return orders.get(order_no)

    def till_change(self, actor, order_no):
        """The cashier handed over a till order's change owed (what it paid less what
        the pump sold on it): it leaves the list. Returns the amount."""
        self.check(actor, "till")
        orders = self._orders()

        def run():
            order = orders.get(order_no) if isinstance(order_no, str) else None
            if order is None or order["source"] != "till" or order["refund"] is None:
                raise TillProblem("till_no_change", order=str(order_no)[:40])
            if order["refunded"] == order["refund"]:
                raise TillProblem("till_change_given", order=order_no)
            orders.refund_confirmed(order_no, order["refund"])
            self.ledger.till.move("change", order["kind"], order["refund"], order_no)
            return "owed %s" % _amount(order["refund"]), "handed over", order["refund"]
        return self._tx(actor)(run, "till-change", "order %s" % str(order_no)[:40])

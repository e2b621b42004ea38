"""Why the station refused a call, as a stable code and its parameters: the command line
prints the English text (MESSAGES), the back office says it in the operator's language
(web/i18n.py holds the same codes in Chinese). A code, once given, keeps its meaning and
its parameters' names; a new reason gets a new code.

Invalid is a ValueError (bad input: nothing was changed); the service layer's Refused
(a role that may not) is one of these too (service.py).
"""

MESSAGES = {
    # the role check (service.Refused)
    "no_actor": "no acting operator",
    "refused": "operator {name} ({role}) may not {what}: that needs {needs}",
    "unknown_operator": "operator {name} is unknown or disabled",
    # logging in (operators.LoginRefused) and the back office's session
    "login_wrong": "wrong name or password",
    "login_wait": "too many wrong passwords: try again in {wait} s",
    "login_disabled": "operator {name} is disabled",
    "login_needed": "name and password are needed",
    "csrf": "the form's CSRF token is missing or stale: reload the page and try again",
    "not_logged_in": "not logged in",
    # the back office's form fields
    "field_missing": "{field} is missing",
    "field_number": "{field} must be a whole number",
    "field_range": "{field} must be from {low} to {high}",
    "field_date": "{field} must be a date YYYY-MM-DD",
    "field_card": "card: a 16-digit card number or its last 4 digits",
    "field_choice": "{field} must be one of {choices}",
    "field_decimal": "{field} must be a number",
    "field_decimals": "{field}: too many decimals",
    "field_bounds": "{field} is out of range",
    "unknown_change": "unknown change {what}",
    "alert_rule": "no alert rule {rule}",
    "stale_form": "the {what} changed since this form was loaded (version {seen}, now "
                  "{now}): nothing was set; check and set again",
    # what the station holds
    "unknown_terminal": "no terminal {terminal} registered",
    "grade": "a grade code is 1-8 characters",
    "no_price": "no price for grade {grade}: set one first",
    "price": "price must be a positive integer (1/1000 currency per litre)",
    "price_time": "the time is Unix seconds",
    "price_waits": "a price change waits for {at}: give this one --at {at} too",
    "nozzle": "a nozzle is 1-99",
    "command": "command must be one of {choices}",
    "card": "a card number is 16 digits",
    "listed": "card {card} is on the hotlist already",
    "not_listed": "card {card} is not on the hotlist",
    "no_params": "no parameter given",
    "param_refused": "{name}: not settable by the station (legal, secret, the grade/price "
                     "or the link's own)",
    "param_unknown": "{name}: no such parameter",
    "param_value": "config {name}: {why}",
    "terminal_id": "a terminal id is 1-16 printable characters (config terminal_id)",
    "terminal_key": "a terminal key is 32 bytes",
    "operator_name": "an operator name is 1-64 printable characters, no leading or "
                     "trailing space, not starting with 'local:'",
    "role": "a role is one of {choices}",
    "password": "a password is at least {length} characters",
    "operator_exists": "operator {name} exists",
    "no_operator": "no operator {name}",
    "last_administrator": "{name} is the last enabled administrator: make another first",
    "unknown_alarm": "no station alarm {id}",
    "alarm_acked": "station alarm {id} was acknowledged already (by {who})",
    "price_past": "the time {at} has passed: give a time to come, or none (the next sale)",
    "field_datetime": "{field} must be a date and time YYYY-MM-DD HH:MM",
    "no_shift": "no shift {id}",
    # the reports' periods (reports.py BadPeriod)
    "period_date": "{what} must be YYYY-MM-DD, not {value}",
    "period_month": "a month must be YYYY-MM, not {value}",
    "period_year": "a year must be YYYY, not {value}",
    "period_range": "the range ends ({to}) before it starts ({start})",
    "period_kind": "a period is one of {choices}, not {kind}",
    # the tanks (tanks.py TankProblem)
    "tank_levels": "levels: pump suction <= low < capacity (litres)",
    "no_tank": "no tank {tank}",
    "tank_unmapped": "{terminal} nozzle {nozzle} is not in the nozzle map (map it first)",
    "tank_grade": "{terminal} nozzle {nozzle} sells {sells}, tank {tank} holds {grade}",
    "supplier": "supplier: 1-64 characters",
    # the alert rules (alerts.py)
    "webhook_url": "a webhook URL is http:// or https://, printable, at most 500 characters",
    "alert_param": "{name} of {rule} must be a whole number from 0 to {high}",
    # the card desk (carddesk.py DeskProblem)
    "card_unknown": "no card {card} issued here",
    "card_is_lost": "card {card} is reported lost: unblock it first (card-unblock) or "
                    "replace it",
    "card_closed": "card {card} is closed (replaced by {by})",
    "card_anonymous": "card {card} is anonymous: nobody can prove it is theirs, so it "
                      "cannot be {what} (its money is the bearer's)",
    "card_already_lost": "card {card} is already reported lost",
    "card_not_lost": "card {card} is not reported lost",
    "card_identity": "identity check failed: the ID number's last 4 characters do not "
                     "match the holder's",
    # loyalty (loyalty.py)
    "loyalty_number": "{what} must be a whole number from {low} to {high}",
    "loyalty_rule": "a loyalty rule is one of {choices}",
    "loyalty_kind": "a card kind is 1-16 letters or digits",
    "loyalty_day": "a double-points day is a date YYYY-MM-DD or a weekday mon-sun",
    "loyalty_reward_name": "a reward's name is 1-40 printable characters",
    "loyalty_reward_kind": "a reward is one of {choices}",
    "loyalty_no_reward": "no reward {id}",
    "loyalty_reward_off": "reward {id} is withdrawn",
    "loyalty_card_state": "the card is {state}: its points cannot be spent",
    "loyalty_short": "the card has {have} points, the reward costs {cost}",
    "loyalty_redemption_id": "a redemption id is 1-64 letters, digits or _.:-",
    "loyalty_redemption_other": "redemption {id} was made for another card or reward",
    "loyalty_no_redemption": "no redemption {id}",
    "loyalty_not_pending": "redemption {id} is {state}, not pending",
    # the till (till.py, tilldesk.py)
    "till_kind": "a payment at the till is one of {choices}",
    "till_no_sale": "no sale {id} waits for payment",
    "till_paid": "sale {id} was paid already ({kind}): nothing was taken again",
    "till_setting": "the setting is on or off",
    "till_pump": "a pump is 1-{high}",
    "till_amount": "a prepaid amount is 0.01 to {high}",
    "till_pump_busy": "pump {terminal}/{pump} holds another order: wait until it is done",
    "till_no_change": "no change is owed on order {order}",
    "till_change_given": "the change of order {order} was handed over already",
}

# what the back office says after a change it made (web/i18n.py: NOTES_ZH, the same codes)
NOTES = {
    "fleet_done": "fleet: {what} done",
    "price_set": "price of {grade} set to {price} (version {version})",
    "price_scheduled": "price of {grade} will be {price} from {at} (version {version})",
    "command_queued": "command {id} queued",
    "operator_add": "operator {name} added",
    "operator_role": "operator {name} is now {role}",
    "operator_disable": "operator {name} disabled",
    "operator_enable": "operator {name} enabled",
    "operator_password": "password of {name} set",
    "hotlist_add": "card {card} added to the hotlist (version {version})",
    "hotlist_remove": "card {card} removed from the hotlist (version {version})",
    "param_set": "{name} = {value} (parameters version {version})",
    "nozzle_mapped": "{terminal} nozzle {nozzle}: {grade} (price version {version})",
    "alarm_ack": "station alarm {id} acknowledged",
    "alert_rule_set": "alert rule {rule}: {state}",
    "webhook_set": "webhook {url}",
    "webhook_removed": "webhook removed",
    "shift_closed": "shift {id} closed",
    "tank_saved": "tank {tank} saved",
    "tank_feeds": "tank {tank} feeds {terminal} nozzle {nozzle}",
    "delivery_recorded": "delivery {id} recorded",
    "delivery_flagged": "delivery {id} recorded (FLAGGED: {flag})",
    "dip_recorded": "dip of tank {tank}: {ml} ml",
    "card_funded": "card {card}: {amount} waits for the card's next visit to the desk",
    "card_lost": "card {card} reported lost",
    "card_unblocked": "card {card} unblocked",
    # a card's account (cardquery.py): where the card's own balance comes from, its flags
    "balance_unknown": "unknown",
    "balance_read": "read from the card now",
    "balance_last": "the card's last bill or load (at {at})",
    "balance_issued": "issued empty, no bill or load since",
    "card_differs_offline": "the card says {card}, its bills {bills}: bills may still be "
                            "offline at a pump",
    "card_differs_upload": "the card says {card}, its bills {bills}: a newer bill may not "
                           "be uploaded yet",
    "load_cut": "a load was cut: insert the card at the desk to finish it",
    "tac_unverified": "{count} sale bill(s) with an unverified TAC",
    "load_tac_bad": "a load's TAC does not verify",
    "closed_leaves": "closed, yet its bills leave {balance} (a bill that came after it was "
                     "replaced)",
    "loyalty_rule_set": "loyalty rule {rule} {key} set",
    "loyalty_reward_added": "reward {id} added",
    "loyalty_redeemed": "redeemed: voucher {id}, the card has {balance} points left",
    "loyalty_cancelled": "voucher {id} cancelled, its points returned",
    "till_taken": "sale {sale} of {terminal}: {amount} taken ({kind})",
    "till_prepaid": "pump {terminal}/{pump} prepaid {amount} ({kind}): order {order}",
    "till_change": "change {amount} of order {order} handed over",
    "till_setting": "refuse the next sale on a pump with an unpaid one: {state}",
}


class Problem(Exception):
    """A refusal with a stable `code` and its `params` (str(): the English text)."""

    def __init__(self, code, **params):
        self.code = code
        self.params = params
        super().__init__(MESSAGES[code].format(**params))


class Invalid(Problem, ValueError):
    """Bad input: nothing was changed."""


class Note:
    """What a change did, as a stable `code` and its `params` (str(): the English text)."""

    def __init__(self, code, **params):
        self.code = code
        self.params = params

    def __str__(self):
        return NOTES[self.code].format(**self.params)

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

"""The station's days: local days of the station's time zone (the process's TZ), the one
notion of a day the reports (reports.py), the tanks' reconciliation (tanks.py) and the
pages that pick a day or a month use. A local day is not always 86,400 s: a day that
daylight saving starts or ends is 23 or 25 hours, so a day's end is the next day's
midnight, never its start + 86,400."""
import time


def local(year, month, day, hour=0, minute=0, second=0):
    """Unix seconds of a local date and time (a wall clock of the station's zone, as the
    tank gauge's console reports it: gauge.py); past the ends rolls over like midnight's.
    A time daylight saving skips or repeats is taken as the C library's mktime takes it."""
    return int(time.mktime((year, month, day, hour, minute, second, 0, 0, -1)))


def midnight(year, month, day):
    """Unix seconds of the local midnight starting that day (a day past the month's end
    rolls over: (2026, 12, 32) is 2027-01-01)."""
    return local(year, month, day)


def day_of(at):
    """The local day 'YYYY-MM-DD' that Unix second `at` falls in."""
    return time.strftime("%Y-%m-%d", time.localtime(at))


def bounds(day):
    """[start, end) in Unix seconds of local day 'YYYY-MM-DD' (ValueError: not a date)."""
    parsed = time.strptime(day, "%Y-%m-%d")
    y, m, d = parsed.tm_year, parsed.tm_mon, parsed.tm_mday
    return midnight(y, m, d), midnight(y, m, d + 1)

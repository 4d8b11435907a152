"""Working days: weekends, the public holidays and the decreed transfers of `rules`."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dms.approvals.rules import FIXED_HOLIDAYS, TRANSFERRED_DAYS_OFF, WORKING_WEEKENDS

MOSCOW = ZoneInfo("Europe/Moscow")


def is_working_day(day: date) -> bool:
    if day in WORKING_WEEKENDS:
        return True
    if day in TRANSFERRED_DAYS_OFF or (day.month, day.day) in FIXED_HOLIDAYS:
        return False
    return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (the day itself does not count)."""
    day, left = start, max(days, 0)
    while left:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def due_at(started: datetime, days: int) -> datetime:
    """End of the working day (18:00 Moscow time) `days` working days after `started`."""
    local = started.astimezone(MOSCOW).date()
    return datetime.combine(add_working_days(local, days), time(18, 0), MOSCOW)


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 if end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count

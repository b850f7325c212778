"""The legal clock: GDPR Art. 12(3) counted under Regulation (EEC, Euratom) 1182/71 Art. 3. Pure, no I/O.

- Receipt is an instant; its date is the controller-local date (Europe/Oslo by default), so a
  request at 23:59 Oslo time belongs to that day whatever UTC says, across DST changes too.
- The day of receipt is not counted; a period of months ends on the same date in the last
  month, or that month's last day when the date does not exist there (31 Jan -> 28/29 Feb).
- A last day on a Saturday, Sunday or official public holiday of the controller's country rolls
  forward to the next working day (Art. 3(4)). 24 and 31 December are working days.
- Extension (Art. 12(3)): receipt + 3 months by the same rules; the notice is due within the
  first month, so "extension notice due" equals the original due date.
- Pauses (identity information asked for and outstanding) move both dates by their length in
  whole days before the roll-forward.
"""
from __future__ import annotations

import calendar
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import holidays

DEFAULT_TZ = "Europe/Oslo"
DEFAULT_COUNTRY = "NO"


@dataclass(frozen=True)
class Pause:
    started_at: datetime  # tz-aware
    ended_at: datetime | None  # None = still open


@dataclass(frozen=True)
class Deadlines:
    received_on: date
    due_on: date
    extension_notice_due_on: date
    extended_due_on: date
    paused_days: int


@lru_cache(maxsize=64)
def _zone(tz: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {tz!r}") from None


def local_date(instant: datetime, tz: str = DEFAULT_TZ) -> date:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the instant has no UTC offset; receipt times must be unambiguous")
    return instant.astimezone(_zone(tz)).date()


def add_months(day: date, months: int) -> date:
    """Same date `months` later, or that month's last day when the date does not exist (Art. 3(2)(c))."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=512)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    try:
        calendar_ = holidays.country_holidays(country, years=year)
    except NotImplementedError:
        raise ValueError(f"unknown country {country!r} for public holidays") from None
    return frozenset(calendar_.keys())


def is_working_day(day: date, country: str = DEFAULT_COUNTRY) -> bool:
    return day.weekday() < 5 and day not in _public_holidays(country, day.year)


def next_working_day(day: date, country: str = DEFAULT_COUNTRY) -> date:
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return day


def paused_days(pauses: Iterable[Pause], *, now: datetime, tz: str = DEFAULT_TZ) -> int:
    """Whole days paused: controller-local calendar days from each pause's start date to its end
    date (an open pause runs to `now`); a pause within one day adds 0; overlaps count once."""
    spans = sorted(
        (local_date(p.started_at, tz), local_date(p.ended_at or now, tz)) for p in pauses
    )
    total, current_start, current_end = 0, None, None
    for start, end in spans:
        if end < start:
            continue
        if current_end is None or start > current_end:
            if current_end is not None:
                total += (current_end - current_start).days
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += (current_end - current_start).days
    return total


def compute_deadlines(received_at: datetime, *, tz: str = DEFAULT_TZ, country: str = DEFAULT_COUNTRY,
                      pauses: Iterable[Pause] = (), now: datetime | None = None) -> Deadlines:
    received_on = local_date(received_at, tz)
    pauses = list(pauses)
    shift = paused_days(pauses, now=now or datetime.now(UTC), tz=tz) if pauses else 0
    due_on = next_working_day(add_months(received_on, 1) + timedelta(days=shift), country)
    extended_due_on = next_working_day(add_months(received_on, 3) + timedelta(days=shift), country)
    return Deadlines(received_on=received_on, due_on=due_on, extension_notice_due_on=due_on,
                     extended_due_on=extended_due_on, paused_days=shift)


def days_left(due_on: date, today: date) -> int:
    """0 on the due day, negative when overdue."""
    return (due_on - today).days


def can_extend(deadlines: Deadlines, today: date) -> bool:
    """The extension notice must reach the subject within the first month (Art. 12(3))."""
    return today <= deadlines.extension_notice_due_on


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant WITH an offset or Z, e.g. 2026-01-31T10:00:00+01:00."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise ValueError("give the time of receipt, e.g. 2026-01-31T10:00:00+01:00")
    try:
        instant = datetime.fromisoformat(cleaned.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time, e.g. 2026-01-31T10:00:00+01:00") from None
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. +01:00 or Z")
    return instant

"""The legal clock: GDPR Art. 12(3) counted under Regulation (EEC, Euratom) 1182/71 Art. 3. Pure, no I/O.

- Receipt is an instant; its date is the controller-local date (Europe/Oslo by default), so a request
  at 23:59 Oslo time belongs to that day whatever UTC says, on daylight-saving nights too.
- The day of receipt is not counted: a period of months ends on the same date in the last month, or
  on that month's last day when the date does not exist there (31 Jan -> 28/29 Feb), Art. 3(2)(c).
- A last day on a Saturday, Sunday or official public holiday of the controller's country rolls
  forward to the next working day, Art. 3(4). 24 and 31 December are working days in Norway.
- Extension, Art. 12(3): by one or two further months, counted from receipt by the same rules
  (receipt + 2 or 3 months, not due date + months); the notice must reach the subject within the
  first month, so it is due on the original due date.
- Pauses (identity information asked for and outstanding, a fee charged under Art. 12(5) and not yet
  paid) move both dates by whole days, added before the roll-forward.
- A controller may promise less than the month (`answer_within_days`, e.g. 30): the due date is then the
  earlier of receipt + those days (a period of days under Art. 3(3), rolled forward the same way, pauses
  added) and the legal month. The extension stays the law's: receipt + 2 or 3 months, as without it.
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
MAX_EXTENSION_MONTHS = 2  # "by two further months" (Art. 12(3)): the most, and the default
_EXAMPLE = "e.g. 2026-01-31T10:00:00+01:00 or 2026-01-31T09:00:00Z"


@dataclass(frozen=True)
class Pause:
    started_at: datetime  # tz-aware
    ended_at: datetime | None  # None = still open


@dataclass(frozen=True)
class Deadlines:
    received_on: date  # controller-local date of receipt
    due_on: date  # one month (or the controller's shorter promise), pauses added, rolled forward
    extension_notice_due_on: date  # the end of the law's month (== due_on unless a promise is earlier)
    extended_due_on: date  # one month + the extension's months, pauses added, rolled forward
    paused_days: int
    legal_due_on: date  # the law's month, pauses added, rolled forward (== due_on without a promise)
    promised_days: int | None = None  # the controller's promise, when it makes the due date earlier

    @property
    def promise_binds(self) -> bool:
        """The controller's promise, not the law's month, sets the due date."""
        return self.promised_days is not None


@lru_cache(maxsize=64)
def _zone(tz: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown timezone {tz!r} (use an IANA name such as Europe/Oslo)") from None


def local_date(instant: datetime, tz: str = DEFAULT_TZ) -> date:
    # A naive time could be read in any zone and give a different date, so it is refused.
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no UTC offset, so its local date is ambiguous")
    return instant.astimezone(_zone(tz)).date()


def add_months(day: date, months: int) -> date:
    """Same date `months` later, or that month's last day when the date does not exist (Art. 3(2)(c))."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


@lru_cache(maxsize=1024)  # the queue computes many dates; building a calendar is the slow part
def _public_holidays(country: str, year: int) -> frozenset[date]:
    try:
        found = holidays.country_holidays(country, years=year)
    except NotImplementedError:
        raise ValueError(f"unknown country {country!r} for public holidays (use a code such as NO)") from None
    # Some calendars (Norway in older holidays releases, Sweden still) also list every Sunday. That
    # is harmless: weekends are non-working in is_working_day whatever the calendar says.
    return frozenset(found)


def is_working_day(day: date, country: str = DEFAULT_COUNTRY) -> bool:
    public = _public_holidays(country, day.year)  # looked up first so an unknown country always fails
    return day.weekday() < 5 and day not in public


def next_working_day(day: date, country: str = DEFAULT_COUNTRY) -> date:
    """`day` itself if it is a working day, else the first working day after it (Art. 3(4))."""
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return day


def paused_days(pauses: Iterable[Pause], *, now: datetime, tz: str = DEFAULT_TZ) -> int:
    """Whole days the clock stood still.

    A pause counts the controller-local calendar days from its start date to its end date (an open
    pause runs to `now`), i.e. the local midnights it spans: a pause within one day adds 0, Monday
    afternoon to Thursday morning adds 3. Overlapping pauses are merged so no day counts twice; a
    pause ending before it starts (or an open one starting after `now`) adds nothing.
    """
    spans = sorted((local_date(p.started_at, tz), local_date(p.ended_at or now, tz)) for p in pauses)
    total, run_start, run_end = 0, None, None
    for start, end in spans:
        if end <= start:
            continue
        if run_end is not None and start <= run_end:  # overlaps or touches the current run
            run_end = max(run_end, end)
            continue
        if run_end is not None:
            total += (run_end - run_start).days
        run_start, run_end = start, end
    if run_end is not None:
        total += (run_end - run_start).days
    return total


def compute_deadlines(received_at: datetime, *, tz: str = DEFAULT_TZ, country: str = DEFAULT_COUNTRY,
                      pauses: Iterable[Pause] = (), now: datetime | None = None,
                      extension_months: int = MAX_EXTENSION_MONTHS, promised_days: int | None = None) -> Deadlines:
    if extension_months not in range(1, MAX_EXTENSION_MONTHS + 1):
        raise ValueError(f"an extension is 1 to {MAX_EXTENSION_MONTHS} months, not {extension_months}")
    if promised_days is not None and promised_days < 1:
        raise ValueError(f"a promise to answer is at least one day, not {promised_days}")
    received_on = local_date(received_at, tz)
    shift = paused_days(pauses, now=datetime.now(UTC) if now is None else now, tz=tz)
    # A pause lengthens the period itself and Art. 3(4) applies to the period's last day, so pause
    # days go onto the unrolled date (rolling first and adding after could end on a holiday).
    legal_due_on = next_working_day(add_months(received_on, 1) + timedelta(days=shift), country)
    due_on, binding_promise = legal_due_on, None
    if promised_days is not None:
        promised_on = next_working_day(received_on + timedelta(days=promised_days + shift), country)
        if promised_on < legal_due_on:
            due_on, binding_promise = promised_on, promised_days
    extended_due_on = next_working_day(add_months(received_on, 1 + extension_months) + timedelta(days=shift), country)
    return Deadlines(received_on=received_on, due_on=due_on, extension_notice_due_on=legal_due_on,
                     extended_due_on=extended_due_on, paused_days=shift, legal_due_on=legal_due_on,
                     promised_days=binding_promise)


def days_left(due_on: date, today: date) -> int:
    """0 on the due day, negative when overdue."""
    return (due_on - today).days


def can_extend(deadlines: Deadlines, today: date) -> bool:
    """The extension notice must reach the subject within the first month (Art. 12(3))."""
    return today <= deadlines.extension_notice_due_on


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant WITH an offset or Z; anything else is refused with a message for a person."""
    cleaned = text.strip() if isinstance(text, str) else ""
    if not cleaned:
        raise ValueError(f"give the time of receipt as an ISO 8601 date and time with an offset, {_EXAMPLE}")
    if cleaned.endswith("z"):  # RFC 3339 allows a lower-case z; fromisoformat does not
        cleaned = cleaned[:-1] + "Z"
    try:
        instant = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time, {_EXAMPLE}") from None
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset, so its date is ambiguous; add one, {_EXAMPLE}")
    return instant

"""The legal clock (Reg. 1182/71 Art. 3, Norwegian public holidays, Europe/Oslo): table tests and properties.

Every expected date was checked against a printed calendar and the holidays package.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsr.deadlines.rules import (
    Pause,
    add_months,
    can_extend,
    compute_deadlines,
    days_left,
    is_working_day,
    next_working_day,
    parse_instant,
    paused_days,
)


@pytest.mark.parametrize(("received", "due", "why"), [
    ("2026-11-24T10:00:00+01:00", "2026-12-24", "24 December is a working day"),
    ("2026-08-05T10:00:00+02:00", "2026-09-07", "5 Sep 2026 is a Saturday -> Monday"),
    ("2025-01-31T10:00:00+01:00", "2025-02-28", "31 Jan -> last day of February"),
    ("2024-01-31T10:00:00+01:00", "2024-02-29", "leap year: 29 February"),
    ("2026-03-31T10:00:00+02:00", "2026-04-30", "31 Mar -> 30 Apr"),
    ("2024-02-29T10:00:00+01:00", "2024-04-02", "29 Mar 2024 Good Friday, then weekend and Easter Monday"),
    ("2026-03-02T10:00:00+01:00", "2026-04-07", "2 Apr 2026 Maundy Thursday ... Easter Monday 6 Apr"),
    ("2026-03-03T10:00:00+01:00", "2026-04-07", "3 Apr 2026 Good Friday"),
    ("2027-04-17T10:00:00+02:00", "2027-05-18", "17 May 2027 (Monday) is Constitution Day"),
    ("2026-04-14T10:00:00+02:00", "2026-05-15", "14 May 2026 is Ascension Day"),
    ("2026-04-25T10:00:00+02:00", "2026-05-26", "25 May 2026 is Whit Monday"),
    ("2026-11-25T10:00:00+01:00", "2026-12-28", "25 Dec Christmas, 26 Dec Saturday, 27 Sunday"),
    ("2027-11-26T10:00:00+01:00", "2027-12-27", "26 Dec 2027 Sunday (and a holiday) -> Monday 27"),
    ("2026-11-30T10:00:00+01:00", "2026-12-30", "30 Dec is an ordinary working day"),
    ("2026-12-31T10:00:00+01:00", "2027-02-01", "31 Jan 2027 is a Sunday"),
    ("2026-12-01T10:00:00+01:00", "2027-01-04", "1 Jan 2027 holiday (Friday), then the weekend"),
    ("2026-12-16T10:00:00+01:00", "2027-01-18", "16 Jan 2027 Saturday -> Monday"),
])
def test_one_month_from_receipt(received, due, why):
    assert compute_deadlines(parse_instant(received)).due_on == date.fromisoformat(due), why


@pytest.mark.parametrize(("received", "received_on", "due"), [
    ("2026-03-04T22:59:00Z", "2026-03-04", "2026-04-07"),  # 23:59 in Oslo: still 4 March
    ("2026-03-04T23:01:00Z", "2026-03-05", "2026-04-07"),  # 00:01 in Oslo: 5 March (-> Easter Sunday)
    ("2026-06-10T21:59:00Z", "2026-06-10", "2026-07-10"),  # summer time: UTC+2
    ("2026-06-10T22:01:00Z", "2026-06-11", "2026-07-13"),  # 11 July 2026 is a Saturday
])
def test_receipt_date_is_the_oslo_date_not_the_utc_date(received, received_on, due):
    deadlines = compute_deadlines(parse_instant(received))
    assert deadlines.received_on == date.fromisoformat(received_on)
    assert deadlines.due_on == date.fromisoformat(due)


@pytest.mark.parametrize("received", [
    "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T03:30:00+02:00",  # spring forward
    "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00+01:00",  # fall back
])
def test_daylight_saving_nights_do_not_shift_dates(received):
    deadlines = compute_deadlines(parse_instant(received))
    assert deadlines.received_on.day in (29, 25)
    assert deadlines.due_on in (date(2026, 4, 29), date(2026, 11, 25))


def test_extension_is_three_months_from_receipt_by_the_same_rules():
    deadlines = compute_deadlines(parse_instant("2027-02-17T10:00:00+01:00"))
    assert deadlines.due_on == date(2027, 3, 17)
    assert deadlines.extended_due_on == date(2027, 5, 18)  # 17 May 2027 is a holiday (Monday)
    assert deadlines.extension_notice_due_on == deadlines.due_on
    end_of_month = compute_deadlines(parse_instant("2025-11-30T12:00:00+01:00"))
    assert end_of_month.extended_due_on == date(2026, 3, 2)  # 28 Feb 2026 is a Saturday


def test_extension_only_within_the_first_month():
    deadlines = compute_deadlines(parse_instant("2026-08-05T10:00:00+02:00"))
    assert can_extend(deadlines, date(2026, 9, 7))  # on the due day
    assert not can_extend(deadlines, date(2026, 9, 8))


OSLO = timezone(timedelta(hours=1))


def test_a_pause_moves_the_date_by_whole_days_before_rolling_forward():
    received = datetime(2026, 11, 2, 10, tzinfo=OSLO)  # due 2 Dec 2026 (Wednesday)
    assert compute_deadlines(received).due_on == date(2026, 12, 2)
    pause = Pause(datetime(2026, 11, 5, 9, tzinfo=OSLO), datetime(2026, 11, 8, 15, tzinfo=OSLO))
    deadlines = compute_deadlines(received, pauses=[pause])
    assert deadlines.paused_days == 3
    assert deadlines.due_on == date(2026, 12, 7)  # 2 Dec + 3 = Saturday 5 Dec -> Monday 7 Dec
    assert deadlines.extended_due_on == date(2027, 2, 5)  # 2 Feb + 3


def test_pause_day_counting():
    day = lambda d, h=12: datetime(2026, 11, d, h, tzinfo=OSLO)  # noqa: E731
    now = day(20)
    assert paused_days([Pause(day(5, 9), day(5, 17))], now=now) == 0  # the same day
    assert paused_days([Pause(day(5), None)], now=now) == 15  # still open: counts to now
    assert paused_days([Pause(day(1), day(6)), Pause(day(4), day(10))], now=now) == 9  # overlap counted once
    assert paused_days([Pause(day(1), day(3)), Pause(day(5), day(6))], now=now) == 3


def test_days_left():
    assert days_left(date(2026, 12, 2), date(2026, 12, 2)) == 0
    assert days_left(date(2026, 12, 2), date(2026, 12, 5)) == -3


def test_public_holidays_are_the_official_ones_only():
    assert not is_working_day(date(2026, 5, 17)) and not is_working_day(date(2026, 12, 25))
    assert is_working_day(date(2026, 12, 24)) and is_working_day(date(2026, 12, 31))
    assert next_working_day(date(2026, 4, 2)) == date(2026, 4, 7)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-01-31", "2026-01-31T10:00:00", "31.01.2026 10:00"])
def test_unreadable_or_ambiguous_receipt_times_are_refused_clearly(text):
    with pytest.raises(ValueError, match="ISO 8601|offset|time of receipt"):
        parse_instant(text)


def test_unknown_timezone_or_country_is_refused():
    with pytest.raises(ValueError, match="unknown timezone"):
        compute_deadlines(parse_instant("2026-01-05T10:00:00Z"), tz="Europe/Osloo")
    with pytest.raises(ValueError, match="unknown country"):
        compute_deadlines(parse_instant("2026-01-05T10:00:00Z"), country="XX")


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)),
                                                   timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]))


@settings(max_examples=300, deadline=None)
@given(instants)
def test_the_due_date_is_always_a_working_day_between_28_and_37_days_out(received):
    deadlines = compute_deadlines(received)
    assert is_working_day(deadlines.due_on) and is_working_day(deadlines.extended_due_on)
    # A month is 28-31 days; the longest roll-forward is Maundy Thursday .. Easter Monday (+5 days),
    # and a month ending in late February reaches at most 31 + 5 = 36 days.
    assert 28 <= (deadlines.due_on - deadlines.received_on).days <= 36
    assert deadlines.extended_due_on > deadlines.due_on


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(min_value=1, max_value=400 * 24 * 60))
def test_a_later_receipt_never_gets_an_earlier_due_date(received, minutes_later):
    later = received + timedelta(minutes=minutes_later)
    assert compute_deadlines(later).due_on >= compute_deadlines(received).due_on
    assert compute_deadlines(later).extended_due_on >= compute_deadlines(received).extended_due_on


@settings(max_examples=200, deadline=None)
@given(instants, st.integers(min_value=0, max_value=60))
def test_a_pause_never_makes_the_date_earlier(received, length):
    start = received + timedelta(days=2)
    pause = Pause(start, start + timedelta(days=length))
    assert compute_deadlines(received, pauses=[pause], now=start).due_on >= compute_deadlines(received).due_on


def test_add_months_clamps_to_the_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)

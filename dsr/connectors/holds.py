"""Legal holds: a ground to keep records after an erasure request (Art. 17(3)(b)), and until when.

Declared per system as `[[systems.holds]]` (key, ground, ground_nb and one of
`years_after_financial_year_end` with `financial_year_end`, `years`, `days` or `indefinite`); the sql
kind applies them per table and field, the http kind per collection (`hold`, `hold_date_field`).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dsr.connectors import declaration
from dsr.connectors.base import DeclarationError


@dataclass(frozen=True)
class Hold:
    """A legal ground to keep rows after an erasure request, and until when."""

    key: str
    ground: str
    ground_nb: str | None = None
    years_after_financial_year_end: int | None = None
    years: int | None = None
    days: int | None = None
    financial_year_end: tuple[int, int] = (12, 31)
    #: kept as long as the record exists (e.g. a company record shared with other people): no end date
    indefinite: bool = False

    def retain_until(self, dated: date) -> date | None:
        """Bokføringsloven § 13: a 2024-03-10 invoice (year ending 31 Dec) is kept until 2029-12-31.
        None: no end date (an indefinite hold)."""
        if self.indefinite:
            return None
        if self.years_after_financial_year_end is not None:
            month, day = self.financial_year_end
            year_end = date(dated.year, month, min(day, calendar.monthrange(dated.year, month)[1]))
            if year_end < dated:
                year_end = date(dated.year + 1, month, min(day, calendar.monthrange(dated.year + 1, month)[1]))
            target = year_end.year + self.years_after_financial_year_end
            return date(target, month, min(day, calendar.monthrange(target, month)[1]))
        if self.years is not None:
            target = dated.year + self.years
            return date(target, dated.month, min(dated.day, calendar.monthrange(target, dated.month)[1]))
        return dated + timedelta(days=self.days or 0)


def read_holds(settings: dict[str, Any]) -> dict[str, Hold]:
    """`[[systems.holds]]` by key; DeclarationError names the key."""
    holds: dict[str, Hold] = {}
    for index, entry in enumerate(declaration.need_list_of_tables(settings, "holds", optional=True)):
        holds_key = f"holds[{index}]."
        key = declaration.need_identifier(entry, "key", prefix=holds_key)
        if key in holds:
            raise DeclarationError(holds_key + "key", f"hold {key!r} is declared twice")
        rules = [name for name in ("years_after_financial_year_end", "years", "days", "indefinite") if name in entry]
        if len(rules) != 1:
            raise DeclarationError(holds_key + "years_after_financial_year_end",
                                   "give exactly one of years_after_financial_year_end, years, days or indefinite")
        amount = entry[rules[0]]
        if rules[0] == "indefinite":
            if amount is not True:
                raise DeclarationError(holds_key + "indefinite", "must be true (or leave it out)")
        elif isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise DeclarationError(holds_key + rules[0], "must be a whole number of at least 0")
        year_end = entry.get("financial_year_end", "12-31")
        try:
            month, day = (int(part) for part in str(year_end).split("-"))
            date(2001, month, day)
        except ValueError:
            raise DeclarationError(holds_key + "financial_year_end", "must be MM-DD, e.g. 12-31") from None
        holds[key] = Hold(key=key, ground=declaration.need_str(entry, "ground", prefix=holds_key),
                          ground_nb=declaration.need_str(entry, "ground_nb", prefix=holds_key, optional=True),
                          financial_year_end=(month, day), **{rules[0]: amount})
    return holds

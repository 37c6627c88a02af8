"""Which backup sets to keep: the newest set of each of the last N days, weeks and months.

A pure function over set timestamps (UTC), so it is tested over a simulated year. The
rules are independent and their picks are united: with 7/4/12 a set kept as one of the
7 daily sets may also be the set kept for its week or month. The newest set is always
kept. Pruning every day or once a year keeps the same sets, because the newest set of
a past day, week or month never changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Callable

PERIODS: dict[str, Callable[[dt.datetime], tuple]] = {
    "daily": lambda moment: (moment.year, moment.month, moment.day),
    "weekly": lambda moment: tuple(moment.isocalendar())[:2],  # ISO year and week
    "monthly": lambda moment: (moment.year, moment.month),
}


def keep(
    moments: Iterable[dt.datetime], daily: int = 7, weekly: int = 4, monthly: int = 12
) -> set[dt.datetime]:
    newest_first = sorted(set(moments), reverse=True)
    kept = set(newest_first[:1])
    for rule, count in (("daily", daily), ("weekly", weekly), ("monthly", monthly)):
        period = PERIODS[rule]
        seen: set[tuple] = set()
        for moment in newest_first:
            if len(seen) >= count:
                break
            key = period(moment)
            if key not in seen:  # the first seen is the newest of its period
                seen.add(key)
                kept.add(moment)
    return kept


def expired(
    moments: Iterable[dt.datetime], daily: int = 7, weekly: int = 4, monthly: int = 12
) -> list[dt.datetime]:
    """The sets to delete, oldest first."""
    moments = list(moments)
    kept = keep(moments, daily, weekly, monthly)
    return sorted(moment for moment in set(moments) if moment not in kept)

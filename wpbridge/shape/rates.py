"""Rates, durations and sending windows, and the arithmetic behind them. Pure: no clock, no
database; times are passed in (epoch seconds, or naive UTC datetimes for windows).

A limit is written ``"N/period"``: ``"14/s"``, ``"600/min"``, ``"1000/hour"``,
``"50000/day"``, or with a count of units, ``"100/15min"``. How it is enforced depends on
the period:

* **Short periods (up to a minute): GCRA without burst.** Sends are spaced
  ``interval = (period + jitter) / N`` apart, one slot per recipient, so that no window of
  ``period`` seconds ever holds more than N sends even when each send reaches the provider up
  to ``jitter`` seconds after its slot (timer wake-up, scheduling, the SMTP round trips).
  The state is one number per limit, the theoretical arrival time (TAT) of the next slot.
* **Long periods (over a minute): counting windows.** Sends are counted in buckets of
  1/60 of the period (up to an hour) or 1/24 (longer); a send may go when the buckets that
  overlap the last ``period`` seconds hold fewer than N. The buckets cover a little more
  than the period, so no rolling window ever exceeds N; the cost is at most one bucket of
  waiting too long. Long periods are what providers bill and suspend for (SES: 200/day in
  the sandbox), so they must hold over any rolling window, not per calendar hour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNITS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
SHORT_PERIOD = 60.0  # up to this many seconds: GCRA; longer: counting windows

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$", re.I)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.I)


class RateError(ValueError):
    """A rate, duration or window is written in a way the bridge cannot read."""


@dataclass(frozen=True)
class Rate:
    count: int
    period: float  # seconds
    text: str  # as written, normalised ("50/s")

    @property
    def short(self) -> bool:
        return self.period <= SHORT_PERIOD

    def interval(self, jitter: float) -> float:
        """GCRA emission interval: the spacing of sends (see the module docstring)."""
        return (self.period + jitter) / self.count

    @property
    def bucket(self) -> float:
        """Bucket size of a counting window."""
        return self.period / 60 if self.period <= 3600 else self.period / 24

    def scaled(self, factor: float) -> "Rate":
        """This rate times ``factor`` (at least 1 per period)."""
        count = max(1, int(self.count * factor))
        return Rate(count, self.period, f"{count}/{self.text.split('/', 1)[1]}")

    def __str__(self) -> str:
        return self.text


def parse_rate(text: str) -> Rate:
    """``"50/s"`` -> Rate(50, 1.0); :raise RateError: with the accepted forms."""
    m = _RATE.match(str(text))
    if not m or m.group(3).lower() not in UNITS or int(m.group(1)) <= 0:
        raise RateError(f"{text!r} is not a rate; write N/unit with unit s, min, hour or day, "
                        "e.g. \"14/s\", \"600/min\", \"50000/day\" or \"100/15min\"")
    count, many, unit = int(m.group(1)), int(m.group(2) or 1), m.group(3).lower()
    if many <= 0:
        raise RateError(f"{text!r}: the period must be longer than zero")
    short = {1: "s", 60: "min", 3600: "hour", 86400: "day"}[UNITS[unit]]
    return Rate(count, float(many * UNITS[unit]), f"{count}/{many if many > 1 else ''}{short}")


def parse_rates(values) -> tuple[Rate, ...]:
    """A list of rates (or one rate as a string)."""
    if values is None:
        return ()
    if isinstance(values, (str, Rate)):
        values = [values]
    return tuple(v if isinstance(v, Rate) else parse_rate(v) for v in values)


def parse_duration(value) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise RateError(f"{value!r}: a duration cannot be negative")
        return float(value)
    m = _DURATION.match(str(value))
    unit = (m.group(2).lower() or "s") if m else ""
    if not m or unit not in UNITS:
        raise RateError(f"{value!r} is not a duration; write seconds or e.g. \"90s\", \"15m\", "
                        "\"2h\", \"1d\"")
    return float(m.group(1)) * UNITS[unit]


# -- GCRA --------------------------------------------------------------------------------

def gcra_slot(tat: float, now: float, units: int, interval: float) -> tuple[float, float]:
    """Reserve ``units`` consecutive slots: returns (send time, new TAT).

    The send goes at the first of its slots, ``max(tat, now)``, and the next send waits
    ``units * interval`` after it. With no burst allowance, an idle limit does not bank
    slots: the next send after a pause goes at once, the one after it ``interval`` later.
    """
    at = max(tat, now)
    return at, at + units * interval


# -- counting windows --------------------------------------------------------------------

def bucket_of(now: float, size: float) -> int:
    """The start (epoch seconds) of the bucket ``now`` falls in."""
    return int(now // size * size)


def window_wait(buckets: dict[int, int], now: float, rate: Rate, units: int) -> float | None:
    """When ``units`` more sends fit the rate, given the counts per bucket start.

    Returns None when they fit now, else the epoch second at which enough old buckets have
    left the window. A single transaction with more recipients than the whole rate is let
    through an empty window (it could never go otherwise).
    """
    size = rate.bucket
    live = sorted((start, n) for start, n in buckets.items() if start + size > now - rate.period and n)
    used = sum(n for _, n in live)
    if used + units <= rate.count or used == 0:
        return None
    for start, n in live:
        used -= n
        if used + units <= rate.count or used == 0:
            return start + size + rate.period
    return now + rate.period  # unreachable: the loop empties the window


# -- sending windows ---------------------------------------------------------------------

@dataclass(frozen=True)
class SendingWindow:
    """Local times of day between which bulk mail may go, e.g. 08:00-20:00 in Europe/Berlin.
    ``start > end`` crosses midnight (22:00-06:00)."""

    start: time
    end: time
    zone: ZoneInfo
    text: str

    def opens_at(self, now: datetime) -> datetime | None:
        """None if the window is open at ``now`` (naive UTC); else when it next opens (naive
        UTC). Daylight-saving changes are the zone's: the window follows local clock time."""
        local = now.replace(tzinfo=timezone.utc).astimezone(self.zone)
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= t < self.end
        else:
            inside = t >= self.start or t < self.end
        if inside:
            return None
        day = local.date() if t < self.start else local.date() + timedelta(days=1)
        opening = datetime.combine(day, self.start, tzinfo=self.zone)
        # A start time that does not exist that day (DST gap) is normalised by the UTC trip.
        return opening.astimezone(timezone.utc).replace(tzinfo=None)


_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(text: str, zone: str = "UTC") -> SendingWindow:
    """``"08:00-20:00"`` in ``zone`` (an IANA name such as ``"Europe/Berlin"``)."""
    m = _WINDOW.match(str(text))
    if not m:
        raise RateError(f"{text!r} is not a sending window; write HH:MM-HH:MM, e.g. \"08:00-20:00\"")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise RateError(f"{text!r}: hours run 00-23 and minutes 00-59")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RateError(f"{zone!r} is not a time zone; use an IANA name such as \"Europe/Berlin\"") from None
    start, end = time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)
    if start == end:
        raise RateError(f"{text!r}: the window is empty; leave bulk_window out to send all day")
    return SendingWindow(start, end, tz, f"{text.strip()} {zone}")

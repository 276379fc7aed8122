"""What shaping is told: limits per provider and destination, reactions, warm-up schedules,
bulk sending windows, failover and reputation thresholds. Built once from the settings;
pure.

Destinations are recipient domains grouped by who runs their mail (``status.metrics``:
Gmail and Google-hosted consumer domains are ``gmail``, Outlook/Hotmail/Live are
``microsoft``, Yahoo/AOL are ``yahoo``); any other domain is a destination of its own.
Destination limits hold per sending provider, because mailbox providers count per sending
IP and each provider sends from its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from wpbridge.shape.rates import Rate, RateError, SendingWindow, parse_duration, parse_rates, parse_window
from wpbridge.shape.rules import Rule, build_rules
from wpbridge.status.metrics import domain_group
from wpbridge.errors import SettingsError

# Shipped destination limits, per sending provider. Through an ESP they rarely bind; they
# keep a small bridge from pushing a whole newsletter at one mailbox provider in seconds.
# [shaping.destinations] changes them (an empty list removes one).
DESTINATION_DEFAULTS: Mapping[str, tuple[str, ...]] = {
    "gmail": ("50/s", "2000/min"),
    "microsoft": ("20/s", "1000/min"),
    "yahoo": ("20/s", "1000/min"),
}

WARMUP_FIRST_DAY = 50  # default schedule: 50 on day 1, doubling until the target


def destination_of(domain: str) -> tuple[str, str]:
    """(destination, group): the group for the big mailbox providers, else the domain."""
    domain = domain.lower().rstrip(".")
    group = domain_group(domain)
    return (group if group != "other" else domain), group


@dataclass(frozen=True)
class ProviderLimits:
    rates: tuple[Rate, ...] = ()
    connections: int | None = None  # concurrent connections across all workers
    messages_per_connection: int | None = None


@dataclass(frozen=True)
class Warmup:
    """Daily caps for bulk mail of one sending domain while its reputation is built."""

    domain: str
    schedule: tuple[int, ...]  # the cap on day 1, 2, ...; none after the last day
    providers: frozenset[str] = frozenset()  # empty: through every provider
    start: date | None = None  # day 1; default: the day of the first bulk send

    def cap(self, day: int) -> int | None:
        return self.schedule[day - 1] if 1 <= day <= len(self.schedule) else None

    def applies(self, provider: str) -> bool:
        return not self.providers or provider in self.providers


def warmup_schedule(target: int, first: int = WARMUP_FIRST_DAY) -> tuple[int, ...]:
    """``first`` on day 1, doubling each day while below ``target``."""
    caps, cap = [], first
    while cap < target:
        caps.append(cap)
        cap *= 2
    return tuple(caps)


@dataclass(frozen=True)
class ShapingConfig:
    providers: Mapping[str, ProviderLimits] = field(default_factory=dict)
    destinations: Mapping[str, tuple[Rate, ...]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    warmup: Mapping[str, Warmup] = field(default_factory=dict)  # sending domain -> schedule
    windows: Mapping[str, SendingWindow] = field(default_factory=dict)  # site name -> bulk window
    # GCRA margin: sends may reach the provider this long after their slot (see rates.py).
    jitter: float = 0.1
    # Slots are reserved this far ahead; what cannot go within it waits in the queue.
    horizon: float = 1.0
    # How stale a worker's copy of holds, provider health and bulk pauses may get.
    refresh: float = 2.0
    failover_threshold: int = 3  # provider failures ...
    failover_window: float = 60.0  # ... within this many seconds mark it down
    failover_backoff: float = 30.0  # first down period; doubles after each failed probe
    failover_backoff_max: float = 600.0
    bounce_rate: float = 0.08  # bulk bounce rate over the last hour that pauses bulk
    complaint_rate: float = 0.003
    bounce_min_volume: int = 100  # bulk recipients decided (delivered + bounced) before it counts
    complaint_min_volume: int = 1000  # bulk recipients delivered before it counts
    guard_interval: float = 30.0  # a site's rates are re-read at most this often
    guard_recheck: float = 60.0  # paused bulk mail is looked at again after this long

    def provider(self, name: str) -> ProviderLimits:
        return self.providers.get(name) or ProviderLimits()

    def destination(self, address: str) -> str:
        """Whose destination limits a recipient falls under: its group (gmail, ...), its
        domain if that has limits of its own, else "other" (all the rest, together)."""
        destination, group = destination_of(address.rpartition("@")[2])
        return destination if group != "other" or destination in self.destinations else "other"

    @classmethod
    def from_settings(cls, settings) -> "ShapingConfig":
        """Read the shaping settings (each optional).

        :raise SettingsError: a rate, rule, window or schedule is malformed; the message
            names the setting.
        """

        try:
            return cls._build(settings)
        except RateError as exc:
            raise SettingsError(str(exc)) from None

    @classmethod
    def _build(cls, settings) -> "ShapingConfig":
        get = lambda name, default: getattr(settings, name, default)  # noqa: E731
        rates = get("provider_rates", {}) or {}
        conns = get("provider_connections", {}) or {}
        per_conn = get("provider_messages_per_connection", {}) or {}
        providers = {}
        for name, p in (get("providers", {}) or {}).items():
            providers[name] = ProviderLimits(
                _where(f"providers.{name}.rates", parse_rates, getattr(p, "rates", None) or rates.get(name)),
                _positive(getattr(p, "connections", None) or conns.get(name), f"providers.{name}.connections"),
                _positive(getattr(p, "messages_per_connection", None) or per_conn.get(name),
                          f"providers.{name}.messages_per_connection"))
        for name in set(rates) | set(conns) | set(per_conn):
            providers.setdefault(name, ProviderLimits(
                _where(f"providers.{name}.rates", parse_rates, rates.get(name)),
                _positive(conns.get(name), f"providers.{name}.connections"),
                _positive(per_conn.get(name), f"providers.{name}.messages_per_connection")))
        destinations = {name: parse_rates(r) for name, r in DESTINATION_DEFAULTS.items()}
        for name, r in (get("destination_rates", {}) or {}).items():
            destinations[name.lower()] = _where(f"shaping.destinations.{name}", parse_rates, r)
        warmup = {}
        for domain, table in (get("warmup", {}) or {}).items():
            warmup[domain.lower()] = _warmup(domain.lower(), table)
        windows = {}
        for site, table in (get("site_sending", {}) or {}).items():
            if table.get("bulk_window"):
                windows[site] = _where(f"sites.{site}.sending.bulk_window",
                                       lambda v: parse_window(v, table.get("timezone") or "UTC"),
                                       table["bulk_window"])
        numbers = {}
        for name, setting, kind in _NUMBERS:
            value = get(setting, None)
            if value is not None:
                numbers[name] = _where(setting, parse_duration if kind == "duration" else kind, value)
        return cls(providers=providers, destinations=destinations,
                   rules=build_rules(get("reactions", ()) or ()), warmup=warmup, windows=windows,
                   **numbers)


# ShapingConfig field, Settings field, type
_NUMBERS = (
    ("jitter", "shaping_jitter", float), ("horizon", "shaping_horizon", float),
    ("refresh", "shaping_refresh", float),
    ("failover_threshold", "failover_threshold", int),
    ("failover_window", "failover_window", "duration"),
    ("failover_backoff", "failover_backoff", "duration"),
    ("failover_backoff_max", "failover_backoff_max", "duration"),
    ("bounce_rate", "reputation_bounce_rate", float),
    ("complaint_rate", "reputation_complaint_rate", float),
    ("bounce_min_volume", "reputation_bounce_min_volume", int),
    ("complaint_min_volume", "reputation_complaint_min_volume", int),
    ("guard_interval", "reputation_interval", "duration"),
    ("guard_recheck", "reputation_recheck", "duration"),
)


def _where(where: str, parse, value):
    try:
        return parse(value)
    except (RateError, TypeError, ValueError) as exc:
        raise RateError(f"{where}: {exc}") from None


def _positive(value, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RateError(f"{where}: {value!r} is not a positive whole number")
    return value


def _warmup(domain: str, table: Mapping[str, Any]) -> Warmup:
    where = f"warmup.{domain}"
    unknown = set(table) - {"target", "schedule", "providers", "start", "first_day"}
    if unknown:
        raise RateError(f"{where}: unknown keys {sorted(unknown)}; use target, schedule, "
                        "first_day, providers, start")
    if table.get("schedule"):
        schedule = tuple(table["schedule"])
        if not all(isinstance(c, int) and c > 0 for c in schedule):
            raise RateError(f"{where}.schedule: write the daily caps as positive whole numbers, "
                            "e.g. [50, 100, 200, 400]")
    elif table.get("target"):
        schedule = warmup_schedule(int(table["target"]), int(table.get("first_day", WARMUP_FIRST_DAY)))
    else:
        raise RateError(f"{where}: give the daily volume to reach (target = 50000) or the "
                        "caps day by day (schedule = [50, 100, 200])")
    start = table.get("start")
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            raise RateError(f"{where}.start: {start!r} is not a date (YYYY-MM-DD)") from None
    return Warmup(domain, schedule, frozenset(table.get("providers") or ()), start)

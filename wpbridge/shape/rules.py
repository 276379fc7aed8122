"""Reactions: what the bridge does when a reply says "slow down". Pure: rules in, a match out.

A rule looks at a temporary reply (4xx, or a network fault) and names one action for a
while: throttle the destination or the provider to a rate, or suspend it. Shipped rules
cover the deferral texts of Gmail, Microsoft and Yahoo, the generic 421 4.7.0 / 4.7.28
rate answers, and providers' own throttling (Amazon SES). Configured rules are checked
first; a configured rule with the name of a shipped rule changes that rule instead (only
the keys it gives), and ``enabled = false`` switches it off::

    [[shaping.reactions]]
    name = "gmail-rate-limit"
    duration = "30m"

    [[shaping.reactions]]
    name = "my-relay-busy"
    codes = [421]
    pattern = "too many connections"
    action = "throttle-provider"
    rate = "2/s"
    duration = "10m"

A rule matches when every criterion it gives holds: ``codes`` (reply codes), ``groups``
(destinations: a domain group such as ``gmail`` or a domain), ``providers``; and, of
``status`` (enhanced status codes) and ``pattern`` (a case-insensitive regex on the reply),
at least one, when either is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from wpbridge.events.bounces import reply_numbers
from wpbridge.shape.rates import Rate, RateError, parse_duration, parse_rate

ACTIONS = ("throttle-destination", "suspend-destination", "throttle-provider", "suspend-provider")
_KEYS = {"name", "action", "duration", "pattern", "status", "codes", "groups", "providers",
         "rate", "factor", "enabled"}


@dataclass(frozen=True)
class Rule:
    name: str
    action: str  # one of ACTIONS
    duration: float  # seconds the action lasts; it lifts by itself
    pattern: re.Pattern | None = None
    status: tuple[str, ...] = ()
    codes: tuple[int, ...] = ()
    groups: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    rate: Rate | None = None  # throttle to this rate ...
    factor: float | None = None  # ... or to this share of the configured short-period rate

    @property
    def scope(self) -> str:
        return self.action.split("-", 1)[1]  # destination | provider

    @property
    def suspends(self) -> bool:
        return self.action.startswith("suspend")

    def matches(self, code: int | None, status: str | None, text: str, destination: str,
                group: str, provider: str) -> bool:
        if self.codes and code not in self.codes:
            return False
        if self.groups and destination not in self.groups and group not in self.groups:
            return False
        if self.providers and provider not in self.providers:
            return False
        if not self.status and self.pattern is None:
            return True
        return bool((status and status in self.status) or
                    (self.pattern is not None and self.pattern.search(text)))

    def throttle_rate(self, configured: Rate | None) -> Rate:
        """The rate a throttle sets: ``factor`` of the configured rate when there is one."""
        if self.factor is not None and configured is not None:
            return configured.scaled(self.factor)
        return self.rate or parse_rate("1/s")


SHIPPED: tuple[dict[str, Any], ...] = (
    # Amazon SES: "454 Throttling failure: Daily message quota exceeded."
    {"name": "provider-daily-quota", "action": "suspend-provider", "duration": "1h",
     "pattern": r"daily (message|sending) quota exceeded|daily sending limit"},
    # SES: "454 Throttling failure: Maximum sending rate exceeded."; other relays' wording.
    {"name": "provider-throttling", "action": "throttle-provider", "duration": "5m",
     "pattern": r"throttling failure|maximum sending rate exceeded|sending rate limit|"
                r"rate limit exceeded|too many requests",
     "factor": 0.5, "rate": "1/s"},
    # "421-4.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail
    # originating from your IP address. To protect our users from spam, mail sent from your
    # IP address has been temporarily rate limited."
    {"name": "gmail-rate-limit", "action": "suspend-destination", "duration": "15m",
     "groups": ["gmail"], "status": ["4.7.28"],
     "pattern": r"unusual rate|has been temporarily rate limited"},
    # "421-4.7.0 Try again later, closing connection." and the like.
    {"name": "gmail-try-later", "action": "throttle-destination", "duration": "30m",
     "groups": ["gmail"], "codes": [421, 450, 451], "status": ["4.7.0"],
     "pattern": r"try again later", "rate": "1/s"},
    # "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP
    # reputation." / "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S3150)"
    {"name": "microsoft-rate-limit", "action": "suspend-destination", "duration": "15m",
     "groups": ["microsoft"], "status": ["4.7.650", "4.7.500"],
     "pattern": r"temporarily rate limited|\bS3150\b|server busy"},
    # "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume
    # or user complaints - 4.16.55.1"
    {"name": "yahoo-deferred", "action": "suspend-destination", "duration": "30m",
     "groups": ["yahoo"], "pattern": r"\bTSS0\d\b|\bTS0[1-3]\b|temporarily deferred due to|unexpected volume"},
    # Any other mailbox provider's rate answer: 421 4.7.0 / 4.7.28, or 4xx words for it.
    {"name": "rate-limited", "action": "throttle-destination", "duration": "10m",
     "codes": [421], "status": ["4.7.0", "4.7.28"], "rate": "1/s"},
    {"name": "too-fast", "action": "throttle-destination", "duration": "10m",
     "codes": [421, 450, 451, 452],
     "pattern": r"rate limit|too many (messages|recipients|connections)|unusual rate|"
                r"unexpected volume|sending too fast|slow down",
     "rate": "1/s"},
)


def build_rule(table: Mapping[str, Any], where: str) -> Rule:
    """:raise RateError: a key, action, regex, rate or duration is wrong; the message says
    which and where."""
    unknown = set(table) - _KEYS
    if unknown:
        raise RateError(f"{where}: unknown keys {sorted(unknown)}; use {', '.join(sorted(_KEYS))}")
    name = str(table.get("name") or "").strip()
    if not name:
        raise RateError(f"{where}: every reaction needs a name")
    if table.get("action") not in ACTIONS:
        raise RateError(f"{where} ({name}): action must be one of {', '.join(ACTIONS)}")
    try:
        pattern = re.compile(table["pattern"], re.I) if table.get("pattern") else None
    except re.error as exc:
        raise RateError(f"{where} ({name}): pattern is not a valid regular expression: {exc}") from None
    factor = table.get("factor")
    if factor is not None and not (isinstance(factor, (int, float)) and 0 < factor <= 1):
        raise RateError(f"{where} ({name}): factor must be a number above 0 and at most 1")
    try:
        return Rule(
            name=name, action=table["action"],
            duration=parse_duration(table.get("duration", "10m")), pattern=pattern,
            status=tuple(str(s) for s in _list(table.get("status"))),
            codes=tuple(int(c) for c in _list(table.get("codes"))),
            groups=tuple(str(g).lower() for g in _list(table.get("groups"))),
            providers=tuple(str(p) for p in _list(table.get("providers"))),
            rate=parse_rate(table["rate"]) if table.get("rate") else None,
            factor=float(factor) if factor is not None else None)
    except RateError as exc:
        raise RateError(f"{where} ({name}): {exc}") from None
    except (TypeError, ValueError) as exc:
        raise RateError(f"{where} ({name}): {exc}") from None


def _list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def build_rules(configured: Iterable[Mapping[str, Any]] = (), where: str = "shaping.reactions") -> tuple[Rule, ...]:
    """Configured rules first, then the shipped ones (changed or switched off by name)."""
    shipped = {r["name"]: dict(r) for r in SHIPPED}
    own: list[Rule] = []
    for i, table in enumerate(configured or ()):
        table = dict(table)
        name = table.get("name")
        if name in shipped:
            if table.get("enabled", True) is False:
                shipped[name] = None
            else:
                shipped[name] = {**shipped[name], **{k: v for k, v in table.items() if k != "enabled"}}
            continue
        if table.pop("enabled", True) is False:
            continue
        own.append(build_rule(table, f"{where}[{i}]"))
    return tuple(own) + tuple(build_rule(t, f"shipped reaction {n}") for n, t in shipped.items() if t)


def match(rules: Iterable[Rule], code: int | None, text: str, destination: str, group: str,
          provider: str) -> Rule | None:
    """The first rule that matches a temporary reply."""
    status = reply_numbers(text)[1] if text else None
    for rule in rules:
        if rule.matches(code, status, text, destination, group, provider):
            return rule
    return None

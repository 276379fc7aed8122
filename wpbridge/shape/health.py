"""Provider health and failover: a provider that fails ``failover_threshold`` times within
``failover_window`` seconds is marked down for a backoff period; its routes' next provider
takes the traffic. When the period ends one worker claims the probe and sends a single
delivery through it: success brings it back up, failure marks it down again for twice as
long (up to ``failover_backoff_max``).

What counts as a failure is the provider's trouble, not a recipient's: a network fault
(connection refused or reset, timeout, TLS), a refusal while connecting (greeting,
STARTTLS, AUTH), or a 421/454 answer no reaction rule explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from wpbridge.relay import SHUTDOWN, TEMPORARY, Reply
from wpbridge.shape.config import ShapingConfig
from wpbridge.shape.models import ProviderHealth

UP, DOWN, PROBING = "up", "down", "probing"
_H = ProviderHealth.__table__
_PROVIDER_CODES = (421, 454)  # service closing / TLS or authentication temporarily unavailable


def is_failure(reply: Reply) -> bool:
    if reply.outcome != TEMPORARY or reply.command == SHUTDOWN:  # the worker cut it, not the provider
        return False
    return reply.code is None or reply.command == "connect" or reply.code in _PROVIDER_CODES


@dataclass(frozen=True)
class Health:
    provider: str
    state: str
    failures: int = 0
    down_until: datetime | None = None
    probe_until: datetime | None = None
    last_error: str | None = None
    backoff: float = 0.0
    changed_at: datetime | None = None

    @property
    def up(self) -> bool:
        return self.state == UP

    def probe_due(self, now: datetime) -> bool:
        if self.state == DOWN:
            return self.down_until is None or self.down_until <= now
        return self.state == PROBING and (self.probe_until is None or self.probe_until < now)


def load(conn: Connection) -> dict[str, Health]:
    rows = conn.execute(select(_H.c.provider, _H.c.state, _H.c.failures, _H.c.down_until,
                               _H.c.probe_until, _H.c.last_error, _H.c.backoff, _H.c.changed_at))
    return {r.provider: Health(*r) for r in rows}


def _row(conn: Connection, provider: str, config: ShapingConfig, now: datetime):
    stmt = select(_H).where(_H.c.provider == provider)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(_H).values(provider=provider, state=UP, failures=0,
                                       backoff=config.failover_backoff, changed_at=now)
                     .on_conflict_do_nothing(index_elements=["provider"]))
        row = conn.execute(stmt).first()
    return row


def failure(engine: Engine, provider: str, error: str, now: datetime,
            config: ShapingConfig) -> Health:
    """Count one failure; returns the provider's health after it."""
    with engine.begin() as conn:
        row = _row(conn, provider, config, now)
        values = {"last_error": error[:500]}
        if row.state == PROBING:
            backoff = min(row.backoff * 2, config.failover_backoff_max)
            values.update(state=DOWN, backoff=backoff, failures=0, window_start=None,
                          down_until=now + timedelta(seconds=backoff), probe_until=None, changed_at=now)
        elif row.state == UP:
            fresh = row.window_start is None or row.window_start < now - timedelta(seconds=config.failover_window)
            failures = 1 if fresh else row.failures + 1
            values.update(failures=failures, window_start=now if fresh else row.window_start)
            if failures >= config.failover_threshold:
                values.update(state=DOWN, down_until=now + timedelta(seconds=row.backoff),
                              changed_at=now)
        conn.execute(update(_H).where(_H.c.provider == provider).values(**values))
        return Health(provider, values.get("state", row.state), values.get("failures", row.failures),
                      values.get("down_until", row.down_until), None, error,
                      values.get("backoff", row.backoff), values.get("changed_at", row.changed_at))


def success(engine: Engine, provider: str, now: datetime, config: ShapingConfig) -> None:
    """The provider answered: a probe brings it back; failures so far are forgotten. A
    delivery that was in flight while it went down does not bring it back (the probe does)."""
    with engine.begin() as conn:
        conn.execute(update(_H).where(_H.c.provider == provider, _H.c.state != DOWN)
                     .values(state=UP, failures=0, window_start=None, down_until=None,
                             probe_until=None, backoff=config.failover_backoff, changed_at=now))


def claim_probe(engine: Engine, provider: str, now: datetime, ttl: float) -> bool:
    """Whether this worker sends the probe (one worker wins; a probe that never reports
    back can be claimed again after ``ttl`` seconds)."""
    with engine.begin() as conn:
        return bool(conn.execute(
            update(_H).where(_H.c.provider == provider,
                             ((_H.c.state == DOWN) & (_H.c.down_until <= now))
                             | ((_H.c.state == PROBING) & (_H.c.probe_until < now)))
            .values(state=PROBING, probe_until=now + timedelta(seconds=ttl), changed_at=now)).rowcount)


def provider_rows(conn: Connection, settings, now: datetime) -> list[dict]:
    """Every configured provider with its limits, health and active holds: what
    ``wpbridge providers`` and the status page show."""
    from wpbridge.relay.providers import OUTBOX
    from wpbridge.shape.limits import active_holds

    config = ShapingConfig.from_settings(settings)
    states = load(conn)
    holds = active_holds(conn, now)
    out = []
    for name, provider in (settings.providers or {"outbox": OUTBOX}).items():
        h = states.get(name) or Health(name, UP)
        limits = config.provider(name)
        out.append({
            "name": name, "endpoint": provider.describe(),
            "default": name == settings.default_provider or not settings.providers,
            "rates": [str(r) for r in limits.rates], "connections": limits.connections,
            "messages_per_connection": limits.messages_per_connection,
            "state": h.state, "failures": h.failures, "down_until": h.down_until,
            "last_error": h.last_error, "changed_at": h.changed_at,
            "holds": [{"destination": x.destination, "action": x.action, "rate": x.rate,
                       "rule": x.rule, "until": x.until, "reply": x.reply}
                      for x in holds if x.provider == name],
        })
    return out

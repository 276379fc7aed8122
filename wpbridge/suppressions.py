"""The suppression list: per site, addresses that must not be sent to.

``scope="all"`` stops every message (hard bounces, manual entries); ``scope="bulk"`` stops
bulk mail only (unsubscribes, complaints), so receipts still reach a customer who left the
newsletter. The worker checks the list before every delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import and_, delete, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from wpbridge.models import Suppression

SCOPES = ("all", "bulk")
_T = Suppression.__table__


def add(conn: Connection, site_id: int, address: str, scope: str, reason: str,
        source: str | None, now: datetime, expires_at: datetime | None = None) -> bool:
    """Suppress ``address`` for ``site_id``; returns False if it already was (kept as is)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(_T).values(site_id=site_id, address=address.lower(), scope=scope, reason=reason,
                             source=source, created_at=now, expires_at=expires_at)
    return conn.execute(stmt.on_conflict_do_nothing().returning(_T.c.id)).first() is not None


def remove(conn: Connection, site_id: int, address: str, scope: str | None = None) -> int:
    cond = [_T.c.site_id == site_id, _T.c.address == address.lower()]
    if scope:
        cond.append(_T.c.scope == scope)
    return conn.execute(delete(_T).where(*cond)).rowcount


def active(conn: Connection, pairs: Iterable[tuple[int, str]], now: datetime) -> dict[tuple[int, str], dict[str, str]]:
    """(site id, address) -> {scope: reason} for the pairs that are suppressed now."""
    pairs = {(site_id, address.lower()) for site_id, address in pairs}
    if not pairs:
        return {}
    rows = conn.execute(
        select(_T.c.site_id, _T.c.address, _T.c.scope, _T.c.reason)
        .where(tuple_(_T.c.site_id, _T.c.address).in_(pairs),
               or_(_T.c.expires_at.is_(None), _T.c.expires_at > now)))
    out: dict[tuple[int, str], dict[str, str]] = {}
    for r in rows:
        out.setdefault((r.site_id, r.address), {})[r.scope] = r.reason
    return out


def blocks(entry: dict[str, str] | None, category: str) -> str | None:
    """The reason ``entry`` stops a message of ``category``, or None."""
    if not entry:
        return None
    if "all" in entry:
        return entry["all"]
    if category == "bulk" and "bulk" in entry:
        return entry["bulk"]
    return None


def listing(conn: Connection, site_id: int, reason: str | None = None, scope: str | None = None,
            address: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
    cond = [_T.c.site_id == site_id]
    for col, value in ((_T.c.reason, reason), (_T.c.scope, scope)):
        if value:
            cond.append(col == value)
    if address:
        cond.append(_T.c.address == address.lower())
    rows = conn.execute(select(_T).where(and_(*cond)).order_by(_T.c.created_at.desc(), _T.c.id.desc())
                        .limit(limit).offset(offset))
    return [{"address": r.address, "scope": r.scope, "reason": r.reason, "source": r.source,
             "created_at": r.created_at.isoformat(timespec="seconds") + "Z",
             "expires_at": r.expires_at.isoformat(timespec="seconds") + "Z" if r.expires_at else None}
            for r in rows]

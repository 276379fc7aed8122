"""Shaping state, shared by every worker through the database (never per-process counters
that N workers would multiply)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wpbridge.models import Base, BigId


class RateState(Base):
    """GCRA state of one short-period limit: the theoretical arrival time of its next slot."""

    __tablename__ = "shape_rates"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # e.g. "provider:ses:14/s"
    tat: Mapped[float] = mapped_column(Float)  # epoch seconds


class RateCount(Base):
    """Sends in one bucket of a counting window (long-period limits, warm-up days)."""

    __tablename__ = "shape_counts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds
    count: Mapped[int] = mapped_column(Integer)


class Hold(Base):
    """A reaction to a reply: a destination or provider throttled or suspended until
    ``until``. Rows stay after they lift, as history for ``wpbridge providers``."""

    __tablename__ = "shape_holds"
    __table_args__ = (Index("ix_shape_holds_until", "until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # "provider:ses" or "destination:ses:gmail"
    provider: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str | None] = mapped_column(String(253))  # None: the whole provider
    action: Mapped[str] = mapped_column(String(8))  # throttle | suspend
    rate: Mapped[str | None] = mapped_column(String(32))  # a throttle's rate
    rule: Mapped[str] = mapped_column(String(64))
    reply: Mapped[str] = mapped_column(Text)  # the answer that set it off
    created_at: Mapped[datetime] = mapped_column(DateTime())
    until: Mapped[datetime] = mapped_column(DateTime())


class ConnectionLease(Base):
    """One of a provider's allowed concurrent connections, held by a worker's lane."""

    __tablename__ = "shape_connections"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(80))
    until: Mapped[datetime | None] = mapped_column(DateTime())


class ProviderHealth(Base):
    """Failover state of one provider: ``up``; ``down`` until ``down_until``; then
    ``probing`` while one worker tries a single delivery."""

    __tablename__ = "provider_health"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))  # up | down | probing
    failures: Mapped[int] = mapped_column(Integer)  # within the window since window_start
    window_start: Mapped[datetime | None] = mapped_column(DateTime())
    down_until: Mapped[datetime | None] = mapped_column(DateTime())
    backoff: Mapped[float] = mapped_column(Float)  # seconds of the current or next down period
    probe_until: Mapped[datetime | None] = mapped_column(DateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(DateTime())


class BulkPause(Base):
    """The reputation guard's verdict on one site's bulk lane."""

    __tablename__ = "bulk_pauses"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))  # paused | resumed (by an admin) | cleared
    reason: Mapped[str] = mapped_column(Text)  # why it paused, for the status page
    paused_at: Mapped[datetime] = mapped_column(DateTime())
    # Rates are counted from here on: a resume starts a fresh window.
    counted_from: Mapped[datetime | None] = mapped_column(DateTime())
    resumed_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class WarmupStart(Base):
    """Day 1 of a sending domain's warm-up through one provider."""

    __tablename__ = "warmup_starts"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_on: Mapped[datetime] = mapped_column(DateTime())  # midnight UTC of day 1

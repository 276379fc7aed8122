"""Where events are kept: one row per recipient result, whatever brought it (a reply during
relay, a DSN, an ARF report, a provider webhook), with the raw payload for people to read.

A report counts once per (message, recipient, group): a repeat is kept, marked with
``duplicate_of`` (the id of the first), and changes nothing else (see events/policy.py).
The partial unique index makes "first" hold across processes: two writers of the same
report cannot both store it as the first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from wpbridge.models import Base, BigId


FIRST = text("duplicate_of IS NULL")  # the predicate of the index of first reports


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_site_address", "site_id", "address", "group", "created_at"),
                      # retention finds a message's events by it (wpbridge/privacy.py)
                      Index("ix_events_message", "message_id"),
                      Index("ux_events_first", "site_id", "message_id", "address", "group", unique=True,
                            sqlite_where=FIRST, postgresql_where=FIRST))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    message_id: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))  # lower-cased
    group: Mapped[str] = mapped_column(String(16))  # hard | soft | block | complaint | autoreply | delivered
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    code: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))  # relay | dsn | arf | autoreply | webhook:<provider>
    diagnostic: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)  # the payload as received
    created_at: Mapped[datetime] = mapped_column()
    # The first event of the same (message, address, group), when this one repeats it.
    duplicate_of: Mapped[int | None] = mapped_column(BigId)


class WebhookNonce(Base):
    """A verified webhook request's nonce, until its timestamp goes stale: a replay to any
    web process finds it here (see events/webhooks)."""

    __tablename__ = "webhook_nonces"
    __table_args__ = (Index("ix_webhook_nonces_until", "until"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[float] = mapped_column(Float)  # epoch seconds

"""The database schema (SQLAlchemy 2). Alembic migrations in ``migrations/`` build the same.

State of a message is kept per recipient (:class:`Recipient`), because one recipient can
bounce while another is delivered; each try at a provider is an :class:`Attempt`.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Enum, ForeignKey, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint, func, text, true)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only makes INTEGER PRIMARY KEY an alias of its rowid (autoincrement).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    """Now, as the naive UTC datetime every timestamp column holds."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class State(str, enum.Enum):
    queued = "queued"  # due at next_attempt_at (new, or deferred after a temporary failure)
    sending = "sending"  # claimed by a worker until lease_until; due again if it expires
    delivered = "delivered"  # the provider answered 2xx
    failed = "failed"  # permanent failure (5xx): a bounce
    expired = "expired"  # temporary failures until the message passed its maximum age
    suppressed = "suppressed"  # not sent: the address is on the site's suppression list


class Lane(enum.IntEnum):
    """Claim order: lower lanes are always claimed first."""

    transactional = 0
    notification = 1
    bulk = 2


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM, see sites.py
    hourly_quota: Mapped[int | None] = mapped_column(Integer)
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    # Status-page sessions carry the epoch they were made in; raising it revokes them all
    # (wpbridge admin revoke-sessions).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What happens to a From outside the sending domains (see wpbridge/ingest/sender.py):
    # "rewrite" to default_from (None: wordpress@<first domain>), or "refuse".
    from_policy: Mapped[str] = mapped_column(String(16), default="rewrite", server_default="rewrite")
    default_from: Mapped[str | None] = mapped_column(String(320))
    # Whether a sending domain also covers its subdomains (never one another site claims).
    subdomains: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    last_rewritten_from: Mapped[str | None] = mapped_column(String(320))  # for the status page

    domains: Mapped[list["SiteDomain"]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="SiteDomain.domain")


class SiteDomain(Base):
    __tablename__ = "site_domains"
    __table_args__ = (UniqueConstraint("site_id", "domain"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))

    site: Mapped[Site] = relationship(back_populates="domains")


class SmtpCredential(Base):
    """A separate SMTP login of one site (``wpbridge site smtp-credentials``), so that a
    newsletter plugin need not hold the site's key id and secret. Only a scrypt hash of the
    password is stored (see sites.py). User names are unique across sites: AUTH names no site."""

    __tablename__ = "smtp_credentials"
    __table_args__ = (Index("ix_smtp_credentials_site", "site_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # scrypt$N$r$p$salt$hash (base64)
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("site_id", "idempotency_key"),
        Index("ix_messages_site_created", "site_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime())
    mail_from: Mapped[str] = mapped_column(String(320))  # envelope sender; "" is the null sender
    from_header: Mapped[str] = mapped_column(String(998))
    subject: Mapped[str] = mapped_column(String(998))
    category: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list] = mapped_column(JSON)
    context: Mapped[dict] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer)
    recipient_count: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # RFC 5322, CRLF line endings, no Bcc
    # DKIM's hash of the relaxed body (RFC 6376 3.7), taken once at ingest: the body does not
    # change on the way out, only headers are added. None for messages from before 0011.
    body_hash: Mapped[str | None] = mapped_column(String(44), nullable=True)

    recipients: Mapped[list["Recipient"]] = relationship(
        back_populates="message", order_by="Recipient.id")


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (
        # The claim query walks this index: due rows of the best lane first.
        Index("ix_recipients_due", "state", "lane", "next_attempt_at"),
        Index("ix_recipients_message", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(BigId)
    address: Mapped[str] = mapped_column(String(320))
    domain: Mapped[str] = mapped_column(String(253))
    lane: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(64))
    state: Mapped[State] = mapped_column(
        Enum(State, native_enum=False, length=16, validate_strings=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime())
    lease_until: Mapped[datetime | None] = mapped_column(DateTime())
    leased_by: Mapped[str | None] = mapped_column(String(64))
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_response: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime())

    message: Mapped[Message] = relationship(back_populates="recipients")


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_recipient", "recipient_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime())
    provider: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # delivered | deferred | failed | expired
    code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class Suppression(Base):
    """An address a site must not send to: all mail (``scope="all"``: hard bounce, manual) or
    bulk mail only (``scope="bulk"``: unsubscribe, complaint)."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("site_id", "address", "scope"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))  # lower-cased
    scope: Mapped[str] = mapped_column(String(8))  # all | bulk
    reason: Mapped[str] = mapped_column(String(64))  # unsubscribe, hard_bounce, complaint, manual...
    source: Mapped[str | None] = mapped_column(Text)  # what decided it (message id, event, user)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime())


class DkimKey(Base):
    """A DKIM signing key of one site's sending domain; the private key is encrypted at rest
    (AES-GCM under the bridge's secret key, like site secrets)."""

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("site_id", "domain", "selector"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    selector: Mapped[str] = mapped_column(String(63))
    algorithm: Mapped[str] = mapped_column(String(16))  # ed25519-sha256 | rsa-sha256
    private_enc: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[str] = mapped_column(Text)  # base64, as in the DNS record's p=
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Stat(Base):
    """Counters recorded as mail flows, per period bucket, site, category, provider and
    recipient domain group: ``period`` "m" (minute buckets, kept 48 h) or "h" (hourly, kept
    90 days). ``lat_*`` count deliveries by time from accept to the provider's 2xx."""

    __tablename__ = "stats"
    __table_args__ = (UniqueConstraint("period", "bucket", "site_id", "category", "provider",
                                       "domain_group", name="uq_stats_key"),
                      Index("ix_stats_site_bucket", "site_id", "period", "bucket"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period: Mapped[str] = mapped_column(String(1))
    bucket: Mapped[datetime] = mapped_column(DateTime())
    site_id: Mapped[int] = mapped_column(BigId)
    category: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(64))
    domain_group: Mapped[str] = mapped_column(String(16))
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    deferred: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    expired: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    complained: Mapped[int] = mapped_column(Integer, default=0)
    rewritten: Mapped[int | None] = mapped_column(Integer, default=0)  # messages whose From was rewritten
    latency_ms_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    lat_0: Mapped[int] = mapped_column(Integer, default=0)
    lat_1: Mapped[int] = mapped_column(Integer, default=0)
    lat_2: Mapped[int] = mapped_column(Integer, default=0)
    lat_3: Mapped[int] = mapped_column(Integer, default=0)
    lat_4: Mapped[int] = mapped_column(Integer, default=0)
    lat_5: Mapped[int] = mapped_column(Integer, default=0)
    lat_6: Mapped[int] = mapped_column(Integer, default=0)
    lat_7: Mapped[int] = mapped_column(Integer, default=0)


class WorkerBeat(Base):
    """Each worker's last sign of life (``/readyz``, the status page, alerts)."""

    __tablename__ = "worker_beats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(DateTime())
    started_at: Mapped[datetime] = mapped_column(DateTime())


class WriteProbe(Base):
    """``/readyz`` writes here (one row per web process) to learn that the database takes
    writes: a read-only database or a full disk still answers SELECT."""

    __tablename__ = "write_probes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    written_at: Mapped[datetime] = mapped_column(DateTime())


# -- status: the status page, embedding, agency access, alerts -----------------------------

# The status page's lists (recent failures, queue gauges) walk a site's rows by state; the
# failure reasons read the newest attempts.
Index("ix_recipients_site_state", Recipient.site_id, Recipient.state, Recipient.updated_at)
# The message log's recipient search (status/figures.AddressSearch): an address, the start of
# one, or the start of a domain, found in the index instead of a scan of every recipient.
Index("ix_recipients_site_address", Recipient.site_id, func.lower(Recipient.address))
Index("ix_recipients_site_domain", Recipient.site_id, Recipient.domain)
Index("ix_attempts_at", Attempt.at)


class SiteStatusSettings(Base):
    """Per site: who hears of its alerts and which origins may frame its status page.

    No row, or an empty ``frame_origins``, means the site's own ``https://<name>`` and
    ``http://<name>``."""

    __tablename__ = "site_status_settings"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"),
                                         primary_key=True)
    contact_email: Mapped[str | None] = mapped_column(Text)  # comma-separated addresses
    webhook_url: Mapped[str | None] = mapped_column(Text)  # JSON POST per alert change
    slack_url: Mapped[str | None] = mapped_column(Text)  # Slack-compatible incoming webhook
    frame_origins: Mapped[list | None] = mapped_column(JSON)
    # {metric: {"warn": x, "critical": y}}: the site's own levels over the bridge's defaults
    thresholds: Mapped[dict | None] = mapped_column(JSON)
    weekly_summary_to: Mapped[str | None] = mapped_column(Text)  # opt-in weekly report; None: off
    frame_origins: Mapped[list | None] = mapped_column(JSON)  # added by the operator
    # Reported by the site's own signed POST /api/v1/embed-token ({"origin": ...}).
    reported_origins: Mapped[list | None] = mapped_column(JSON)


class EmbedToken(Base):
    """A one-time URL for one site's status page (``POST /api/v1/embed-token``); only the
    SHA-256 of the token is stored."""

    __tablename__ = "embed_tokens"
    __table_args__ = (Index("ix_embed_tokens_expires", "expires_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime())
    used_at: Mapped[datetime | None] = mapped_column(DateTime())


class RequestNonce(Base):
    """A signed API request's nonce, kept until its timestamp leaves the replay window: a
    replay to any web process finds it here (see ingest/replay). The key starts with that
    moment (10 decimal digits of epoch seconds), so inserts go to the index's end and
    stale rows are one range at its start."""

    __tablename__ = "request_nonces"
    __table_args__ = {"sqlite_with_rowid": False}  # the key is the table: one B-tree to write

    key: Mapped[str] = mapped_column(String(64), primary_key=True)


class AdminToken(Base):
    """An agency (operator) token for the all-sites view (``wpbridge admin create-token``);
    only its SHA-256 is stored."""

    __tablename__ = "admin_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime())


class AlertState(Base):
    """The current level of one alert metric of one site (``site_id`` 0: the bridge itself,
    e.g. the worker heartbeat). Workers change it with a guarded UPDATE, so only one of
    them sends the notice of a change."""

    __tablename__ = "alert_states"
    __table_args__ = (UniqueConstraint("site_id", "metric"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(BigId)
    metric: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(8))  # ok | warning | critical
    value: Mapped[float | None] = mapped_column()
    since: Mapped[datetime] = mapped_column(DateTime())
    notified_at: Mapped[datetime | None] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())
    version: Mapped[int] = mapped_column(Integer, default=0)  # the guard of every change


class AlertEvent(Base):
    """Alert history: one row per change of level (shown on the status page)."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_site_at", "site_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(BigId)
    metric: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime())
    from_level: Mapped[str] = mapped_column(String(8))
    to_level: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    sent_to: Mapped[list] = mapped_column(JSON)  # channels the notice went to


class ReportRun(Base):
    """A periodic report sent for one site and period; the unique key lets many workers
    try and only one send it."""

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("site_id", "period", "period_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(8))  # day | week | month
    period_start: Mapped[datetime] = mapped_column(DateTime())
    sent_at: Mapped[datetime] = mapped_column(DateTime())

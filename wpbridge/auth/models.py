"""DNS check results kept in the database, shared by every worker and the status page
(see :mod:`wpbridge.auth.dns_store`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wpbridge.models import Base


class DnsCheck(Base):
    """The last DNS check of one sending domain of one site (the site's DKIM keys and
    routes decide what is checked, so two sites sending from one domain have a row each).

    A row is due for a check again at ``expires_at``: the shortest TTL of the answers, sooner
    when something needs fixing. A worker that takes the check moves ``expires_at`` ahead
    first (a lease), so that other workers leave it alone.
    """

    __tablename__ = "dns_checks"
    __table_args__ = (Index("ix_dns_checks_expires", "expires_at"),)

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    level: Mapped[str | None] = mapped_column(String(8))  # ok | warning | error; None: not yet
    # CheckResult.to_dict(): the findings with their fixes (records to add or change).
    findings: Mapped[dict | None] = mapped_column(JSON)
    # The DMARC policy that applies (none | quarantine | reject); "missing": no valid record
    # (bulk mail is held); None: no verdict (not checked yet, DNS did not answer, or DNS
    # says the domain does not exist at all).
    dmarc: Mapped[str | None] = mapped_column(String(16))
    # What a held bulk recipient shows as its last response; None: bulk mail is not held.
    hold_reason: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime())
    # Why the last check could not be made (no resolver, an unexpected failure); None: it was.
    error: Mapped[str | None] = mapped_column(Text)

"""Alerts and reports as email through the bridge's own queue, sent as the site they are
about (so they leave through its route, from one of its sending domains)."""

from __future__ import annotations

from sqlalchemy import select

from wpbridge.ingest.accept import Item, QuotaExceeded, StorageError, accept
from wpbridge.ingest.message import InvalidInput, from_json
from wpbridge.models import Site, SiteDomain
from wpbridge.sites import SiteAuth


class MailError(RuntimeError):
    """The notice could not be queued; the message says why."""


def send_as_site(engine, settings, site_id: int, to: list[str], subject: str, text: str,
                 html: str | None = None, kind: str = "alert") -> str:
    """Queue one notification message of ``site_id`` to ``to``; returns its message id.

    The sender is ``alert_from`` when it is of the site's sending domains, else
    ``wpbridge@<its first sending domain>``. Quotas do not hold it back.

    :raise MailError: the site has no sending domain, or the queue refused the message.
    """
    with engine.connect() as conn:
        name = conn.execute(select(Site.name).where(Site.id == site_id)).scalar()
        domains = frozenset(conn.execute(select(SiteDomain.domain)
                                         .where(SiteDomain.site_id == site_id)).scalars())
    if name is None or not domains:
        raise MailError(f"site {site_id} has no sending domain to send its {kind} from")
    site = SiteAuth(id=site_id, name=name, key_id="", secret="", domains=domains,
                    hourly_quota=None, daily_quota=None)
    sender = getattr(settings, "alert_from", "") or ""
    if not site.sender_allowed(sender):
        sender = f"wpbridge@{sorted(domains)[0]}"
    payload = {"from": f"wpbridge <{sender}>", "to": to, "subject": subject, "text": text,
               "context": {"source": f"wpbridge-{kind}"}}
    if html:
        payload["html"] = html
    try:
        [done] = accept(engine, settings, site, [Item(from_json(payload, settings.max_message_bytes))])
    except (InvalidInput, QuotaExceeded, StorageError) as exc:
        raise MailError(f"site {name}: the {kind} could not be queued: {exc}") from exc
    return done.id

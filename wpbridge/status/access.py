"""Who may see a status page: one-time embed URLs, the session cookie they are exchanged
for, agency (admin) tokens, and the origins allowed to frame a site's page.

Tokens are random and stored only as their SHA-256; a used or expired embed token is
refused by the UPDATE that consumes it, so two tabs cannot both redeem one URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from wpbridge.models import AdminToken, EmbedToken, Site, SiteStatusSettings

EMBED_TTL = 300  # seconds an embed URL can be redeemed
SESSION_TTL = 8 * 3600  # seconds a status session lasts
SITE_COOKIE, ADMIN_COOKIE = "wpbridge_status", "wpbridge_admin"


class AccessError(ValueError):
    """A token or setting is refused; the message says why and what to do."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- embed tokens -----------------------------------------------------------------------

def issue_embed_token(conn, site_id: int, now: datetime, ttl: int = EMBED_TTL) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=ttl)
    conn.execute(delete(EmbedToken.__table__).where(EmbedToken.expires_at < now - timedelta(days=1)))
    conn.execute(insert(EmbedToken.__table__).values(token_hash=_hash(token), site_id=site_id,
                                                     created_at=now, expires_at=expires))
    return token, expires


def redeem_embed_token(conn, token: str, now: datetime) -> int | None:
    """The site id of an unused, unexpired token, which is used up; else None."""
    t = EmbedToken.__table__.c
    row = conn.execute(update(EmbedToken.__table__).where(
        t.token_hash == _hash(token), t.used_at.is_(None), t.expires_at > now)
        .values(used_at=now).returning(t.site_id)).first()
    return row[0] if row else None


# -- session cookies --------------------------------------------------------------------

@dataclass(frozen=True)
class Session:
    """A browser's right to see one site's page (``site_id``) or every site (``admin``)."""

    site_id: int | None
    admin_token_id: int | None
    csrf: str


def _serializer(secret_key: str, kind: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=f"wpbridge status {kind} v1")


def make_cookie(secret_key: str, kind: str, subject_id: int, epoch: int = 0) -> str:
    """A signed session cookie; a site's carries the site's session epoch, so raising the
    epoch (:func:`revoke_sessions`) ends every session made before."""
    return _serializer(secret_key, kind).dumps([subject_id, secrets.token_urlsafe(16), epoch])


def read_cookie(secret_key: str, kind: str, value: str | None,
                max_age: int = SESSION_TTL) -> tuple[int, str, int] | None:
    """(subject id, CSRF token, session epoch) of a valid cookie, else None."""
    if not value:
        return None
    try:
        subject_id, csrf, *epoch = _serializer(secret_key, kind).loads(value, max_age=max_age)
        return int(subject_id), str(csrf), int(epoch[0]) if epoch else 0
    except (BadSignature, ValueError, TypeError):
        return None


def revoke_sessions(conn, site_name: str | None = None) -> int:
    """End every status-page session of one site (or of every site) at once; returns how
    many sites. Embed URLs issued later work as before.

    :raise AccessError: no site of that name.
    """
    t = Site.__table__.c
    stmt = update(Site.__table__).values(session_epoch=t.session_epoch + 1)
    count = conn.execute(stmt.where(t.name == site_name) if site_name else stmt).rowcount
    if site_name and not count:
        raise AccessError(f"no site named {site_name!r}; 'wpbridge site list' shows them")
    return count


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), given.encode())


# -- admin (agency) tokens --------------------------------------------------------------

def create_admin_token(conn, name: str, now: datetime) -> str:
    """A new agency token, returned once.

    :raise AccessError: a token with that name exists.
    """
    token = "wpba_" + secrets.token_urlsafe(32)
    try:
        with conn.begin_nested():
            conn.execute(insert(AdminToken.__table__).values(
                name=name, token_hash=_hash(token), created_at=now))
    except IntegrityError:
        raise AccessError(f"an admin token named {name!r} exists; pick another name or "
                          f"revoke it with 'wpbridge admin revoke-token {name}'") from None
    return token


def check_admin_token(conn, token: str | None, now: datetime) -> int | None:
    """The token's id if it is a live admin token (its last use is recorded)."""
    if not token:
        return None
    t = AdminToken.__table__.c
    row = conn.execute(update(AdminToken.__table__).where(t.token_hash == _hash(token.strip()))
                       .values(last_used_at=now).returning(t.id)).first()
    return row[0] if row else None


def admin_token_exists(conn, token_id: int) -> bool:
    return conn.execute(select(AdminToken.id).where(AdminToken.id == token_id)).first() is not None


def list_admin_tokens(conn) -> list:
    return conn.execute(select(AdminToken.name, AdminToken.created_at, AdminToken.last_used_at)
                        .order_by(AdminToken.name)).all()


def revoke_admin_token(conn, name: str) -> bool:
    return bool(conn.execute(delete(AdminToken.__table__).where(AdminToken.name == name)).rowcount)


# -- frame origins and alert contacts ---------------------------------------------------

def normalise_origin(value: str) -> str:
    """``https://shop.example.com[:port]``, lower-cased, nothing after the host.

    :raise AccessError: not an http(s) origin.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username:
        raise AccessError(f"{value!r} is not an origin; give one like https://shop.example.com "
                          "(scheme, host and an optional port, no path)")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


MAX_REPORTED_ORIGINS = 5


def frame_origins(conn, site_id: int, site_name: str) -> list[str]:
    """The origins allowed to frame the site's page: those the site's own signed embed-token
    requests reported, and those the operator added ('wpbridge admin site NAME --origin');
    before either, the site's own https:// and http:// origin."""
    row = conn.execute(select(SiteStatusSettings.frame_origins, SiteStatusSettings.reported_origins)
                       .where(SiteStatusSettings.site_id == site_id)).first()
    origins: list[str] = []
    for o in (row[1] or []) + (row[0] or []) if row else []:
        if o not in origins:
            origins.append(o)
    return origins or [f"https://{site_name}", f"http://{site_name}"]


def report_origin(conn, site_id: int, origin: str) -> None:
    """Remember ``origin`` (normalised) as one the site's wp-admin frames its page from: its
    own signed request said so. The newest few are kept, so a moved admin drops out."""
    row = conn.execute(select(SiteStatusSettings.reported_origins).where(
        SiteStatusSettings.site_id == site_id)).first()
    have = list(row[0] or []) if row else []
    if have and have[0] == origin:
        return
    new = ([origin] + [o for o in have if o != origin])[:MAX_REPORTED_ORIGINS]
    t = SiteStatusSettings.__table__
    if row is None:
        conn.execute(insert(t).values(site_id=site_id, frame_origins=[], reported_origins=new))
    else:
        conn.execute(update(t).where(t.c.site_id == site_id).values(reported_origins=new))


def site_settings(conn, site_id: int):
    """The site's site_status_settings row, or None."""
    return conn.execute(select(SiteStatusSettings.__table__).where(
        SiteStatusSettings.site_id == site_id)).first()


def update_site_settings(session, site: Site, contact: str | None = None, webhook: str | None = None,
                         slack: str | None = None, add_origins: tuple[str, ...] = (),
                         remove_origins: tuple[str, ...] = ()) -> SiteStatusSettings:
    """Change a site's alert contacts and frame origins ("" clears a field).

    :raise AccessError: an origin or URL is malformed.
    """
    row = session.get(SiteStatusSettings, site.id)
    if row is None:
        row = SiteStatusSettings(site_id=site.id, frame_origins=[])
        session.add(row)
    for name, value in (("webhook_url", webhook), ("slack_url", slack)):
        if value is not None:
            if value and urlsplit(value).scheme not in ("http", "https"):
                raise AccessError(f"{value!r} is not an http(s) URL; give the full webhook URL")
            setattr(row, name, value or None)
    if contact is not None:
        row.contact_email = contact or None
    origins = list(row.frame_origins or [])
    for o in add_origins:
        o = normalise_origin(o)
        if o not in origins:
            origins.append(o)
    drop = {normalise_origin(o) for o in remove_origins}
    row.frame_origins = [o for o in origins if o not in drop]
    return row


# -- alert settings, as wp-admin reads and writes them ---------------------------------------

def alert_settings(conn, settings, site_id: int) -> dict:
    """The body of ``GET /api/v1/alert-settings``: who hears of the site's alerts, its opt-in
    weekly summary and its levels per metric (with the bridge's defaults beside them)."""
    from wpbridge.status import alerts

    conf = site_settings(conn, site_id)
    defaults = {t.metric: t for t in alerts.thresholds(settings)}
    return {
        "contact_email": conf.contact_email if conf else None,
        "weekly_summary": {"enabled": bool(conf and conf.weekly_summary_to),
                           "to": conf.weekly_summary_to if conf else None},
        "thresholds": [{"metric": t.metric, "label": t.label, "unit": t.unit, "warn": t.warn,
                        "critical": t.critical, "min_volume": t.min_volume,
                        "default_warn": defaults[t.metric].warn,
                        "default_critical": defaults[t.metric].critical}
                       for t in alerts.site_thresholds(conn, settings, site_id) if not t.bridge_wide],
    }


def _addresses(value, field: str) -> str | None:
    from wpbridge.ingest.message import InvalidInput, check_address

    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(400, "malformed", field, "must be a string of addresses",
                           'send "you@example.com" or "a@example.com, b@example.com"')
    found = [check_address(a.strip(), f"{field}[{i}]")
             for i, a in enumerate(value.split(",")) if a.strip()]
    return ", ".join(found) or None


def _levels(value, known: dict) -> dict | None:
    from wpbridge.ingest.message import InvalidInput

    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(400, "malformed", "thresholds", "must be an object of metrics",
                           'send {"bounce_rate": {"warn": 0.05, "critical": 0.1}}')
    out = {}
    for metric, levels in value.items():
        field = f"thresholds.{metric}"
        t = known.get(metric)
        if t is None:
            raise InvalidInput(422, "unknown_metric", field, f"{metric!r} is not a metric a site "
                               "can set", f"use one of {', '.join(sorted(known))}")
        if levels is None:
            continue  # back to the bridge's default
        if not isinstance(levels, dict):
            raise InvalidInput(400, "malformed", field, "must be an object",
                               'send {"warn": 0.05, "critical": 0.1}')
        got = {}
        for k in ("warn", "critical"):
            v = levels.get(k, getattr(t, k))
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InvalidInput(400, "malformed", f"{field}.{k}", "must be a number",
                                   "send a share such as 0.05 for 5%" if t.unit == "%" else
                                   "send a number of seconds")
            if not (0 < v <= (1 if t.unit == "%" else 86400 * 7)):
                raise InvalidInput(422, "out_of_range", f"{field}.{k}", f"{v} is out of range",
                                   "give a share between 0 and 1 (0.05 is 5%)" if t.unit == "%"
                                   else "give seconds between 1 and 604800")
            got[k] = float(v)
        if got["warn"] >= got["critical"]:
            raise InvalidInput(422, "out_of_range", f"{field}.warn", f"warning level {got['warn']:g} "
                               f"is not below the critical level {got['critical']:g}",
                               "set warn lower than critical")
        out[metric] = got
    return out


def update_alert_settings(session, settings, site_id: int, payload) -> None:
    """Apply a ``PUT /api/v1/alert-settings`` body; fields left out stay as they are.

    :raise wpbridge.ingest.message.InvalidInput: a field is malformed (named in the error);
        nothing is changed.
    """
    from wpbridge.ingest.message import InvalidInput
    from wpbridge.status import alerts

    if not isinstance(payload, dict):
        raise InvalidInput(400, "malformed", "body", "the body must be a JSON object",
                           'send {"contact_email": "you@example.com"}')
    unknown = set(payload) - {"contact_email", "weekly_summary", "thresholds"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(422, "unknown_field", name, f"{name!r} is not an alert setting",
                           "send contact_email, weekly_summary or thresholds")
    changes = {}
    if "contact_email" in payload:
        changes["contact_email"] = _addresses(payload["contact_email"], "contact_email")
    if "weekly_summary" in payload:
        ws = payload["weekly_summary"]
        if not isinstance(ws, dict) or not isinstance(ws.get("enabled"), bool):
            raise InvalidInput(400, "malformed", "weekly_summary.enabled", "must be true or false",
                               'send {"enabled": true, "to": "admin@example.com"}')
        to = _addresses(ws.get("to"), "weekly_summary.to")
        if ws["enabled"] and not to:
            raise InvalidInput(422, "missing", "weekly_summary.to", "the weekly summary needs an "
                               "address", "send the admin email as weekly_summary.to")
        changes["weekly_summary_to"] = to if ws["enabled"] else None
    if "thresholds" in payload:
        known = {t.metric: t for t in alerts.thresholds(settings) if not t.bridge_wide}
        changes["thresholds"] = _levels(payload["thresholds"], known)
    row = session.get(SiteStatusSettings, site_id)
    if row is None:
        row = SiteStatusSettings(site_id=site_id, frame_origins=[])
        session.add(row)
    for k, v in changes.items():
        setattr(row, k, v)

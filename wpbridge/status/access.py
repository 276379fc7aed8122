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


def make_cookie(secret_key: str, kind: str, subject_id: int) -> str:
    return _serializer(secret_key, kind).dumps([subject_id, secrets.token_urlsafe(16)])


def read_cookie(secret_key: str, kind: str, value: str | None,
                max_age: int = SESSION_TTL) -> tuple[int, str] | None:
    if not value:
        return None
    try:
        subject_id, csrf = _serializer(secret_key, kind).loads(value, max_age=max_age)
        return int(subject_id), str(csrf)
    except (BadSignature, ValueError, TypeError):
        return None


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

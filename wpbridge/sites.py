"""Sites (tenants): key ids, secrets encrypted at rest, sending domains, quotas.

A site's secret signs its HTTP requests (HMAC-SHA256), so the bridge must be able to read
it back: it is stored encrypted with AES-GCM under the bridge's secret key
(``WPBRIDGE_SECRET_KEY`` or ``<data>/secret.key``), never in clear, and shown only once.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wpbridge.models import Site, SiteDomain, utcnow

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


class SiteError(ValueError):
    """A site operation cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Credentials:
    key_id: str
    secret: str


def _aead(secret_key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(secret_key.encode()).digest())


def encrypt_secret(secret_key: str, secret: str, key_id: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _aead(secret_key).encrypt(nonce, secret.encode(), key_id.encode())


def decrypt_secret(secret_key: str, blob: bytes, key_id: str) -> str:
    return _aead(secret_key).decrypt(blob[:12], blob[12:], key_id.encode()).decode()


def normalise_domain(domain: str) -> str:
    d = domain.strip().lower().rstrip(".")
    try:
        d = d.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    if not _DOMAIN.match(d):
        raise SiteError(f"{domain!r} is not a domain name; give one like example.com")
    return d


def create(session: Session, secret_key: str, name: str, domains: list[str] | None = None,
           hourly_quota: int | None = None, daily_quota: int | None = None) -> tuple[Site, Credentials]:
    """Create a site; its credentials are returned once and never again.

    The site's own host name is a sending domain unless ``domains`` are given.
    """
    name = normalise_domain(name)
    if session.scalar(select(Site.id).where(Site.name == name)) is not None:
        raise SiteError(f"site {name} exists already; use 'wpbridge site rotate-secret {name}' "
                        "for new credentials")
    creds = Credentials(key_id="wpb_" + secrets.token_hex(8), secret=secrets.token_urlsafe(32))
    site = Site(name=name, key_id=creds.key_id,
                secret_enc=encrypt_secret(secret_key, creds.secret, creds.key_id),
                hourly_quota=hourly_quota, daily_quota=daily_quota, created_at=utcnow())
    for d in sorted({normalise_domain(d) for d in (domains or [name])}):
        site.domains.append(SiteDomain(domain=d))
    session.add(site)
    session.flush()
    return site, creds


def get(session: Session, name: str) -> Site:
    site = session.scalar(select(Site).where(Site.name == normalise_domain(name))
                          .options(selectinload(Site.domains)))
    if site is None:
        raise SiteError(f"no site named {name}; 'wpbridge site list' shows the sites")
    return site


def all_sites(session: Session) -> list[Site]:
    return list(session.scalars(select(Site).options(selectinload(Site.domains)).order_by(Site.name)))


def rotate_secret(session: Session, secret_key: str, name: str) -> Credentials:
    site = get(session, name)
    creds = Credentials(key_id="wpb_" + secrets.token_hex(8), secret=secrets.token_urlsafe(32))
    site.key_id = creds.key_id
    site.secret_enc = encrypt_secret(secret_key, creds.secret, creds.key_id)
    return creds


def add_domains(session: Session, name: str, domains: list[str]) -> Site:
    site = get(session, name)
    have = {d.domain for d in site.domains}
    for d in sorted({normalise_domain(d) for d in domains} - have):
        site.domains.append(SiteDomain(domain=d))
    return site


def remove(session: Session, name: str) -> None:
    session.delete(get(session, name))




@dataclass(frozen=True)
class SiteAuth:
    """What the doors need to know of a site, cached for a few seconds per process."""

    id: int
    name: str
    key_id: str
    secret: str = field(repr=False)
    domains: frozenset[str]
    hourly_quota: int | None
    daily_quota: int | None

    def sender_allowed(self, address: str) -> bool:
        return address.rpartition("@")[2].lower().rstrip(".") in self.domains


class Directory:
    """key id -> :class:`SiteAuth`, read through a short-lived cache so that a signed request
    costs no database round trip, while a rotated secret or removed site takes effect
    within ``ttl`` seconds."""

    def __init__(self, sessions, secret_key: str, ttl: float = 5.0):
        self.sessions, self.secret_key, self.ttl = sessions, secret_key, ttl
        self._cache: dict[str, tuple[float, SiteAuth | None]] = {}
        self._lock = threading.Lock()

    def by_key_id(self, key_id: str) -> SiteAuth | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        with self.sessions() as session:
            site = session.scalar(select(Site).where(Site.key_id == key_id)
                                  .options(selectinload(Site.domains)))
            auth = None if site is None else SiteAuth(
                id=site.id, name=site.name, key_id=site.key_id,
                secret=decrypt_secret(self.secret_key, site.secret_enc, site.key_id),
                domains=frozenset(d.domain for d in site.domains),
                hourly_quota=site.hourly_quota, daily_quota=site.daily_quota)
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[key_id] = (now, auth)
        return auth

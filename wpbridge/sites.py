"""Sites (tenants): key ids, secrets encrypted at rest, sending domains, quotas, SMTP logins.

A site's secret signs its HTTP requests (HMAC-SHA256), so the bridge must be able to read
it back: it is stored encrypted with AES-GCM under the bridge's secret key
(``WPBRIDGE_SECRET_KEY`` or ``<data>/secret.key``), never in clear, and shown only once.

Separate SMTP logins (for a newsletter plugin that should not hold the site's secret) are
only ever checked, never read back: their passwords are stored as scrypt hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session, selectinload

from wpbridge.models import Site, SiteDomain, SmtpCredential, utcnow

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
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


def _token(nbytes: int) -> str:
    """A random URL-safe secret that does not start with "-": pasted after a command-line
    option (wp config set, swaks --auth-password) it would be read as an option."""
    while True:
        token = secrets.token_urlsafe(nbytes)
        if not token.startswith("-"):
            return token


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
    creds = Credentials(key_id="wpb_" + secrets.token_hex(8), secret=_token(32))
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
    creds = Credentials(key_id="wpb_" + secrets.token_hex(8), secret=_token(32))
    site.key_id = creds.key_id
    site.secret_enc = encrypt_secret(secret_key, creds.secret, creds.key_id)
    return creds


def add_domains(session: Session, name: str, domains: list[str]) -> Site:
    site = get(session, name)
    have = {d.domain for d in site.domains}
    for d in sorted({normalise_domain(d) for d in domains} - have):
        site.domains.append(SiteDomain(domain=d))
    return site


def set_senders(session: Session, name: str, from_policy: str | None = None,
                default_from: str | None = None, subdomains: bool | None = None) -> Site:
    """Change what a site may send as (see wpbridge/ingest/sender.py); ``default_from`` ""
    goes back to wordpress@<first sending domain>.

    :raise SiteError: an unknown policy, or a default sender outside the site's domains.
    """
    site = get(session, name)
    if from_policy is not None:
        if from_policy not in ("rewrite", "refuse"):
            raise SiteError(f"from policy {from_policy!r} is not rewrite or refuse")
        site.from_policy = from_policy
    if subdomains is not None:
        site.subdomains = subdomains
    if default_from is not None:
        address = default_from.strip()
        domain = address.rpartition("@")[2].lower()
        if address and (not _USERNAME.match(address.rpartition("@")[0] or "-")
                        or domain not in {d.domain for d in site.domains}):
            raise SiteError(f"{default_from!r} cannot be the default sender of {site.name}: give "
                            f"an address of one of its sending domains "
                            f"({', '.join(d.domain for d in site.domains)}), e.g. "
                            f"wordpress@{site.domains[0].domain}")
        site.default_from = address or None
    return site


def remove(session: Session, name: str) -> None:
    session.delete(get(session, name))


# scrypt at N=2**14, r=8, p=1: about 16 MiB and some 30 ms per check. The parameters are
# stored with each hash, so they can be raised later without invalidating old ones.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=_SCRYPT_MAXMEM, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: bytes, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` result (in constant time)."""
    _, n, r, p, salt, digest = stored.split("$")
    expected = base64.b64decode(digest)
    got = hashlib.scrypt(password, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                         maxmem=_SCRYPT_MAXMEM, dklen=len(expected))
    return hmac.compare_digest(got, expected)


# Checked for unknown user names, so that they take as long as a wrong password; never matches.
_NO_SUCH_LOGIN = (f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${base64.b64encode(os.urandom(16)).decode()}"
                  f"${base64.b64encode(os.urandom(32)).decode()}")


def add_smtp_credential(session: Session, name: str, username: str | None = None
                        ) -> tuple[SmtpCredential, str]:
    """Give a site an SMTP login; the password is returned once and only its hash is kept."""
    site = get(session, name)
    if username is None:
        username = "smtp_" + secrets.token_hex(8)
    elif not _USERNAME.match(username) or username.startswith("wpb_"):
        raise SiteError(f"{username!r} cannot be an SMTP user name: use up to 64 letters, digits "
                        "and . _ @ + -, not starting with wpb_ (that prefix is for key ids)")
    if session.scalar(select(SmtpCredential.id).where(SmtpCredential.username == username)):
        raise SiteError(f"the SMTP user name {username} is taken; choose another with --username, "
                        "or leave it out for a generated one")
    password = _token(24)
    cred = SmtpCredential(site_id=site.id, username=username, password_hash=hash_password(password),
                          created_at=utcnow())
    session.add(cred)
    session.flush()
    return cred, password


def smtp_credentials(session: Session, name: str) -> list[SmtpCredential]:
    site = get(session, name)
    return list(session.scalars(select(SmtpCredential).where(SmtpCredential.site_id == site.id)
                                .order_by(SmtpCredential.username)))


def remove_smtp_credential(session: Session, name: str, username: str) -> None:
    site = get(session, name)
    cred = session.scalar(select(SmtpCredential).where(SmtpCredential.site_id == site.id,
                                                       SmtpCredential.username == username))
    if cred is None:
        raise SiteError(f"site {site.name} has no SMTP user {username}; "
                        f"'wpbridge site smtp-credentials list {site.name}' shows its users")
    session.delete(cred)




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
    from_policy: str = "rewrite"
    default_from: str | None = None
    subdomains: bool = True
    # Domains other sites claim under this site's own (shop.example.com of another site when
    # this one has example.com): never covered by this site's subdomain rule.
    foreign: frozenset[str] = frozenset()

    def sender_allowed(self, address: str) -> bool:
        """Whether ``address`` is of this site's sending domains: one of them, or (with
        ``subdomains``) below one, unless another site claims that name or one between."""
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain in self.domains:
            return True
        if not self.subdomains or not domain:
            return False
        labels = domain.split(".")
        for i in range(len(labels) - 1):
            candidate = ".".join(labels[i:])
            if candidate in self.foreign:
                return False
            if candidate in self.domains:
                return True
        return False


def site_auth(session: Session, secret_key: str, site: Site) -> SiteAuth:
    """What the doors need of ``site``, with the domains other sites claim below its own."""
    own = frozenset(d.domain for d in site.domains)
    below = or_(*[SiteDomain.domain.like(f"%.{d}") for d in own]) if own else false()
    foreign = frozenset(session.scalars(select(SiteDomain.domain).where(
        SiteDomain.site_id != site.id, below))) - own
    return SiteAuth(id=site.id, name=site.name, key_id=site.key_id,
                    secret=decrypt_secret(secret_key, site.secret_enc, site.key_id),
                    domains=own, hourly_quota=site.hourly_quota, daily_quota=site.daily_quota,
                    from_policy=site.from_policy or "rewrite", default_from=site.default_from,
                    subdomains=site.subdomains is not False, foreign=foreign)


class Directory:
    """key id -> :class:`SiteAuth`, read through a short-lived cache so that a signed request
    costs no database round trip, while a rotated secret or removed site takes effect
    within ``ttl`` seconds."""

    def __init__(self, sessions, secret_key: str, ttl: float = 5.0):
        self.sessions, self.secret_key, self.ttl = sessions, secret_key, ttl
        self._cache: dict[str, tuple[float, SiteAuth | None]] = {}
        self._logins: dict[str, tuple[float, tuple[str, SiteAuth] | None]] = {}
        self._lock = threading.Lock()
        self.passwords = PasswordChecks()

    def _auth(self, session: Session, site: Site) -> SiteAuth:
        return site_auth(session, self.secret_key, site)

    def _remember(self, cache: dict, key: str, value) -> None:
        with self._lock:
            if len(cache) > 10000:
                cache.clear()
            cache[key] = value

    def by_key_id(self, key_id: str) -> SiteAuth | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        with self.sessions() as session:
            site = session.scalar(select(Site).where(Site.key_id == key_id)
                                  .options(selectinload(Site.domains)))
            auth = None if site is None else self._auth(session, site)
        self._remember(self._cache, key_id, (now, auth))
        return auth

    def by_smtp_login(self, username: str, password: bytes) -> SiteAuth | None:
        """The site whose SMTP login this is, or None. Blocks for a scrypt check unless the
        same login succeeded recently; run it off the event loop."""
        now = time.monotonic()
        hit = self._logins.get(username)
        if not _USERNAME.match(username):  # no such user can exist: spare the database
            hit = (now, None)
        elif not (hit and now - hit[0] < self.ttl):
            with self.sessions() as session:
                row = session.execute(
                    select(SmtpCredential.password_hash, Site)
                    .join(Site, Site.id == SmtpCredential.site_id)
                    .where(SmtpCredential.username == username)
                    .options(selectinload(Site.domains))).first()
                login = None if row is None else (row[0], self._auth(session, row[1]))
            hit = (now, login)
            self._remember(self._logins, username, hit)
        stored, site = hit[1] or (_NO_SUCH_LOGIN, None)
        if self.passwords.check(username, password, stored) and site is not None:
            return site
        return None


class PasswordChecks:
    """scrypt checks with a short memory of the ones that succeeded.

    A mailer may open a connection, and so log in, for every few messages: a 30 ms scrypt
    each time would cap a listener at a few dozen logins per second per core. A success is
    remembered as an HMAC, under a key that lives only in this process, of the stored hash,
    the user name and the password, so nothing usable is kept and a changed or removed
    credential no longer matches. At most ``parallel`` checks run at once, bounding the
    memory scrypt takes (16 MiB each) when many clients log in together.
    """

    def __init__(self, ttl: float = 300.0, parallel: int = 4):
        self.ttl = ttl
        self._key = os.urandom(32)
        self._ok: dict[bytes, float] = {}
        self._slots = threading.BoundedSemaphore(parallel)

    def check(self, username: str, password: bytes, stored: str) -> bool:
        tag = hmac.new(self._key, b"\0".join([stored.encode(), username.encode(), password]),
                       hashlib.sha256).digest()
        until = self._ok.get(tag)
        if until is not None and until > time.monotonic():
            return True
        with self._slots:
            ok = check_password(password, stored)
        if ok:
            if len(self._ok) > 10000:
                self._ok.clear()
            self._ok[tag] = time.monotonic() + self.ttl
        return ok

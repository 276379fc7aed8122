"""DKIM (RFC 6376; Ed25519 from RFC 8463): keys per site and sending domain, the DNS record
to publish for each, and the signature added before relay.

Keys live in ``dkim_keys``; the private key is encrypted at rest (AES-GCM under the bridge's
secret key, like site secrets). A domain's first key of an algorithm signs at once. A
further key of the same algorithm (a selector rotation) is created *pending*: it signs only
once activated, after its record is published, and from then on the newest active key
signs. The old selector stays active, and its record should stay published, until it is
removed, so that mail signed with it and still in transit verifies.

The signature is computed here with ``cryptography`` rather than with dkimpy: the same
relaxed/relaxed signature at a fraction of the cost (dkimpy signs RSA in pure Python; see
``bench/dkim_bench.py``). The tests verify every signature made here with dkimpy.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses
from typing import Any, Callable, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from wpbridge import sites
from wpbridge.models import DkimKey, utcnow

log = logging.getLogger("wpbridge.auth.dkim")

ED25519 = "ed25519-sha256"
RSA = "rsa-sha256"
# The names the command line takes -> the a= value stored and signed with.
ALGORITHMS = {"ed25519": ED25519, "rsa": RSA}
K_TAG = {ED25519: "ed25519", RSA: "rsa"}

# Signed when present, as many times as present. RFC 8058 requires List-Unsubscribe and
# List-Unsubscribe-Post to be covered by the signature of a one-click unsubscribe.
SIGNED_HEADERS = ("from", "to", "cc", "reply-to", "subject", "date", "message-id",
                  "mime-version", "content-type", "list-unsubscribe", "list-unsubscribe-post")
# Signed once more than present ("oversigned"): a second From or a second unsubscribe
# target added on the way then breaks the signature instead of riding on it.
OVERSIGNED = frozenset({"from", "list-unsubscribe", "list-unsubscribe-post"})

_SELECTOR = re.compile(r"^(?=.{1,63}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")
_FIELD_SPLIT = re.compile(rb"\r\n(?![ \t])")
# The usual From value, ``Name <local@domain>`` or ``local@domain``, read without the full
# address parser; anything else (comments, quoted @, groups) goes through getaddresses.
_SIMPLE_FROM = re.compile(r'^[^"@(),;:]*<?[^\s"@<>(),;:]+@([A-Za-z0-9.-]+)>?\s*$')


class DkimError(ValueError):
    """A DKIM key operation or signature cannot be done; the message says why and what to do."""


def algorithm_name(value: str) -> str:
    """``ed25519`` / ``rsa`` (or the a= values themselves) -> the a= value.

    :raise DkimError: anything else.
    """
    value = value.strip().lower()
    if value in ALGORITHMS.values():
        return value
    if value in ALGORITHMS:
        return ALGORITHMS[value]
    raise DkimError(f"unknown DKIM algorithm {value!r}; use ed25519 or rsa")


# -- keys and their DNS records ---------------------------------------------------------

def new_private_key(algorithm: str):
    """A fresh Ed25519 key, or an RSA-2048 key (e=65537)."""
    if algorithm_name(algorithm) == ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def load_private_key(pem: str | bytes):
    return serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, None)


def public_key_b64(key) -> str:
    """The p= value: the raw 32-byte key for Ed25519 (RFC 8463), the DER
    SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1)."""
    pub = key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        der = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        der = pub.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def txt_record(algorithm: str, public_key: str) -> str:
    """The TXT record's text: ``v=DKIM1; k=ed25519; p=...`` or ``v=DKIM1; k=rsa; p=...``."""
    return f"v=DKIM1; k={K_TAG[algorithm_name(algorithm)]}; p={public_key}"


def _aad(domain: str, selector: str) -> str:
    return f"dkim:{domain}:{selector}"


def _default_selector(algorithm: str, taken: set[str]) -> str:
    base = f"wpb{datetime.now():%Y%m}{'e' if algorithm == ED25519 else 'r'}"
    n = 1
    selector = base
    while selector in taken:
        n += 1
        selector = f"{base}{n}"
    return selector


def _site_domain(site, domain: str) -> str:
    try:
        domain = sites.normalise_domain(domain)
    except sites.SiteError as exc:
        raise DkimError(str(exc)) from None
    if domain not in {d.domain for d in site.domains}:
        raise DkimError(f"site {site.name}: {domain} is not one of this site's sending domains "
                        f"(add it with wpbridge site domains add {site.name} {domain})")
    return domain


def _site(session: Session, site_name: str):
    try:
        return sites.get(session, site_name)
    except sites.SiteError as exc:
        raise DkimError(str(exc)) from None


def generate(session: Session, secret_key: str, site_name: str, domain: str,
             algorithm: str = RSA, selector: str | None = None,
             active: bool | None = None) -> DkimKey:
    """Create a key for one of a site's sending domains and store it, encrypted.

    ``active=None`` makes the key sign at once when the domain has no active key of this
    algorithm, and pending (a rotation: see :func:`activate`) when it has one.

    :raise DkimError: unknown site, algorithm or domain; a malformed or taken selector.
    """
    site = _site(session, site_name)
    domain = _site_domain(site, domain)
    algorithm = algorithm_name(algorithm)
    # A selector names one DNS record, so it is unique per domain across all sites.
    taken = set(session.scalars(select(DkimKey.selector).where(DkimKey.domain == domain)))
    if selector is None:
        selector = _default_selector(algorithm, taken)
    selector = selector.strip().lower()
    if not _SELECTOR.match(selector):
        raise DkimError(f"{selector!r} is not a usable selector; use letters, digits and "
                        "hyphens (dots between labels), at most 63 characters, e.g. wpb2025e")
    if selector in taken:
        raise DkimError(f"selector {selector} of {domain} is in use already "
                        f"({record_name(selector, domain)}); choose another --selector")
    if active is None:
        active = session.scalar(select(DkimKey.id).where(
            DkimKey.site_id == site.id, DkimKey.domain == domain,
            DkimKey.algorithm == algorithm, DkimKey.active.is_(True)).limit(1)) is None
    key = new_private_key(algorithm)
    row = DkimKey(site_id=site.id, domain=domain, selector=selector, algorithm=algorithm,
                  private_enc=sites.encrypt_secret(secret_key, private_pem(key), _aad(domain, selector)),
                  public_key=public_key_b64(key), active=active, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def _find(session: Session, site_name: str, domain: str, selector: str) -> DkimKey:
    site = _site(session, site_name)
    domain = _site_domain(site, domain)
    row = session.scalar(select(DkimKey).where(DkimKey.site_id == site.id, DkimKey.domain == domain,
                                               DkimKey.selector == selector.strip().lower()))
    if row is None:
        raise DkimError(f"site {site.name} has no DKIM key {selector} for {domain}; "
                        f"'wpbridge dkim list --site {site.name}' shows its keys")
    return row


def activate(session: Session, site_name: str, domain: str, selector: str) -> DkimKey:
    """Let a pending key sign; being the newest active key of its algorithm, it takes over.

    :raise DkimError: no such key.
    """
    row = _find(session, site_name, domain, selector)
    row.active = True
    return row


def remove(session: Session, site_name: str, domain: str, selector: str) -> None:
    """Delete a key; mail is no longer signed with it (its DNS record can go afterwards).

    :raise DkimError: no such key.
    """
    row = _find(session, site_name, domain, selector)
    session.execute(delete(DkimKey).where(DkimKey.id == row.id))


def site_keys(session: Session, site_name: str) -> list[DkimKey]:
    site = _site(session, site_name)
    return list(session.scalars(select(DkimKey).where(DkimKey.site_id == site.id)
                                .order_by(DkimKey.domain, DkimKey.algorithm, DkimKey.id)))


def _newest_active(rows: Iterable[DkimKey]) -> dict[tuple[str, str], Any]:
    """(domain, algorithm) -> the key that signs: the newest active one."""
    chosen: dict[tuple[str, str], Any] = {}
    for row in sorted(rows, key=lambda r: r.id, reverse=True):
        if row.active:
            chosen.setdefault((row.domain, row.algorithm), row)
    return chosen


def key_states(rows: list[DkimKey]) -> dict[int, str]:
    """Key id -> ``signing``, ``active`` (an older key still published: remove it once mail
    signed with it has arrived, a few days after the rotation) or ``pending``."""
    signing = {r.id for r in _newest_active(rows).values()}
    return {r.id: "signing" if r.id in signing else "active" if r.active else "pending" for r in rows}


# -- signing ----------------------------------------------------------------------------
#
# Cost per signature (bench/dkim_bench.py): the private-key operation, one SHA-256 of the
# body, and some Python around them, kept small: canonicalisation by regexes and bytes
# methods (no loop over characters in Python), header names looked up as bytes, and the
# DKIM-Signature field built from a template cached per key and header list.

_WANTED = {name.encode(): name for name in SIGNED_HEADERS}
_NAME_BYTES = {name: raw for raw, name in _WANTED.items()}
_SPACES = re.compile(rb"  +")
_WSP_EOL = re.compile(rb" \r\n")  # after _compress: at most one SP before a line end


def _compress(data: bytes) -> bytes:
    """Runs of WSP as one SP: tabs become spaces (a plain replace), then runs of two or
    more spaces one (a regex that only stops at "  " is several times faster than one that
    stops at every space of a body, and faster than bytes.replace on text with many)."""
    if b"\t" in data:
        data = data.replace(b"\t", b" ")
    return _SPACES.sub(b" ", data)


def _relaxed_header(field_: bytes) -> bytes:
    """RFC 6376 3.4.2: lower-case name, unfolded value, runs of WSP as one SP, no WSP
    around the colon or at the end."""
    name, _, value = field_.partition(b":")
    if b"\r\n" in value:
        value = value.replace(b"\r\n", b"")
    return name.rstrip(b" \t").lower() + b":" + _compress(value).strip(b" ") + b"\r\n"


def _relaxed_headers(fields: list[tuple[str, bytes]]) -> bytes:
    """:func:`_relaxed_header` of several fields (name as the lower-case str it matched,
    the field's bytes), canonicalised in one pass: values joined by NUL, which no WSP run
    crosses, unfolded and compressed together, then split again."""
    values = [f.partition(b":")[2] for _, f in fields]
    joined = b"\0".join(values)
    if joined.count(b"\0") != len(values) - 1:  # a NUL in a value (not valid mail)
        return b"".join(_relaxed_header(f) for _, f in fields)
    if b"\r\n" in joined:
        joined = joined.replace(b"\r\n", b"")
    joined = _compress(joined).replace(b" \0", b"\0").replace(b"\0 ", b"\0").strip(b" ")
    return b"".join([b"%s:%s\r\n" % (_NAME_BYTES[name], value)
                     for (name, _), value in zip(fields, joined.split(b"\0"))])


def _relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4: runs of WSP as one SP, none at line ends, no empty lines at the end;
    a non-empty body ends with CRLF (as SMTP transmits it, so also on a last line that
    had none)."""
    body = _WSP_EOL.sub(b"\r\n", _compress(body)).rstrip(b" \r\n")
    return body + b"\r\n" if body else b""


def body_hash(raw: bytes) -> str:
    """bh= of a message (relaxed body, SHA-256), for :meth:`Signer.sign_later`: the queue
    takes it once at ingest."""
    end = raw.find(b"\r\n\r\n")
    body = b"" if end < 0 else raw[end + 4:]
    return base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode()


def _wrap(first: str, tokens: list[str], sep: str, width: int = 76) -> list[str]:
    """``first`` + tokens joined by ``sep``, folded before a token where a line gets long."""
    lines = [first + tokens[0]]
    for token in tokens[1:]:
        if len(lines[-1]) + len(sep) + len(token) > width:
            lines[-1] += sep.rstrip()
            lines.append(" " + token)
        else:
            lines[-1] += sep + token
    return lines


@functools.lru_cache(maxsize=1024)
def _template(domain: str, selector: str, algorithm: str, names: tuple[str, ...]):
    """The DKIM-Signature field of one key and header list, in pieces around its t= and bh=
    values: ``(start, middle)`` as sent (``start + t + middle + bh + END``), and the same
    in relaxed canonical form, as signed (``start + t + middle + bh + RELAXED_END``).

    The relaxed pieces come from canonicalising the field with markers in place of t= and
    bh=: neither value holds white space, so it canonicalises to itself."""
    lines = [f"DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed; d={domain};",
             f" s={selector}; t=\x00;"]
    lines += _wrap(" h=", list(names), ":")
    lines[-1] += ";"
    lines += [" bh=\x01;", " b="]
    head = "\r\n".join(lines)
    sent = head.split("\x00")[0], head.split("\x00")[1].split("\x01")[0]
    assert head.endswith(_END)
    relaxed = _relaxed_header(head.encode())[:-2]
    r_start, rest = relaxed.split(b"\x00")
    r_middle, r_end = rest.split(b"\x01")
    assert r_end == _RELAXED_END
    return sent, (r_start, r_middle)


_END = ";\r\n b="
_RELAXED_END = b"; b="


class Prepared:
    """One message split once for signing: its header fields by name and its body hash, so
    that a second signature (Ed25519 and RSA) costs only the second private-key operation.

    ``raw`` has CRLF line endings, as the queue stores it.
    """

    __slots__ = ("fields", "_body", "_body_hash", "_names", "_signed")

    def __init__(self, raw: bytes):
        end = raw.find(b"\r\n\r\n")
        head, self._body = (raw, b"") if end < 0 else (raw[:end], raw[end + 4:])
        self._body_hash: str | None = None
        self._names: tuple[str, ...] | None = None
        self._signed: bytes | None = None
        wanted = _WANTED
        self.fields: dict[str, list[bytes]] = {}
        for f in _FIELD_SPLIT.split(head.rstrip(b"\r\n")):
            colon = f.find(b":")
            if colon <= 0:
                continue
            name = wanted.get(f[:colon].rstrip(b" \t").lower())
            if name is not None:
                self.fields.setdefault(name, []).append(f)

    def from_domain(self) -> str | None:
        """The domain of the single From address; None when there is not exactly one."""
        froms = self.fields.get("from") or []
        if len(froms) != 1:
            return None
        value = froms[0].partition(b":")[2].replace(b"\r\n", b"").decode("utf-8", "replace")
        simple = _SIMPLE_FROM.match(value)
        if simple:
            domain = simple.group(1)
        else:
            addresses = [a for _, a in getaddresses([value]) if "@" in a]
            if len(addresses) != 1:
                return None
            domain = addresses[0].rpartition("@")[2]
        domain = domain.strip().lower().rstrip(".")
        try:
            domain = domain.encode("idna").decode("ascii")  # keys are stored by A-label
        except UnicodeError:
            pass
        return domain or None

    @property
    def body_hash(self) -> str:
        if self._body_hash is None:
            self._body_hash = base64.b64encode(
                hashlib.sha256(_relaxed_body(self._body)).digest()).decode()
        return self._body_hash

    def header_list(self) -> list[str]:
        """The h= names: each signed header as often as present, oversigned ones once more."""
        if self._names is None:
            names: list[str] = []
            for name in SIGNED_HEADERS:
                count = len(self.fields.get(name, ()))
                if count:
                    names += [name] * (count + (name in OVERSIGNED))
            self._names = tuple(names)
        return list(self._names)

    def signature(self, domain: str, selector: str, private_key, algorithm: str,
                  timestamp: int | None = None) -> bytes:
        """The ``DKIM-Signature:`` field (ending in CRLF) to put on top of the message.

        :raise DkimError: no From header; a key that does not fit the algorithm.
        """
        return self.pending(domain, selector, private_key, algorithm, timestamp)()

    def pending(self, domain: str, selector: str, private_key, algorithm: str,
                timestamp: int | None = None) -> "PendingSignature":
        """Everything of :meth:`signature` but the private-key operation, which the returned
        object does when called (the cryptography package lets other threads run meanwhile:
        the relay threads sign while the worker's main thread goes on).

        :raise DkimError: no From header; a key that does not fit the algorithm.
        """
        if "from" not in self.fields:
            raise DkimError("the message has no From header; DKIM signs the From header")
        algorithm = algorithm_name(algorithm)
        if isinstance(private_key, (str, bytes)):
            private_key = load_private_key(private_key)
        if algorithm == ED25519:
            if not isinstance(private_key, ed25519.Ed25519PrivateKey):
                raise DkimError("an ed25519-sha256 signature needs an Ed25519 key")
        elif not isinstance(private_key, rsa.RSAPrivateKey):
            raise DkimError("an rsa-sha256 signature needs an RSA key")
        if self._names is None:
            self.header_list()
        names = self._names
        t = str(int(time.time()) if timestamp is None else int(timestamp))
        bh = self.body_hash
        (start, middle), (r_start, r_middle) = _template(domain, selector, algorithm, names)
        if self._signed is None:
            # Header fields of one name are signed from the bottom up (RFC 6376 5.4.2); a
            # name listed more often than present (oversigned) adds nothing.
            self._signed = _relaxed_headers([(name, f) for name in SIGNED_HEADERS
                                             for f in reversed(self.fields.get(name, ()))])
        data = b"".join((self._signed, r_start, t.encode(), r_middle, bh.encode(), _RELAXED_END))
        if algorithm == ED25519:
            data = hashlib.sha256(data).digest()  # RFC 8463: PureEdDSA over the SHA-256 hash
        return PendingSignature(private_key, algorithm, data, "".join((start, t, middle, bh, _END)))


@dataclass(frozen=True)
class PendingSignature:
    """A DKIM-Signature field waiting for its private-key operation (see Prepared.pending)."""

    private_key: Any = field(repr=False)
    algorithm: str
    data: bytes = field(repr=False)
    head: str  # the field up to "b="

    def __call__(self) -> bytes:
        if self.algorithm == ED25519:
            sig = self.private_key.sign(self.data)
        else:
            sig = self.private_key.sign(self.data, _PKCS1, _SHA256)
        b = base64.b64encode(sig).decode()
        chunks = [b[:73]] + [b[i:i + 75] for i in range(73, len(b), 75)]
        return "".join((self.head, "\r\n ".join(chunks), "\r\n")).encode()


_PKCS1, _SHA256 = padding.PKCS1v15(), hashes.SHA256()


def sign(raw: bytes, domain: str, selector: str, private_key, algorithm: str,
         timestamp: int | None = None) -> bytes:
    """``raw`` with a DKIM-Signature (relaxed/relaxed, SHA-256) of ``domain`` and
    ``selector`` on top. ``private_key`` is a ``cryptography`` key object or its PEM.

    :raise DkimError: no From header; a key that does not fit the algorithm.
    """
    return Prepared(raw).signature(domain, selector, private_key, algorithm, timestamp) + raw


@dataclass(frozen=True)
class SigningKey:
    domain: str
    selector: str
    algorithm: str
    private_key: Any = field(repr=False)


class Signer:
    """Signs outgoing mail with the keys of the site's From domain.

    The key of the From domain signs, or of the nearest parent domain that has one (its
    signature aligns with the From domain under relaxed DMARC alignment). With an Ed25519
    and an RSA key, the message gets both signatures (RFC 8463 3). Keys are read through a
    cache, so that signing costs no database round trip; a key generated, activated or
    removed takes effect within ``ttl`` seconds.

    The body hash of the last message is kept with its body: a newsletter goes one
    recipient at a time (each with an unsubscribe header of its own), and its next copy
    then costs no canonicalisation and hashing of the body again, just a comparison.
    """

    MEMO_MAX = 2 * 1024 * 1024  # bodies up to this size are remembered

    def __init__(self, engine, secret_key: str, ttl: float = 60.0):
        self.engine, self.secret_key, self.ttl = engine, secret_key, ttl
        self._cache: dict[int, tuple[float, dict[str, tuple[SigningKey, ...]]]] = {}
        self._lock = threading.Lock()
        self._last_body: tuple[bytes, str] = (b"", "")

    def keys(self, site_id: int) -> dict[str, tuple[SigningKey, ...]]:
        """Domain -> the keys that sign for it (Ed25519 first)."""
        now = time.monotonic()
        hit = self._cache.get(site_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        with self.engine.connect() as conn:
            rows = conn.execute(select(DkimKey).where(DkimKey.site_id == site_id,
                                                      DkimKey.active.is_(True))).all()
        by_domain: dict[str, list[SigningKey]] = {}
        for (domain, algorithm), row in sorted(_newest_active(rows).items()):
            try:
                pem = sites.decrypt_secret(self.secret_key, row.private_enc, _aad(domain, row.selector))
                key = load_private_key(pem)
            except (InvalidTag, ValueError) as exc:
                # Mail still goes out, unsigned, rather than not at all.
                log.error("site %s: DKIM key %s of %s cannot be read (%s: was the bridge's secret "
                          "key changed?); mail from %s goes out unsigned until the key is replaced "
                          "with 'wpbridge dkim generate'", site_id, row.selector, domain,
                          type(exc).__name__, domain)
                continue
            by_domain.setdefault(domain, []).append(SigningKey(domain, row.selector, algorithm, key))
        keys = {d: tuple(sorted(k, key=lambda s: s.algorithm != ED25519)) for d, k in by_domain.items()}
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[site_id] = (now, keys)
        return keys

    def forget(self, site_id: int | None = None) -> None:
        """Drop cached keys (of one site), so the next message reads them again."""
        with self._lock:
            if site_id is None:
                self._cache.clear()
            else:
                self._cache.pop(site_id, None)

    def sign(self, site_id: int, raw: bytes, enabled: bool = True) -> bytes:
        """``raw`` signed with the keys of its From domain; unchanged when ``enabled`` is
        false (the route does not sign), or the domain has no key."""
        return self.sign_later(site_id, raw, enabled)()

    def sign_later(self, site_id: int, raw: bytes, enabled: bool = True,
                   body_hash: str | None = None) -> Callable[[], bytes]:
        """What :meth:`sign` returns, as a function to call later, in another thread: the
        canonicalisation and hashing are done now, RSA's private-key operation then (it lets
        other threads run, so relay threads sign in parallel)."""
        if not enabled:
            return lambda: raw
        keys = self.keys(site_id)
        if not keys:
            return lambda: raw
        prepared = Prepared(raw)
        domain = prepared.from_domain()
        chosen: tuple[SigningKey, ...] = ()
        while domain and "." in domain:
            chosen = keys.get(domain, ())
            if chosen:
                break
            domain = domain.partition(".")[2]
        if not chosen:
            return lambda: raw
        last_body, last_hash = self._last_body  # one tuple: safe to read from any thread
        if body_hash:  # taken at ingest (queue.rows)
            prepared._body_hash = body_hash
        elif last_hash and prepared._body == last_body:
            prepared._body_hash = last_hash
        elif len(prepared._body) <= self.MEMO_MAX:
            self._last_body = (prepared._body, prepared.body_hash)
        t = int(time.time())
        # An RSA-2048 signature takes about 0.2 ms, during which other threads run: it is left
        # to the caller's thread. Ed25519's takes less than handing it over costs: done now.
        fields = [p() if p.algorithm == ED25519 else p
                  for p in (prepared.pending(k.domain, k.selector, k.private_key, k.algorithm, t)
                            for k in chosen)]
        return lambda: b"".join(f if isinstance(f, bytes) else f() for f in fields) + raw

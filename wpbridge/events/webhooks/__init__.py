"""Provider webhooks: what SendGrid, Mailgun, Amazon SES (through SNS) and Postmark report
after a message left the bridge, turned into the same events as bounces by mail.

``POST /webhooks/<provider>/<site name>``; one flow for every provider (:func:`receive`):

1. **verify** the request as the provider documents it, with the site's secret from the
   settings (``[sites."shop.example.com".webhooks]``, each provider's ``config_keys``);
   refuse stale timestamps and replays. A refused request stores nothing.
2. **parse and normalise**: the provider's module maps its event words to our closed
   vocabulary with dict tables (a :class:`Reason`, a :class:`ByText` verdict that lets the
   receiving server's own words decide through :func:`~wpbridge.events.bounces.classify_reply`,
   or a :class:`Suppress` for unsubscribes). Words that are no outcome (opens, clicks,
   deferrals the provider keeps retrying) are left out.
3. **find the message** each event is about (:func:`locate`), and **apply the site's policy**
   (:func:`wpbridge.events.policy.apply`), keeping the raw payload on the event.

A provider is one small module: a :class:`Provider` subclass with ``verify`` and ``items``;
defining one without them fails at import.

Which message an event is about, best first: the provider's own message id, when the relay
recorded it in the provider's 250 reply (SES and SendGrid put it there); our message id,
when the provider echoes it back; the RFC 5322 Message-ID; else the newest message of the
site to that address. For our id to come back, the relay has to send it along:
``X-WPBridge-Message-Id: <id>`` (SES includes it in ``mail.headers`` when headers are
included in notifications) plus, per provider, SendGrid ``X-SMTPAPI: {"unique_args":
{"wpbridge_id": "<id>"}}``, Mailgun ``X-Mailgun-Variables: {"wpbridge_id": "<id>"}``,
Postmark ``X-PM-Metadata-wpbridge_id: <id>``, SES ``X-SES-MESSAGE-TAGS: wpbridge_id=<id>``.

Replays are refused with a table of used nonces (one row per nonce, inserted in the same
transaction as the events, kept as long as the nonce's timestamp is fresh), so a replay is
caught whichever web process it reaches.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, ClassVar, Iterable, Mapping

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import LargeBinary, func, null, select
from sqlalchemy.exc import SQLAlchemyError

from wpbridge import jsonbody, suppressions
from wpbridge.events import Group, Reason, RecipientResult, group_for, is_permanent
from wpbridge.events.bounces import classify_reply, reply_numbers
from wpbridge.events.policy import Observed, Policy, apply
from wpbridge.models import Message, Recipient, Site, utcnow
from wpbridge.sites import SiteError, normalise_domain

log = logging.getLogger("wpbridge.webhooks")
bp = Blueprint("webhooks", __name__)

EXTENSION = "wpbridge.webhooks"
MAX_BYTES = 10 * 1024 * 1024
RAW_LIMIT = 100_000        # characters of the raw payload kept on each event
BRIDGE_ID_KEY = "wpbridge_id"
BRIDGE_ID_HEADER = "X-WPBridge-Message-Id"


class Reject(Exception):
    """The request is refused with ``status``; ``reason`` says why (logged and answered)."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, dict(headers or {})


# -- the vocabulary provider tables are written in ------------------------------------------

@dataclass(frozen=True)
class ByText:
    """Let the receiving server's words decide (:func:`classify_reply`); ``fallback`` is
    the provider's own verdict, used when the words say nothing. With ``group``, the
    provider has already decided the group (SendGrid's "blocked"): the words may only
    refine the reason within it."""

    fallback: Reason
    permanent: bool = True
    group: Group | None = None

    def __post_init__(self):
        if self.group is not None and group_for(self.fallback) is not self.group:
            raise ValueError(f"fallback {self.fallback} is not in group {self.group}")


@dataclass(frozen=True)
class Suppress:
    """The provider reports a suppression itself (an unsubscribe): it goes on the list
    as is, without an event, since our vocabulary has no group for it."""

    scope: str
    reason: str


UNSUBSCRIBE = Suppress("bulk", "unsubscribe")

# What a provider table maps an event word to; None: not an outcome, ignored.
Verdict = Reason | ByText | Suppress | None


@dataclass(frozen=True)
class Ref:
    """What an event says about the message it is about (see :func:`locate`)."""

    provider_id: str | None = None   # the provider's message id, as in its 250 reply
    bridge_id: str | None = None     # our message id, echoed back by the provider
    message_id: str | None = None    # the RFC 5322 Message-ID


@dataclass(frozen=True)
class Item:
    """One recipient's news from a provider: a result (an event, then the policy) or a
    suppression the provider itself reports."""

    address: str
    result: RecipientResult | None = None
    suppress: Suppress | None = None
    ref: Ref = Ref()
    raw: str = ""


def outcome(address, verdict: Verdict, *, text="", code=None, status=None, ref: Ref = Ref(),
            raw: str = "") -> Item | None:
    """The :class:`Item` for one recipient of a provider event, or None when the event is
    no outcome or names no address. ``text`` is the receiving server's reply as the
    provider passes it on; ``code`` and ``status`` are taken from it when not given."""
    address = str(address or "").strip().lower()
    if verdict is None or "@" not in address:
        return None
    if isinstance(verdict, Suppress):
        return Item(address, suppress=verdict, ref=ref, raw=raw)
    text = " ".join(str(text or "").split())[:500]
    found_code, found_status = reply_numbers(text)
    code = code if code is not None else found_code
    status = status or found_status
    if isinstance(verdict, ByText):
        group, reason = _judge(verdict, text, code, status)
    else:
        group, reason = group_for(verdict, is_permanent(code, status)), verdict
    return Item(address, RecipientResult(address, status, group, reason, code, text), ref=ref,
                raw=raw)


def _judge(verdict: ByText, text: str, code: int | None, status: str | None) -> tuple[Group, Reason]:
    permanent = is_permanent(code, status, default=verdict.permanent)
    # The provider held the SMTP dialogue: when it calls the address dead and the words
    # name no command, they answered RCPT TO (where providers' hard bounces come from).
    assumed = "RCPT TO" if verdict.fallback is Reason.USER_UNKNOWN else None
    group, reason = classify_reply(code, status, text, default_command=assumed)
    if reason in (Reason.OTHER, Reason.DELIVERED):
        # The words say nothing: the provider's verdict, unless it calls the address dead
        # while this recipient's own code says "try again".
        reason = verdict.fallback
        if not permanent and group_for(reason) is Group.HARD:
            reason = Reason.OTHER
        group = group_for(reason, permanent)
    if verdict.group is not None and group is not verdict.group:
        group, reason = verdict.group, verdict.fallback
    return group, reason


# -- providers ------------------------------------------------------------------------------

class Provider:
    """One provider's webhook. Subclasses set ``name`` and ``config_keys`` (the per-site
    settings it needs) and fill in the hooks; the flow is :func:`receive`'s."""

    name: ClassVar[str]
    config_keys: ClassVar[tuple[str, ...]]
    # Timestamps further than this from now are refused (and nonces remembered as long).
    max_age: ClassVar[float] = 600.0
    _HOOKS: ClassVar[tuple[str, ...]] = ("verify", "items")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        missing = [h for h in cls._HOOKS if getattr(cls, h) is getattr(Provider, h)]
        missing += [a for a in ("name", "config_keys") if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"webhook provider {cls.__name__} must define {', '.join(missing)} "
                            "(see wpbridge.events.webhooks.Provider)")

    def verify(self, post: "Post") -> "Nonce | None":
        """Check the request is the provider's; return its nonce (None if the scheme has
        none). :raise Reject: 401/403 not authentic, stale or unsigned; 400 unreadable."""
        raise NotImplementedError

    def items(self, post: "Post") -> Iterable[Item]:
        """The verified payload as :class:`Item`\\ s (see :func:`outcome`).
        :raise Reject: 400, the payload is not what the provider sends."""
        raise NotImplementedError

    def control(self, post: "Post") -> tuple[int, dict] | None:
        """Answer a message that carries no events (SNS subscription handshakes) and
        return the answer; None for event payloads."""
        return None


@dataclass(frozen=True)
class Nonce:
    """What makes a verified request unique, remembered until ``until`` (epoch seconds)."""

    key: str
    until: float


@dataclass
class Post:
    """One webhook request, as the provider hooks see it."""

    body: bytes
    headers: Mapping[str, str]
    authorization: object            # werkzeug's parsed Authorization header, or None
    config: Mapping[str, str]        # the site's webhook settings
    hooks: "Hooks"
    now: float

    @cached_property
    def json(self):
        try:
            return jsonbody.loads(self.body)
        except jsonbody.Refused as exc:
            raise Reject(400, f"the body is not usable JSON: {exc}") from None

    def check_fresh(self, timestamp: float, max_age: float) -> None:
        if abs(self.now - timestamp) > max_age:
            raise Reject(403, f"stale timestamp: {abs(self.now - timestamp):.0f} s from now, "
                              f"more than the {max_age:.0f} s allowed (replayed, or a clock is wrong)")


class SeenNonces:
    """Nonces of accepted requests, until their timestamps go stale; in this process only,
    at most ``limit`` of them (the oldest are forgotten first)."""

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, conn, nonce: Nonce, now: float) -> bool:
        """Remember ``nonce``; False if it was used already. ``conn`` is the transaction
        the events go into, for a store that keeps nonces in the database."""
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if self._seen.get(nonce.key, 0) >= now:
                return False
            self._seen[nonce.key] = nonce.until
            while len(self._seen) > self.limit:
                self._seen.popitem(last=False)
            return True

    def release(self, nonce: Nonce) -> None:
        """Forget ``nonce`` again: its request was not recorded, so the retry must pass."""
        with self._lock:
            self._seen.pop(nonce.key, None)


class DbNonces:
    """Nonces of accepted requests in the database, shared by every web process. The nonce
    is inserted in the same transaction as the events, so a request that was not recorded
    leaves no nonce behind (``release`` has nothing to do)."""

    def claim(self, conn, nonce: Nonce, now: float) -> bool:
        from sqlalchemy import delete
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        from wpbridge.events.store import WebhookNonce

        t = WebhookNonce.__table__
        conn.execute(delete(t).where(t.c.until < now))
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        key = hashlib.sha256(nonce.key.encode()).hexdigest()
        row = conn.execute(insert(t).values(key=key, until=nonce.until)
                           .on_conflict_do_nothing().returning(t.c.key)).first()
        return row is not None

    def release(self, nonce: Nonce) -> None:
        pass


class FetchError(Exception):
    pass


def https_get(url: str, timeout: float = 10.0, limit: int = 256 * 1024) -> bytes:
    """GET ``url`` over verified TLS, without following redirects; at most ``limit`` bytes.
    Callers check the URL first (see :mod:`.ses`).

    :raise FetchError: not reachable, not 200, or too large.
    """
    import requests

    if not url.startswith("https://"):
        raise FetchError(f"{url}: only https URLs are fetched")
    try:
        with requests.get(url, timeout=timeout, allow_redirects=False, stream=True) as resp:
            if resp.status_code != 200:
                raise FetchError(f"{url}: HTTP {resp.status_code}")
            data = resp.raw.read(limit + 1, decode_content=True)
    except requests.RequestException as exc:
        raise FetchError(f"{url}: {exc}") from exc
    if len(data) > limit:
        raise FetchError(f"{url}: more than {limit} bytes")
    return data


@dataclass
class Hooks:
    """What the webhook flow reaches outside the request; tests replace ``fetch`` (a
    loopback server plays SNS) and ``clock``. Kept at ``app.extensions["wpbridge.webhooks"]``."""

    fetch: Callable[[str], bytes] = https_get
    clock: Callable[[], float] = time.time
    seen: "SeenNonces | DbNonces" = field(default_factory=DbNonces)
    certificates: dict = field(default_factory=dict)   # SigningCertURL -> certificate


@bp.record_once
def _install(state) -> None:
    state.app.extensions.setdefault(EXTENSION, Hooks())


# -- the flow -------------------------------------------------------------------------------

@bp.post("/webhooks/<provider>/<site_name>")
def receive(provider: str, site_name: str):
    """Take one webhook request from ``provider`` for the site ``site_name``.

    :raise 404: no such provider, or no such site.
    :raise 401/403: not authentic, stale, replayed, or webhooks of this provider are not
        configured for the site; nothing is stored.
    :raise 400: verified, but not a payload this provider sends. 413: over ``MAX_BYTES``.
    :raise 500: the site's secret is malformed (the message says which).
    :raise 503: the events could not be stored, or the SNS certificate could not be
        fetched; the provider retries.
    """
    handler = PROVIDERS.get(provider)
    if handler is None:
        return _answer(404, f"no webhook provider {provider!r}; the bridge takes "
                            f"{', '.join(sorted(PROVIDERS))}")
    bridge = current_app.extensions["wpbridge"]
    hooks: Hooks = current_app.extensions[EXTENSION]
    try:
        site = _site(bridge, site_name)
    except SQLAlchemyError:
        log.exception("site %s: could not look the site up for a %s webhook", site_name, provider)
        return _answer(503, "storage trouble; try again later", {"Retry-After": "60"})
    if site is None:
        return _answer(404, f"no site named {site_name}")
    site_id, name = site
    config = (getattr(bridge.settings, "site_webhooks", None) or {}).get(name) or {}
    missing = [k for k in handler.config_keys if not config.get(k)]
    if missing:
        log.warning("site %s: %s webhook refused, not configured", name, provider)
        return _answer(403, f"site {name} takes no {provider} webhooks: set "
                            f"{', '.join(missing)} under [sites.\"{name}\".webhooks]")
    if (request.content_length or 0) > MAX_BYTES:
        return _answer(413, f"the body is over {MAX_BYTES} bytes")
    post = Post(request.get_data(), request.headers, request.authorization, config, hooks,
                hooks.clock())
    try:
        nonce = handler.verify(post)
        answer = handler.control(post)
        if answer is not None:
            return _answer(*answer)
        items = [i for i in handler.items(post) if i is not None]
    except Reject as exc:
        log.warning("site %s: %s webhook refused (%s): %s", name, provider, exc.status, exc.reason)
        return _answer(exc.status, exc.reason, exc.headers)
    try:
        with bridge.engine.begin() as conn:
            if nonce is not None and not hooks.seen.claim(conn, nonce, post.now):
                log.warning("site %s: %s webhook refused: replayed", name, provider)
                return _answer(403, "this request was received before (replayed)")
            recorded, suppressed = record(conn, site_id, provider, items,
                                          Policy.from_settings(bridge.settings), utcnow())
    except SQLAlchemyError:
        if nonce is not None:
            hooks.seen.release(nonce)
        log.exception("site %s: could not record a %s webhook", name, provider)
        return _answer(503, "could not store the events; try again later", {"Retry-After": "60"})
    except BaseException:
        if nonce is not None:
            hooks.seen.release(nonce)
        raise
    return jsonify({"recorded": recorded, "suppressed": len(suppressed)})


def _answer(status: int, message: str | dict, headers: Mapping[str, str] | None = None):
    body = message if isinstance(message, dict) else {"error": message}
    return jsonify(body), status, dict(headers or {})


def _site(bridge, site_name: str) -> tuple[int, str] | None:
    try:
        name = normalise_domain(site_name)
    except SiteError:
        return None
    with bridge.engine.connect() as conn:
        row = conn.execute(select(Site.id, Site.name).where(Site.name == name)).first()
    return (row.id, row.name) if row else None


def record(conn, site_id: int, provider: str, items: list[Item], policy: Policy, now) -> tuple[int, list[str]]:
    """Store ``items`` for the site: results as events under the policy, suppressions the
    provider reported as they are. Returns (events stored, what was suppressed)."""
    source = f"webhook:{provider}"
    recorded, pending, suppressed = 0, [], []
    for item in items:
        message_id = locate(conn, site_id, item.address, item.ref)
        if item.result is not None:
            pending.append(Observed(site_id, item.result, source, message_id, item.raw[:RAW_LIMIT]))
            continue
        # In the order the provider reported: the first reason an address is listed for stays.
        suppressed += apply(conn, pending, policy, now)
        recorded, pending = recorded + len(pending), []
        scope, reason = item.suppress.scope, item.suppress.reason
        why = f"{source} message {message_id}" if message_id else source
        if suppressions.add(conn, site_id, item.address, scope, reason, why, now):
            suppressed.append(f"{item.address} {scope} {reason}")
    suppressed += apply(conn, pending, policy, now)
    return recorded + len(pending), suppressed


_CANDIDATES = 20           # newest messages to an address looked at
_HEAD = 8192               # bytes of a stored message searched for its Message-ID
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(?:\r?\n[ \t]+)?<([^>\r\n]+)>", re.I | re.M)


def locate(conn, site_id: int, address: str, ref: Ref) -> str | None:
    """Our id of the message an event is about, among the site's messages to ``address``:
    by the provider's id in its recorded reply, else by our id, else by the Message-ID,
    else the newest one. None when the site never sent to the address."""
    r, m = Recipient.__table__.c, Message.__table__.c
    to_address = (r.site_id == site_id, func.lower(r.address) == address)
    head = func.substr(m.raw, 1, _HEAD, type_=LargeBinary) if ref.message_id else null()
    rows = conn.execute(
        select(r.message_id, r.last_response, head.label("head"))
        .join_from(Recipient.__table__, Message.__table__, m.id == r.message_id)
        .where(*to_address).order_by(m.created_at.desc(), r.id.desc()).limit(_CANDIDATES)).all()
    if ref.provider_id and len(ref.provider_id) >= 8:
        for row in rows:
            if ref.provider_id in (row.last_response or ""):
                return row.message_id
    if ref.bridge_id:
        found = conn.execute(select(r.message_id).where(r.message_id == ref.bridge_id, *to_address)).first()
        if found is not None:
            return found.message_id
    if ref.message_id:
        wanted = ref.message_id.strip().strip("<>").encode()
        for row in rows:
            found = _MESSAGE_ID.search(bytes(row.head or b""))
            if found and found.group(1).strip() == wanted:
                return row.message_id
    return rows[0].message_id if rows else None


def bridge_id(value) -> str | None:
    """Our message id as a provider echoes it back, if it looks like one."""
    value = str(value or "").strip()
    return value if re.fullmatch(r"[0-9a-f]{32}", value) else None


def b64(value: str) -> bytes:
    """Strict base64; :raise ValueError: not base64."""
    return base64.b64decode(value.strip(), validate=True)


def digest(*parts: bytes) -> str:
    return hashlib.sha256(b"".join(parts)).hexdigest()


# The provider modules import the vocabulary above, so they come last.
from wpbridge.events.webhooks import mailgun, postmark, sendgrid, ses  # noqa: E402

PROVIDERS: dict[str, Provider] = {p.name: p() for p in (sendgrid.SendGrid, mailgun.Mailgun,
                                                         ses.SES, postmark.Postmark)}

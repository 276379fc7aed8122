"""The HTTP door: ``/api/v1``. Every request is signed (see :mod:`wpbridge.ingest.signing`).

:raise 400: malformed JSON or fields of the wrong type
:raise 401: signature missing, malformed, stale or wrong; nonce missing or reused (a replay)
:raise 413: the request or a message is larger than allowed
:raise 422: invalid content (address, header injection, sender domain, no recipients)
:raise 429: the site's quota is used up (``Retry-After``)
:raise 503: storage failed; nothing was accepted (``Retry-After``)
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from wpbridge import jsonbody, suppressions
from wpbridge.ingest import replay, signing
from wpbridge.ingest.accept import Item, QuotaExceeded, StorageError, accept
from wpbridge.ingest.message import InvalidInput, check_address, text_field, from_json
from wpbridge.models import Attempt, Message, utcnow

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_BATCH = 500
# These claim their request's nonce inside the group commit's transaction (see accept).
_NONCE_IN_COMMIT = frozenset({"api.post_message", "api.post_batch"})


def _error(status: int, code: str, message: str, fix: str, field: str | None = None,
           headers: dict | None = None, **extra) -> Response:
    body = {"error": {"code": code, "message": message, "fix": fix, **extra}}
    if field:
        body["error"]["field"] = field
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _target() -> str:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return raw
    qs = request.query_string.decode("latin-1")
    return quote(request.script_root + request.path) + (f"?{qs}" if qs else "")


@bp.before_request
def authenticate():
    if request.endpoint == "api.openapi":
        return None
    bridge = current_app.extensions["wpbridge"]
    key_id = request.headers.get(signing.KEY_HEADER, "")
    try:
        if not key_id:
            raise signing.SignatureError("missing_signature", f"the {signing.KEY_HEADER} header is missing",
                                         "sign every request (see the README, 'Signing requests')")
        window = bridge.settings.replay_window
        signing.check_timestamp(request.headers.get(signing.TS_HEADER), window)
        nonce = signing.check_nonce(request.headers.get(signing.NONCE_HEADER), request.method)
        site = bridge.sites.by_key_id(key_id)
        if site is None:
            raise signing.SignatureError("unknown_key", f"no site has the key id {key_id[:64]!r}",
                                         "check WPBRIDGE_KEY_ID; 'wpbridge site list' shows the key ids")
        ts = request.headers[signing.TS_HEADER]
        signing.verify(site.secret, key_id, ts, request.method, _target(),
                       request.get_data(cache=True), request.headers.get(signing.SIG_HEADER), nonce)
        g.nonce = None
        if nonce is not None and request.method in signing.NONCE_METHODS:
            g.nonce = replay.nonce_of(key_id, nonce, ts, window)
            if request.endpoint not in _NONCE_IN_COMMIT:
                replay.claim_alone(bridge.engine, g.nonce)
    except signing.SignatureError as exc:
        return _error(401, exc.code, exc.message, exc.fix)
    except DBAPIError:
        return _error(503, "storage_unavailable", "the bridge cannot read its database",
                      "retry later; the bridge's operator should check the database",
                      headers={"Retry-After": "5"})
    g.site = site
    return None


def _json_body():
    try:
        return jsonbody.loads(request.get_data(cache=True))
    except jsonbody.Refused as exc:
        raise InvalidInput(400, "malformed", exc.path, exc.problem,
                           "send a JSON object with Content-Type: application/json, nested at "
                           f"most {jsonbody.MAX_DEPTH} levels, with text as valid Unicode") from None


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 200):
        raise InvalidInput(400, "malformed", "Idempotency-Key", "must be 1 to 200 characters",
                           "send a unique string per message, e.g. a UUID")
    return key


def _accept(items: list[Item]):
    bridge = current_app.extensions["wpbridge"]
    return accept(bridge.engine, bridge.settings, g.site, items, g.nonce)


def _submission(payload, field: str = ""):
    """One message of the request; ``field`` prefixes the names of refused fields.

    :raise InvalidInput: as :func:`from_json`, or more recipients than ``max_recipients``
        (counted as given, before any address is parsed, as SMTP counts RCPT commands).
    """
    settings = current_app.extensions["wpbridge"].settings
    given, where = _given_recipients(payload)
    if given > settings.max_recipients:
        raise InvalidInput(422, "too_many_recipients", f"{field}{where}",
                           f"{given} recipients{' (to, cc and bcc together)' if where == 'to' else ''}, "
                           f"over the limit of {settings.max_recipients} per message",
                           f"split the recipients over messages of at most {settings.max_recipients}, "
                           "or raise WPBRIDGE_MAX_RECIPIENTS on the bridge")
    try:
        return from_json(payload, settings.max_message_bytes)
    except InvalidInput as exc:
        exc.field = f"{field}{exc.field}"
        raise


def _given_recipients(payload) -> tuple[int, str]:
    """How many recipients a message names, and the field that names them (0 when the shape
    is wrong: :func:`from_json` then says what is)."""
    if not isinstance(payload, dict):
        return 0, "to"
    if "raw" in payload:
        env = payload.get("envelope")
        rcpts = env.get("to") if isinstance(env, dict) else None
        return (len(rcpts) if isinstance(rcpts, list) else 0), "envelope.to"
    lists = [payload.get(k) for k in ("to", "cc", "bcc")]
    return sum(len(v) if isinstance(v, list) else 1 if isinstance(v, str) else 0 for v in lists), "to"


@bp.post("/messages")
def post_message():
    """Queue one message. 202 only after it is committed."""
    payload = _json_body()
    sub = _submission(payload)
    digest = hashlib.sha256(request.get_data(cache=True)).hexdigest()
    [done] = _accept([Item(sub, _idempotency_key(), digest)])
    resp = jsonify({"id": done.id, "status": "queued", "recipients": done.recipients,
                    "category": done.category})
    resp.status_code = 202
    if done.replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


@bp.post("/messages/batch")
def post_batch():
    """Queue many messages in one transaction: all are accepted, or none (the error names
    the first bad one by its index)."""
    payload = _json_body()
    messages = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(messages, list) or not messages:
        raise InvalidInput(400, "malformed", "messages", "must be a non-empty list of messages",
                           'send {"messages": [{...}, {...}]}')
    if len(messages) > MAX_BATCH:
        raise InvalidInput(413, "too_many", "messages", f"{len(messages)} messages, over {MAX_BATCH}",
                           f"split the batch into requests of at most {MAX_BATCH}")
    key = _idempotency_key()
    items = []
    for i, m in enumerate(messages):
        sub = _submission(m, f"messages[{i}].")
        digest = hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest()
        items.append(Item(sub, f"{key}#{i}" if key else None, digest))
    done = _accept(items)
    resp = jsonify({"messages": [{"id": d.id, "status": "queued", "recipients": d.recipients,
                                  "category": d.category, "replayed": d.replayed} for d in done]})
    resp.status_code = 202
    return resp


def _iso(dt) -> str | None:
    return dt.isoformat(timespec="seconds") + "Z" if dt else None


@bp.get("/messages")
def list_messages():
    """This site's log, one entry per recipient, newest first (what wp-admin lists): the
    status page's search (``recipient``, ``subject``, ``status``, ``date``) and its cursor
    (``before``, from ``next_before``). The signature covers the query string.

    :raise 400: ``date`` or ``before`` is malformed.
    """
    from wpbridge.status import figures

    a = request.args
    q = figures.LogQuery(recipient=a.get("recipient", "")[:320], subject=a.get("subject", "")[:200],
                         status=a.get("status", "")[:16], date=a.get("date", "")[:10],
                         before=a.get("before", "")[:80])
    with current_app.extensions["wpbridge"].engine.connect() as conn:
        try:
            rows = figures.message_log(conn, g.site.id, q)
        except ValueError as exc:
            raise InvalidInput(400, "malformed", "date" if q.date and "date" in str(exc) else "before",
                               str(exc), "send date as YYYY-MM-DD and before as given in next_before") from None
    return jsonify({
        "entries": [{"id": r.message_id, "created_at": _iso(r.created_at), "subject": r.subject,
                     "category": r.category, "address": r.address, "state": r.state,
                     "attempts": r.attempts, "last_code": r.last_code,
                     "last_response": r.last_response, "updated_at": _iso(r.updated_at)}
                    for r in rows],
        "next_before": q.cursor(rows[-1]) if len(rows) == q.limit else None})


@bp.get("/messages/<message_id>")
def get_message(message_id: str):
    """One message of this site with per-recipient state and attempts.

    :raise 404: no such message for this site (another site's messages are invisible).
    """
    bridge = current_app.extensions["wpbridge"]
    with bridge.sessions() as session:
        msg = session.scalar(
            select(Message).where(Message.id == message_id, Message.site_id == g.site.id)
            .options(selectinload(Message.recipients)))
        if msg is None:
            return _error(404, "not_found", f"no message {message_id[:64]!r} for site {g.site.name}",
                          "use the id returned by POST /api/v1/messages")
        attempts: dict[int, list] = {}
        for a in session.scalars(select(Attempt).where(
                Attempt.recipient_id.in_([r.id for r in msg.recipients])).order_by(Attempt.id)):
            attempts.setdefault(a.recipient_id, []).append(
                {"at": _iso(a.at), "provider": a.provider, "outcome": a.outcome, "code": a.code,
                 "response": a.response, "duration_ms": a.duration_ms})
        states = {r.state.value for r in msg.recipients}
        return jsonify({
            "id": msg.id, "created_at": _iso(msg.created_at), "subject": msg.subject,
            "from": msg.from_header, "category": msg.category, "reasons": msg.reasons,
            "context": msg.context, "size": msg.size,
            "status": states.pop() if len(states) == 1 else "partial",
            "recipients": [{
                "address": r.address, "state": r.state.value, "attempts": r.attempts,
                "next_attempt_at": _iso(r.next_attempt_at) if r.state.value == "queued" else None,
                "last_code": r.last_code, "last_response": r.last_response,
                "updated_at": _iso(r.updated_at), "history": attempts.get(r.id, []),
            } for r in msg.recipients],
        })


def _own_message(conn, message_id: str):
    return conn.execute(select(Message.id, Message.raw, Message.created_at, Message.subject)
                        .where(Message.id == message_id, Message.site_id == g.site.id)).first()


def _no_message(message_id: str) -> Response:
    return _error(404, "not_found", f"no message {message_id[:64]!r} for site {g.site.name}",
                  "use an id from the message log or POST /api/v1/messages")


@bp.get("/messages/<message_id>/content")
def get_message_content(message_id: str):
    """Headers and bodies of one message of this site, while retention keeps them
    (``body_pruned`` true, and no headers or bodies, once ``body_retention_days`` passed).

    :raise 404: no such message for this site.
    """
    from wpbridge.status.content import content_of

    bridge = current_app.extensions["wpbridge"]
    with bridge.engine.connect() as conn:
        msg = _own_message(conn, message_id)
    if msg is None:
        return _no_message(message_id)
    body = {"id": msg.id, "created_at": _iso(msg.created_at), "subject": msg.subject,
            "body_pruned": not msg.raw, "size": len(msg.raw or b"")}
    if msg.raw:
        body.update(content_of(bytes(msg.raw)))
    else:
        body.update(headers=[], text=None, html=None, attachments=[],
                    note="The body is no longer kept: the bridge keeps message bodies "
                         f"{bridge.settings.body_retention_days:g} days (body_retention_days). "
                         "The delivery record is kept.")
    return jsonify(body)


@bp.post("/messages/<message_id>/resend")
def resend_message(message_id: str):
    """Send a message of this site again (delivered ones too) as a new message; the body may
    name ``recipients`` (a subset). 202 after the copy is committed.

    :raise 404: no such message for this site.
    :raise 409: its body was pruned, or a recipient is suppressed (``field`` names it).
    :raise 422: a named address is not one of its recipients.
    """
    from wpbridge.status.actions import ResendRefused, resend_message as resend

    payload = _json_body() if request.get_data(cache=True).strip() else {}
    only = payload.get("recipients") if isinstance(payload, dict) else None
    if only is not None and (not isinstance(only, list) or not all(isinstance(a, str) for a in only)):
        raise InvalidInput(400, "malformed", "recipients", "must be a list of addresses",
                           'send {"recipients": ["alice@example.org"]} or no body for all')
    bridge = current_app.extensions["wpbridge"]
    try:
        done = resend(bridge.engine, bridge.settings, g.site, message_id, only or None)
    except ResendRefused as exc:
        status = {"not_found": 404, "not_a_recipient": 422}.get(exc.code, 409)
        extra = {"address": exc.address} if exc.address else {}
        return _error(status, exc.code, str(exc), exc.fix, "recipients" if exc.address else None,
                      **extra)
    resp = jsonify({"id": done.id, "resent_from": message_id, "status": "queued",
                    "recipients": done.recipients, "category": done.category})
    resp.status_code = 202
    return resp


@bp.get("/alert-settings")
def get_alert_settings():
    """Who hears of this site's alerts, its opt-in weekly summary, its levels."""
    from wpbridge.status import access

    bridge = current_app.extensions["wpbridge"]
    with bridge.engine.connect() as conn:
        return jsonify(access.alert_settings(conn, bridge.settings, g.site.id))


@bp.put("/alert-settings")
def put_alert_settings():
    """Change this site's alert contact, weekly summary and levels (fields left out stay;
    ``thresholds`` replaces the site's levels: metrics left out use the bridge's defaults).

    :raise 400/422: a field is malformed (named in the error); nothing is changed.
    """
    from wpbridge.status import access

    bridge = current_app.extensions["wpbridge"]
    payload = _json_body()
    with bridge.sessions() as session, session.begin():
        access.update_alert_settings(session, bridge.settings, g.site.id, payload)
    with bridge.engine.connect() as conn:
        return jsonify(access.alert_settings(conn, bridge.settings, g.site.id))


@bp.get("/suppressions")
def list_suppressions():
    """This site's suppression list, newest first; filters: reason, scope, address."""
    bridge = current_app.extensions["wpbridge"]
    try:
        limit = min(1000, max(1, int(request.args.get("limit", 100))))
        offset = max(0, int(request.args.get("offset", 0)))
        if offset > 2**53:  # past any list, and past what the databases take as an OFFSET
            raise ValueError
    except ValueError:
        raise InvalidInput(400, "malformed", "limit", "limit and offset must be integers "
                           "(offset at most 2^53)", "send e.g. ?limit=100&offset=200") from None
    with bridge.engine.connect() as conn:
        rows = suppressions.listing(conn, g.site.id, request.args.get("reason"),
                                    request.args.get("scope"), request.args.get("address"),
                                    limit, offset)
    return jsonify({"suppressions": rows})


@bp.post("/suppressions")
def add_suppression():
    """Suppress an address for this site (``scope`` all, the default, or bulk)."""
    payload = _json_body()
    if not isinstance(payload, dict):
        raise InvalidInput(400, "malformed", "body", "the body must be a JSON object",
                           'send {"address": "user@example.org", "scope": "all"}')
    address = check_address(payload.get("address"), "address")
    scope = payload.get("scope", "all")
    if scope not in suppressions.SCOPES:
        raise InvalidInput(422, "invalid_scope", "scope", f"{scope!r} is not a scope",
                           "use all (every message) or bulk (newsletters only)")
    reason = text_field(payload, "reason") or "manual"
    with current_app.extensions["wpbridge"].engine.begin() as conn:
        created = suppressions.add(conn, g.site.id, address, scope, reason[:64], "api", utcnow())
    resp = jsonify({"address": address.lower(), "scope": scope, "reason": reason[:64],
                    "created": created})
    resp.status_code = 201 if created else 200
    return resp


@bp.delete("/suppressions/<path:address>")
def delete_suppression(address: str):
    """Remove an address from this site's list (every scope, or ``?scope=``).

    :raise 404: the address is not on the list.
    """
    with current_app.extensions["wpbridge"].engine.begin() as conn:
        removed = suppressions.remove(conn, g.site.id, address, request.args.get("scope"))
    if not removed:
        return _error(404, "not_found", f"{address[:320]} is not on the suppression list of "
                      f"{g.site.name}", "GET /api/v1/suppressions lists it")
    return Response(status=204)


@bp.post("/privacy/erase")
def privacy_erase():
    """Erase what the bridge holds about one recipient of this site (the plugin calls it from
    WordPress's personal-data eraser). The suppression list keeps the address."""
    from wpbridge import privacy

    payload = _json_body()
    if not isinstance(payload, dict):
        raise InvalidInput(400, "malformed", "body", "the body must be a JSON object",
                           'send {"address": "user@example.org"}')
    address = check_address(payload.get("address"), "address")
    counts = privacy.erase(current_app.extensions["wpbridge"].engine, address, g.site.id)
    return jsonify({"address": address.lower(), "erased": counts})


@bp.post("/embed-token")
def embed_token():
    """A one-time URL of this site's status page, valid about five minutes."""
    from wpbridge.status.web import embed_token_response

    body, status = embed_token_response(current_app.extensions["wpbridge"], g.site)
    resp = jsonify(body)
    resp.status_code = status
    return resp


@bp.get("/ping")
def ping():
    """Check the key id and secret (the plugin's "Test connection")."""
    return jsonify({"ok": True, "site": g.site.name, "sending_domains": sorted(g.site.domains)})


@bp.get("/openapi.yaml")
def openapi():
    """The API description (unsigned)."""
    text = resources.files("wpbridge").joinpath("openapi.yaml").read_text()
    return Response(text, mimetype="application/yaml")


@bp.errorhandler(InvalidInput)
def _invalid(exc: InvalidInput):
    return _error(exc.status, exc.code, exc.message, exc.fix, exc.field)


@bp.errorhandler(signing.SignatureError)
def _replayed(exc: signing.SignatureError):
    return _error(401, exc.code, exc.message, exc.fix)


@bp.errorhandler(QuotaExceeded)
def _quota(exc: QuotaExceeded):
    return _error(429, "quota_exceeded", str(exc), f"retry after {exc.retry_after} s, or raise "
                  "the quota with 'wpbridge site quota'", headers={"Retry-After": str(exc.retry_after)})


@bp.errorhandler(StorageError)
def _storage(exc: StorageError):
    current_app.logger.error("%s", exc)
    return _error(503, "storage_unavailable", "the bridge could not store the message; nothing "
                  "was accepted", "retry later with the same Idempotency-Key",
                  headers={"Retry-After": "5"})


def http_error(exc: HTTPException):
    """JSON for Flask's own errors (404, 405, 413) everywhere under /api."""
    if exc.code == 413:
        return _error(413, "too_large", "the request body is larger than the bridge accepts",
                      "send smaller attachments or raise WPBRIDGE_MAX_MESSAGE_BYTES")
    return _error(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description or exc.name,
                  "see the OpenAPI document at /api/v1/openapi.yaml")

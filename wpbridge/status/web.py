"""The status pages (server-rendered, readable without JavaScript), ``/metrics`` and ``/readyz``.

``/status/embed/<token>``  one-time URL from ``POST /api/v1/embed-token``: sets a session
                           cookie for that one site (Path=/status/s/<site>/) and redirects
``/status/s/<site>/``      the site's page; ``messages`` the log with search; ``widget`` the
                           compact view of the wp-admin dashboard; ``resend``, ``unsuppress``
                           and ``recheck-dns`` (POST, with the page's CSRF token)
``/status/``               every site with its health (agency token); ``login`` / ``logout``

Every site page answers with ``Content-Security-Policy: frame-ancestors`` listing the
site's registered origins, so only the site's own wp-admin can frame it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import (Blueprint, Response, abort, current_app, jsonify, make_response,
                   redirect, render_template, request, url_for)
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from wpbridge import jsonbody
from wpbridge.auth import dns_store
from wpbridge.models import Site, utcnow
from wpbridge.sites import normalise_domain, SiteError
from wpbridge.shape.guard import pause_of
from wpbridge.shape.health import provider_rows
from wpbridge.status import access, actions, alerts, charts, figures
from wpbridge.status.metrics import GROUPS

bp = Blueprint("status", __name__, url_prefix="/status", template_folder="templates",
               static_folder="static")
ops = Blueprint("ops", __name__)
CATEGORIES = ("transactional", "notification", "bulk")
STATES = ("queued", "sending", "delivered", "failed", "expired", "suppressed")


def init_app(app) -> None:
    """Register the status pages, ``/metrics`` and ``/readyz`` on ``app``."""
    from wpbridge.status import prom

    app.register_blueprint(bp)
    app.register_blueprint(ops)
    prom.init_app(app)


def _bridge():
    return current_app.extensions["wpbridge"]


def _secure() -> bool:
    return request.is_secure or _bridge().settings.public_base.startswith("https://")


def _ttl() -> int:
    return int(getattr(_bridge().settings, "status_session_ttl", access.SESSION_TTL))


def _cookie(resp: Response, name: str, value: str, path: str, cross_site: bool) -> None:
    """HttpOnly always. Over https a framed page needs SameSite=None; Secure (partitioned by
    the top-level site, CHIPS); over plain http browsers drop SameSite=None cookies, so Lax
    (which still works when the frame is same-site, e.g. 127.0.0.1 on two ports)."""
    ttl = _ttl()
    if _secure():
        resp.set_cookie(name, value, max_age=ttl, path=path, httponly=True, secure=True,
                        samesite="None" if cross_site else "Strict", partitioned=cross_site)
    else:
        resp.set_cookie(name, value, max_age=ttl, path=path, httponly=True,
                        samesite="Lax" if cross_site else "Strict")


def _page(template: str, status: int = 200, frame_ancestors: list[str] | None = None, **ctx):
    resp = make_response(render_template(template, **ctx), status)
    ancestors = " ".join(["'self'"] + (frame_ancestors or [])) if frame_ancestors else "'none'"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        f"base-uri 'none'; frame-ancestors {ancestors}")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def _denied(message: str, status: int = 403):
    # Any page may frame a refusal: it shows no figures and offers no action, and the
    # wp-admin user sees why the frame is empty.
    return _page("status/denied.html", status, frame_ancestors=["*"], message=message)


def _site_path(name: str) -> str:
    return f"/status/s/{name}/"


# -- who is asking ---------------------------------------------------------------------

def _admin_session() -> access.Session | None:
    """An agency session from ``Authorization: Bearer`` (its use is recorded) or the cookie."""
    bridge = _bridge()
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        with bridge.engine.begin() as conn:
            token_id = access.check_admin_token(conn, auth[7:], utcnow())
        return access.Session(None, token_id, "") if token_id else None
    found = access.read_cookie(bridge.settings.secret_key, "admin",
                               request.cookies.get(access.ADMIN_COOKIE), _ttl())
    if found:
        with bridge.engine.connect() as conn:
            if access.admin_token_exists(conn, found[0]):
                return access.Session(None, found[0], found[1])
    return None


def _site_access(name: str):
    """(site, session) for the page of site ``name``, or an answer refusing it."""
    bridge = _bridge()
    try:
        name = normalise_domain(name)
    except SiteError:
        return None, _denied("There is no such status page.", 404)
    with bridge.engine.connect() as conn:
        site = conn.execute(select(Site.id, Site.name, Site.session_epoch, Site.last_rewritten_from)
                            .where(Site.name == name)).first()
    found = access.read_cookie(bridge.settings.secret_key, "site",
                               request.cookies.get(access.SITE_COOKIE), _ttl())
    if site is not None and found and found[0] == site.id and found[2] == site.session_epoch:
        return site, access.Session(site.id, None, found[1])
    admin = _admin_session()
    if admin is None:
        return None, _denied("This status page needs a fresh link: open it again from the "
                             "site's wp-admin (Settings, Mail bridge), or sign in with an "
                             "agency token.")
    if site is None:
        return None, _denied("There is no such status page.", 404)
    return site, admin


# -- embedding -----------------------------------------------------------------------------

def embed_token_response(bridge, site) -> tuple[dict, int]:
    """The body and status of ``POST /api/v1/embed-token`` for the signed-in ``site``
    (a :class:`wpbridge.sites.SiteAuth`): a one-time URL of the site's status page, valid
    ``embed_token_ttl`` seconds (default 300).

    The request body may name the ``origin`` that will frame the page (the plugin sends its
    wp-admin's, ``scheme://host[:port]``): the request is the site's own, signed, so that
    origin may frame the site's page from then on. A malformed one is answered with a warning.
    """
    ttl = int(getattr(bridge.settings, "embed_token_ttl", access.EMBED_TTL))
    try:  # the body is optional; what is not usable JSON names no origin
        raw = jsonbody.loads(request.get_data()) if request.content_length else None
    except jsonbody.Refused:
        raw = None
    wanted = raw.get("origin") if isinstance(raw, dict) else None
    warning = None
    if isinstance(wanted, str) and wanted:
        try:
            wanted = access.normalise_origin(wanted)
        except access.AccessError as exc:
            warning, wanted = str(exc), None
    else:
        wanted = None
    with bridge.engine.begin() as conn:
        token, expires = access.issue_embed_token(conn, site.id, utcnow(), ttl)
        if wanted:
            access.report_origin(conn, site.id, wanted)
        origins = access.frame_origins(conn, site.id, site.name)
    body = {"url": f"{bridge.settings.public_base}/status/embed/{token}",
            "expires_at": expires.isoformat(timespec="seconds") + "Z",
            "frame_origins": origins}
    if warning:
        body["warning"] = warning
    return body, 201


@bp.get("/embed/<token>")
def embed(token: str):
    """Exchange a one-time URL for a session cookie of its site; ``?view=widget`` lands on
    the dashboard widget instead of the page.

    :raise 403: the token is unknown, used or expired.
    """
    bridge = _bridge()
    with bridge.engine.begin() as conn:
        site_id = access.redeem_embed_token(conn, token, utcnow())
        row = conn.execute(select(Site.name, Site.session_epoch).where(Site.id == site_id)).first() \
            if site_id else None
    if row is None:
        return _denied("This link was used already or has expired (links last five minutes "
                       "and work once). Reload the page in wp-admin for a new one.")
    view = "widget" if request.args.get("view") == "widget" else ""
    resp = redirect(_site_path(row.name) + view, 303)
    _cookie(resp, access.SITE_COOKIE,
            access.make_cookie(bridge.settings.secret_key, "site", site_id, row.session_epoch),
            _site_path(row.name), cross_site=True)
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return resp


# -- the site's page -----------------------------------------------------------------------

def _filters() -> figures.Filters:
    category = request.args.get("category", "")
    group = request.args.get("group", "")
    return figures.Filters(category if category in CATEGORIES else None,
                           group if group in GROUPS else None)


@bp.get("/s/<name>/")
def site_page(name: str):
    site, session = _site_access(name)
    if site is None:
        return session
    bridge, now = _bridge(), utcnow()
    f = _filters()
    settings = bridge.settings
    with bridge.engine.connect() as conn:
        ts = {t.metric: t for t in alerts.site_thresholds(conn, settings, site.id)}
        windows = {w: figures.totals(conn, site.id, d, now, f) for w, d in figures.WINDOWS.items()}
        hourly = figures.series(conn, site.id, now, 24, f)
        daily = figures.daily_series(conn, site.id, now, 7, f)
        unfiltered = windows if f == figures.Filters() else None
        gauges = figures.queue_gauges(conn, site.id, now)
        ctx = dict(
            health=alerts.health(conn, settings, site.id, now, unfiltered, gauges),
            gauges=gauges,
            heartbeat=figures.heartbeat_age(conn, now),
            reasons=figures.failure_reasons(conn, site.id, now - timedelta(hours=24)),
            domains=figures.per_domain(conn, site.id, figures.WINDOWS["24h"], now, f.category),
            attention=figures.attention(conn, site.id, now, f, 15),
            suppressions=figures.suppression_summary(conn, site.id, now),
            history=alerts.history(conn, site.id, 10),
            origins=access.frame_origins(conn, site.id, site.name),
            providers=provider_rows(conn, settings, now),
            bulk_pause=pause_of(conn, site.id),
            sending_domains=dns_store.panel(conn, settings, site.id, site.name),
        )
    times = [t for t, _ in hourly]
    ctx["charts"] = {
        "volume": charts.stacked_bars(
            "Recipients per hour, last 24 hours", times,
            {k: [getattr(c, k) for _, c in hourly] for k in ("delivered", "deferred", "bounced")}),
        "bounce": charts.rate_line(
            "Bounce rate per hour, last 24 hours", times, [c.bounce_rate for _, c in hourly],
            ts["bounce_rate"].warn, ts["bounce_rate"].critical),
        "complaint": charts.rate_line(
            "Complaint rate per day, last 7 days", [t for t, _ in daily],
            [c.complaint_rate for _, c in daily], ts["complaint_rate"].warn,
            ts["complaint_rate"].critical, label_fmt="%a %d", every=1),
    }
    return _page("status/site.html", frame_ancestors=ctx["origins"], site=site, session=session,
                 windows=windows, filters=f, thresholds=ts, now=now, groups=GROUPS,
                 categories=CATEGORIES, outbox=not settings.providers,
                 resent=request.args.get("resent"), done=request.args.get("done"),
                 base=_site_path(site.name), **ctx)


@bp.get("/s/<name>/widget")
def widget(name: str):
    """The wp-admin dashboard's compact view: health, today's counts, the last failure with
    the provider's answer, and a link to the whole page (same session as the page)."""
    site, session = _site_access(name)
    if site is None:
        return session
    bridge, now = _bridge(), utcnow()
    with bridge.engine.connect() as conn:
        health = alerts.health(conn, bridge.settings, site.id, now)
        day = figures.today(conn, site.id, now)
        last = figures.recent_failures(conn, site.id, 1)
        gauges = figures.queue_gauges(conn, site.id, now)
        origins = access.frame_origins(conn, site.id, site.name)
    return _page("status/widget.html", frame_ancestors=origins, site=site, health=health,
                 day=day, last=last[0] if last else None, waiting=sum(g.depth for g in gauges),
                 now=now, outbox=not bridge.settings.providers, base=_site_path(site.name))


@bp.get("/s/<name>/messages")
def message_log(name: str):
    site, session = _site_access(name)
    if site is None:
        return session
    a = request.args
    q = figures.LogQuery(
        recipient=a.get("recipient", "")[:320], subject=a.get("subject", "")[:200],
        status=a.get("status", "") if a.get("status") in STATES else "",
        date=a.get("date", "")[:10], category=a.get("category", "") if a.get("category") in CATEGORIES else "",
        group=a.get("group", "") if a.get("group") in GROUPS else "",
        before=a.get("before", "")[:80])
    error = None
    with _bridge().engine.connect() as conn:
        origins = access.frame_origins(conn, site.id, site.name)
        try:
            rows = figures.message_log(conn, site.id, q)
        except ValueError as exc:
            rows, error = [], str(exc)
    more = None
    if len(rows) == q.limit:
        args = {k: v for k, v in a.items() if k not in ("before", "resent")}
        more = "?" + urlencode({**args, "before": q.cursor(rows[-1])})
    return _page("status/messages.html", frame_ancestors=origins, site=site, session=session,
                 q=q, rows=rows, error=error, more=more, states=STATES, categories=CATEGORIES,
                 groups=GROUPS, base=_site_path(site.name), resent=a.get("resent"),
                 back=request.full_path)


def _form_site(name: str):
    """(site, None) for a POST from the site's page, or (None, the refusal)."""
    site, session = _site_access(name)
    if site is None:
        return None, session
    # A bearer token is never sent by a browser on its own: no CSRF to fear there.
    bearer = session.admin_token_id is not None and not session.csrf
    if not bearer and not access.csrf_ok(session, request.form.get("csrf")):
        return None, _denied("The form was too old or not from this page; reload the page and try again.")
    return site, None


def _back(site, key: str, outcome: str):
    back = request.form.get("back", "")
    if not back.startswith(_site_path(site.name)):
        back = _site_path(site.name)
    sep = "&" if "?" in back else "?"
    return redirect(f"{back}{sep}{key}={outcome}", 303)


@bp.post("/s/<name>/resend")
def resend(name: str):
    """Queue a failed recipient again.

    :raise 403: no session for this site, or the CSRF token is missing or wrong.
    """
    site, refused = _form_site(name)
    if site is None:
        return refused
    bridge = _bridge()
    try:
        rid = int(request.form.get("recipient_id", ""))
    except ValueError:
        abort(400)
    with bridge.engine.begin() as conn:
        outcome = actions.resend(conn, site.id, rid, utcnow(), bridge.settings.max_age)
    return _back(site, "resent", outcome)


@bp.post("/s/<name>/unsuppress")
def unsuppress(name: str):
    """Take an address off the site's suppression list (every scope).

    :raise 403: no session for this site, or the CSRF token is missing or wrong.
    """
    site, refused = _form_site(name)
    if site is None:
        return refused
    from wpbridge import jsonbody, suppressions

    address = request.form.get("address", "")[:320]
    with _bridge().engine.begin() as conn:
        removed = suppressions.remove(conn, site.id, address)
    return _back(site, "done", "unsuppressed" if removed else "not_suppressed")


@bp.post("/s/<name>/recheck-dns")
def recheck_dns(name: str):
    """Make the site's sending domains due for a DNS check (a worker checks them within
    ``dns_recheck_interval``, two minutes by default).

    :raise 403: no session for this site, or the CSRF token is missing or wrong.
    """
    site, refused = _form_site(name)
    if site is None:
        return refused
    with _bridge().engine.begin() as conn:
        dns_store.make_due(conn, site.id, utcnow())
    return _back(site, "done", "dns_due")


# -- the agency's view ---------------------------------------------------------------------

@bp.get("/")
def agency():
    bridge, now = _bridge(), utcnow()
    session = _admin_session()
    if session is None:
        return redirect(url_for("status.login"), 303)
    rows = []
    with bridge.engine.connect() as conn:
        for site_id, name in conn.execute(select(Site.id, Site.name).order_by(Site.name)).all():
            day = figures.totals(conn, site_id, figures.WINDOWS["24h"], now)
            gauges = figures.queue_gauges(conn, site_id, now)
            rows.append((name, alerts.health(conn, bridge.settings, site_id, now, {"24h": day}, gauges),
                         day, sum(g.depth for g in gauges)))
        heartbeat = figures.heartbeat_age(conn, now)
    order = {alerts.CRITICAL: 0, alerts.WARNING: 1, alerts.OK: 2}
    rows.sort(key=lambda r: (order[r[1].level], r[0]))
    return _page("status/agency.html", rows=rows, heartbeat=heartbeat, now=now,
                 outbox=not bridge.settings.providers)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """An agency token in a form, exchanged for a cookie (Path=/status/, SameSite=Strict)."""
    bridge = _bridge()
    if request.method == "GET":
        return _page("status/login.html")
    with bridge.engine.begin() as conn:
        token_id = access.check_admin_token(conn, request.form.get("token", ""), utcnow())
    if token_id is None:
        return _page("status/login.html", 403, error="That is not a valid agency token "
                     "('wpbridge admin create-token' makes one).")
    resp = redirect(url_for("status.agency"), 303)
    _cookie(resp, access.ADMIN_COOKIE, access.make_cookie(bridge.settings.secret_key, "admin", token_id),
            "/status/", cross_site=False)
    return resp


@bp.post("/logout")
def logout():
    resp = redirect(url_for("status.login"), 303)
    resp.delete_cookie(access.ADMIN_COOKIE, path="/status/")
    return resp


@bp.app_template_filter("age")
def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


@bp.app_template_filter("pct")
def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


@bp.app_template_filter("secs")
def _secs(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


@bp.app_template_filter("when")
def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else "–"


# -- operations ----------------------------------------------------------------------------

WRITE_PROBE_TTL = 3.0  # seconds one write probe's answer stands for
_PROBES_LOCK = threading.Lock()


def _write_refused(engine, now: datetime) -> str | None:
    """Why the database refuses a small write (None: it took one), probed at most every
    ``WRITE_PROBE_TTL`` seconds per process: a read-only database or a full disk still
    answers SELECT, and /readyz must not say ready while every write fails."""
    cache = current_app.extensions.setdefault("wpbridge.write_probe", {})
    with _PROBES_LOCK:
        if time.monotonic() - cache.get("at", float("-inf")) < WRITE_PROBE_TTL:
            return cache["refused"]
        refused = None
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SET LOCAL statement_timeout = 2000"))
                figures.probe_write(conn, f"{socket.gethostname()}:{os.getpid()}"[:64], now)
        except DBAPIError as exc:
            refused = str(exc.orig or exc).strip()[:200]
        cache.update(at=time.monotonic(), refused=refused)
        return refused


def _readiness() -> tuple[dict, int]:
    bridge, now = _bridge(), utcnow()
    limit = float(getattr(bridge.settings, "readyz_heartbeat", 60))
    try:
        with bridge.engine.connect() as conn:
            figures.database_ok(conn)
            age = figures.heartbeat_age(conn, now)
    except DBAPIError as exc:
        return {"ok": False, "database": "unreachable",
                "reason": f"the database does not answer: {str(exc.orig or exc)[:200]}"}, 503
    refused = _write_refused(bridge.engine, now)
    if refused:
        return {"ok": False, "database": "read-only",
                "reason": f"the database does not take writes ({refused}); new mail is refused "
                          "with 503 / 451 until it does: check disk space and the database's "
                          "permissions"}, 503
    if age is None or age > limit:
        reason = ("no worker has reported yet" if age is None else
                  f"the freshest worker heartbeat is {age:.0f} s old (limit {limit:.0f} s)")
        return {"ok": False, "database": "ok", "worker_heartbeat_age": age,
                "reason": reason + "; start 'wpbridge worker' or check its log"}, 503
    return {"ok": True, "database": "ok", "worker_heartbeat_age": round(age, 1)}, 200


@ops.get("/readyz")
def readyz():
    """200 when the database answers and takes a small write, and a worker beat within
    ``readyz_heartbeat`` seconds (default 60); 503 with the reason otherwise."""
    body, status = _readiness()
    return jsonify(body), status


@ops.get("/")
def root():
    """What this is, whether it is healthy (as /readyz), and where the status pages and the
    API description are; it names no site."""
    body, status = _readiness()
    return _page("status/root.html", 200, healthy=body["ok"], reason=body.get("reason", ""),
                 age=_age(body.get("worker_heartbeat_age")))

"""Alerts: warning and critical levels per metric, with hysteresis and escalation.

The decision is pure (:func:`level_for`, :func:`notice_for`): figures in, levels and
notices out, tested with tables. :func:`check` gathers the figures, moves each stored
level with a guarded UPDATE (``... WHERE version = :seen``), so that of many workers
evaluating at once exactly one sends the notice, and sends it: email through the bridge's
own queue (or straight to an SMTP server when the bridge's own delivery is what is broken),
a generic JSON webhook, a Slack-compatible webhook.

Escalation: a warning goes to the site's contact; a critical level also to the bridge's
operator (the agency); a level that stays is repeated after ``alert_renotify`` seconds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

import requests
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from wpbridge.models import AlertEvent, AlertState, Lane, Site, utcnow
from wpbridge.status import access, figures

log = logging.getLogger("wpbridge.alerts")

OK, WARNING, CRITICAL = "ok", "warning", "critical"
RANK = {OK: 0, WARNING: 1, CRITICAL: 2}
BRIDGE = 0  # site_id of the alerts about the bridge itself


@dataclass(frozen=True)
class Threshold:
    """A metric's levels. A warning starts at ``warn`` and ends below ``warn_clear``; a
    critical level starts at ``critical`` and falls back to warning below
    ``critical_clear``. Rates count only with ``min_volume`` recipients behind them."""

    metric: str
    label: str
    warn: float
    critical: float
    warn_clear: float
    critical_clear: float
    min_volume: int = 0
    unit: str = "%"  # % (a share, shown x100) or s (seconds)
    bridge_wide: bool = False

    def show(self, value: float | None) -> str:
        if value is None:
            return "no data"
        if self.unit == "%":
            return f"{value * 100:.2f}%".replace(".00%", "%")
        if value >= 120:
            return f"{value / 60:.0f} min"
        return f"{value:.0f} s"


DEFAULTS: tuple[Threshold, ...] = (
    Threshold("bounce_rate", "bounce rate (1 h)", 0.03, 0.08, 0.02, 0.06, min_volume=20),
    # Gmail's bands: keep complaints under 0.1%, never reach 0.3%.
    Threshold("complaint_rate", "complaint rate (24 h)", 0.001, 0.003, 0.0008, 0.002, min_volume=200),
    Threshold("deferred_share", "deferred share (1 h)", 0.20, 0.50, 0.15, 0.40, min_volume=20),
    Threshold("oldest_transactional", "oldest queued transactional message", 300, 900, 240, 720,
              unit="s"),
    Threshold("connection_failures", "provider connection failures (15 min)", 0.10, 0.50, 0.05,
              0.30, min_volume=5),
    Threshold("worker_heartbeat", "worker heartbeat", 60, 300, 45, 120, unit="s", bridge_wide=True),
)


TUNABLE = ("warn", "critical", "warn_clear", "critical_clear", "min_volume")


def thresholds(settings, site_levels: dict | None = None) -> tuple[Threshold, ...]:
    """The defaults with ``alert_thresholds`` overrides (``{metric: {warn: .., critical: ..,
    warn_clear: .., critical_clear: .., min_volume: ..}}``), then a site's own ``warn`` and
    ``critical`` (``site_levels``, set from wp-admin), whose clear levels keep the default's
    distance in proportion."""
    overrides = getattr(settings, "alert_thresholds", None) or {}
    out = []
    for t in DEFAULTS:
        changes = {k: v for k, v in (overrides.get(t.metric) or {}).items() if k in TUNABLE}
        t = dataclasses.replace(t, **changes)
        own = (site_levels or {}).get(t.metric) or {}
        if own and not t.bridge_wide:
            warn, critical = float(own.get("warn", t.warn)), float(own.get("critical", t.critical))
            t = dataclasses.replace(t, warn=warn, critical=critical,
                                    warn_clear=warn * t.warn_clear / t.warn,
                                    critical_clear=critical * t.critical_clear / t.critical)
        out.append(t)
    return tuple(out)


def site_thresholds(conn, settings, site_id: int) -> tuple[Threshold, ...]:
    """:func:`thresholds` with the levels the site set for itself."""
    conf = access.site_settings(conn, site_id) if site_id != BRIDGE else None
    return thresholds(settings, conf.thresholds if conf is not None else None)


@dataclass(frozen=True)
class Figure:
    value: float | None
    volume: int = 0


def level_for(t: Threshold, fig: Figure, previous: str) -> str:
    """The new level of one metric: pure, with hysteresis."""
    if fig.value is None or fig.volume < t.min_volume:
        return OK
    v = fig.value
    if v >= t.critical or (previous == CRITICAL and v >= t.critical_clear):
        return CRITICAL
    if v >= t.warn or (previous in (WARNING, CRITICAL) and v >= t.warn_clear):
        return WARNING
    return OK


@dataclass(frozen=True)
class Notice:
    kind: str  # raised | escalated | lowered | cleared | reminder
    level: str  # the level the notice is about (for cleared: the one that ended)
    to_operator: bool  # critical, or the end of a critical level, or a bridge-wide metric


def notice_for(previous: str, new: str, notified_at: datetime | None, now: datetime,
               renotify: timedelta, bridge_wide: bool = False) -> Notice | None:
    """Who hears of a level: pure. A change is always told; a level that stays is told
    again after ``renotify``; ok staying ok is never told."""
    if new != previous:
        if new == OK:
            kind, about = "cleared", previous
        elif RANK[new] > RANK[previous]:
            kind, about = ("raised" if previous == OK else "escalated"), new
        else:
            kind, about = "lowered", new
        to_operator = bridge_wide or about == CRITICAL or previous == CRITICAL
        return Notice(kind, about, to_operator)
    if new != OK and (notified_at is None or now - notified_at >= renotify):
        return Notice("reminder", new, bridge_wide or new == CRITICAL)
    return None


# -- figures ----------------------------------------------------------------------------

def site_figures(conn, site_id: int, now: datetime,
                 windows: dict[str, figures.Counts] | None = None,
                 gauges: list[figures.LaneGauge] | None = None) -> dict[str, Figure]:
    """The figures the site's alerts judge; ``windows`` (the 1h and 24h totals) and
    ``gauges`` when the caller has them already."""
    windows = windows or {}
    gauges = gauges if gauges is not None else figures.queue_gauges(conn, site_id, now)
    hour = windows.get("1h") or figures.totals(conn, site_id, figures.WINDOWS["1h"], now)
    day = windows.get("24h") or figures.totals(conn, site_id, figures.WINDOWS["24h"], now)
    failed, tries = figures.connection_failures(conn, site_id, now - timedelta(minutes=15))
    oldest = next(g.oldest_age for g in gauges if g.lane == Lane.transactional.name)
    return {
        "bounce_rate": Figure(hour.bounce_rate, hour.delivered + hour.bounced),
        "complaint_rate": Figure(day.complaint_rate, day.delivered),
        "deferred_share": Figure(hour.deferred_share, hour.tries),
        "oldest_transactional": Figure(oldest, 1 if oldest is not None else 0),
        "connection_failures": Figure(failed / tries if tries else None, tries),
    }


def bridge_figures(conn, now: datetime) -> dict[str, Figure]:
    age = figures.heartbeat_age(conn, now)
    # No worker ever started: as bad as one that stopped long ago.
    return {"worker_heartbeat": Figure(age if age is not None else float("inf"), 1)}


@dataclass
class Health:
    """``unjudged``: (threshold, volume) of each rate that had too little mail behind it to
    be judged, so that "ok" is not read as "all good" when nothing could be measured."""

    level: str
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    unjudged: list[tuple[Threshold, int]] = field(default_factory=list)

    @property
    def headline(self) -> str:
        """What the banner leads with."""
        if self.level != OK:
            return {WARNING: "Warning", CRITICAL: "Critical"}[self.level]
        first = next(((t, v) for t, v in self.unjudged if t.metric == "bounce_rate"), None)
        if first:
            return f"Too few messages to judge ({first[1]} of {first[0].min_volume})"
        return "All good"

    @property
    def css(self) -> str:
        return "unjudged" if self.headline.startswith("Too few") else self.level

    def notes(self) -> list[str]:
        return [f"{t.label}: too few messages to judge ({v} of {t.min_volume} needed)"
                for t, v in self.unjudged]


def stored_levels(conn, site_ids: list[int]) -> dict:
    """(site id, metric) -> the alert_states row."""
    rows = conn.execute(select(AlertState.__table__).where(AlertState.site_id.in_(site_ids)))
    return {(s.site_id, s.metric): s for s in rows}


def health(conn, settings, site_id: int, now: datetime,
           windows: dict[str, figures.Counts] | None = None,
           gauges: list[figures.LaneGauge] | None = None) -> Health:
    """The site's health now: every metric's level from live figures, with the stored
    levels for hysteresis (nothing is written). ``windows``: unfiltered 1h/24h totals."""
    figs = {**site_figures(conn, site_id, now, windows, gauges), **bridge_figures(conn, now)}
    stored = {k: s.level for k, s in stored_levels(conn, [site_id, BRIDGE]).items()}
    h = Health(OK)
    for t in site_thresholds(conn, settings, site_id):
        owner = BRIDGE if t.bridge_wide else site_id
        prev = stored.get((owner, t.metric), OK)
        if t.min_volume and figs[t.metric].volume < t.min_volume:
            h.unjudged.append((t, figs[t.metric].volume))
        level = level_for(t, figs[t.metric], prev)
        h.metrics[t.metric] = (level, figs[t.metric].value)
        if level != OK:
            h.reasons.append(describe(t, level, figs[t.metric].value))
            if RANK[level] > RANK[h.level]:
                h.level = level
    h.reasons.sort(key=lambda r: not r.startswith("critical"))
    return h


def describe(t: Threshold, level: str, value: float | None) -> str:
    limit = t.critical if level == CRITICAL else t.warn
    if level == OK:
        return f"{t.label} is back to normal: {t.show(value)}"
    if value == float("inf"):
        return f"{level}: no worker has reported yet (start 'wpbridge worker' or 'wpbridge serve')"
    return f"{level}: {t.label} is {t.show(value)} (threshold {t.show(limit)})"


# -- state changes ------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    site_id: int
    site_name: str | None
    threshold: Threshold
    previous: str
    level: str
    value: float | None
    notice: Notice


def _ensure_rows(engine, keys: list[tuple[int, str]], now: datetime) -> None:
    with engine.connect() as conn:
        have = set(conn.execute(select(AlertState.site_id, AlertState.metric)).all())
    for site_id, metric in keys:
        if (site_id, metric) in have:
            continue
        try:
            with engine.begin() as conn:
                conn.execute(insert(AlertState.__table__).values(
                    site_id=site_id, metric=metric, level=OK, since=now, updated_at=now, version=0))
        except IntegrityError:
            pass  # another worker made it first


def evaluate(engine, settings, now: datetime, site_ids: list[int] | None = None) -> list[Change]:
    """Move every stored level to what the figures say; return the changes this process
    won (each to be notified by it alone)."""
    renotify = timedelta(seconds=float(getattr(settings, "alert_renotify", 4 * 3600)))
    ts = thresholds(settings)
    with engine.connect() as conn:
        q = select(Site.id, Site.name).order_by(Site.id)
        if site_ids is not None:
            q = q.where(Site.id.in_(site_ids))
        sites = conn.execute(q).all()
        figs = {BRIDGE: bridge_figures(conn, now)}
        levels = {BRIDGE: {t.metric: t for t in ts}}
        for site_id, _ in sites:
            figs[site_id] = site_figures(conn, site_id, now)
            levels[site_id] = {t.metric: t for t in site_thresholds(conn, settings, site_id)}
    names = {sid: name for sid, name in sites}
    keys = [(BRIDGE if t.bridge_wide else sid, t.metric) for t in ts
            for sid in ([BRIDGE] if t.bridge_wide else list(names))]
    _ensure_rows(engine, keys, now)
    with engine.connect() as conn:
        stored = stored_levels(conn, list(names) + [BRIDGE])
    won: list[Change] = []
    for owner, metric in keys:
        t, state = levels[owner][metric], stored[(owner, metric)]
        fig = figs[owner][metric]
        level = level_for(t, fig, state.level)
        notice = notice_for(state.level, level, state.notified_at, now, renotify, t.bridge_wide)
        if notice is None:  # every change of level has a notice; nothing else is written
            continue
        values = {"level": level, "notified_at": now, "updated_at": now,
                  "value": None if fig.value in (None, float("inf")) else fig.value,
                  "version": state.version + 1}
        if level != state.level:
            values["since"] = now
        with engine.begin() as conn:
            moved = conn.execute(update(AlertState.__table__).where(
                AlertState.id == state.id, AlertState.version == state.version).values(**values)).rowcount
        if moved:
            won.append(Change(owner, names.get(owner), t, state.level, level, fig.value, notice))
    return won


# -- notices --------------------------------------------------------------------------------

def _split(addresses: str | None) -> list[str]:
    return [a.strip() for a in (addresses or "").split(",") if a.strip()]


def subject_of(c: Change) -> str:
    where = c.site_name or "the bridge"
    if c.notice.kind == "cleared":
        return f"[wpbridge] resolved: {c.threshold.label} for {where}"
    word = {"reminder": "still "}.get(c.notice.kind, "")
    return f"[wpbridge] {word}{c.level.upper()}: {c.threshold.label} for {where}"


def body_of(c: Change, status_url: str) -> str:
    lines = [subject_of(c)[11:], "", describe(c.threshold, c.level, c.value),
             f"Previous level: {c.previous}.", ""]
    if c.level != OK:
        lines.append(ADVICE.get(c.threshold.metric, ""))
    lines += ["", f"Status page: {status_url}"]
    return "\n".join(lines).strip() + "\n"


ADVICE = {
    "bounce_rate": "Many addresses do not exist: check recent sign-ups and imported lists; "
                   "hard bounces are suppressed automatically.",
    "complaint_rate": "Recipients mark mail as spam: send newsletters only to people who asked "
                      "for them and keep the unsubscribe link visible.",
    "deferred_share": "Mailbox providers delay the mail: see the per-domain table; slow bulk "
                      "sending down if one provider defers most of it.",
    "oldest_transactional": "Receipts and account mail are waiting: check that a worker runs "
                            "and that the provider accepts connections.",
    "connection_failures": "The bridge cannot reach its provider: check the provider's status, "
                           "credentials and the network.",
    "worker_heartbeat": "No delivery worker is alive: start 'wpbridge worker' (or 'wpbridge "
                        "serve') and check its log.",
}
# Metrics that mean the bridge's own delivery is broken: their email goes straight to the
# fallback SMTP server when one is set, since the queue would hold it.
DIRECT = {"worker_heartbeat", "oldest_transactional", "connection_failures"}


def notify(engine, settings, changes: list[Change], now: datetime) -> None:
    """Send each change to its channels and record it in the history."""
    for c in changes:
        with engine.connect() as conn:
            conf = access.site_settings(conn, c.site_id) if c.site_id != BRIDGE else None
        base = settings.public_base
        status_url = f"{base}/status/s/{c.site_name}/" if c.site_name else f"{base}/status/"
        emails = _split(conf.contact_email if conf else None)
        hooks = [u for u in [conf.webhook_url if conf else None] if u]
        slacks = [u for u in [conf.slack_url if conf else None] if u]
        if c.notice.to_operator:
            emails += [a for a in _split(getattr(settings, "alert_operator_email", "")) if a not in emails]
            hooks += [u for u in [getattr(settings, "alert_webhook_url", "")] if u]
            slacks += [u for u in [getattr(settings, "alert_slack_url", "")] if u]
        sent = []
        subject, body = subject_of(c), body_of(c, status_url)
        value = None if c.value == float("inf") else c.value
        if emails:
            sent.append(_email(engine, settings, c, emails, subject, body))
        payload = {"site": c.site_name, "metric": c.threshold.metric, "label": c.threshold.label,
                   "level": c.level, "previous": c.previous, "kind": c.notice.kind,
                   "value": value, "reason": describe(c.threshold, c.level, c.value),
                   "status_url": status_url,
                   "at": now.isoformat(timespec="seconds") + "Z"}
        for url in dict.fromkeys(hooks):
            sent.append(_post(url, payload, "webhook"))
        for url in dict.fromkeys(slacks):
            sent.append(_post(url, {"text": f"{subject}\n{payload['reason']}\n{status_url}"}, "slack"))
        with engine.begin() as conn:
            conn.execute(insert(AlertEvent.__table__).values(
                site_id=c.site_id, metric=c.threshold.metric, at=now, from_level=c.previous,
                to_level=c.level, value=value, reason=payload["reason"], sent_to=sent))


def _post(url: str, payload: dict, kind: str) -> str:
    where = f"{kind} {urlsplit(url).netloc}"
    try:
        resp = requests.post(url, data=json.dumps(payload), timeout=10,
                             headers={"Content-Type": "application/json"})
        resp.raise_for_status()
        return where
    except requests.RequestException as exc:
        log.warning("alert %s failed: %s", where, exc)
        return f"{where} (failed: {str(exc)[:200]})"


def _email(engine, settings, c: Change, to: list[str], subject: str, body: str) -> str:
    direct = getattr(settings, "alert_smtp_url", "")
    if direct and (c.threshold.metric in DIRECT or c.site_id == BRIDGE):
        return _email_direct(direct, settings, to, subject, body)
    if c.site_id == BRIDGE:
        return "email skipped (bridge-wide alert: set alert_smtp_url to mail it directly)"
    from wpbridge.status.mail import MailError, send_as_site

    try:
        send_as_site(engine, settings, c.site_id, to, subject, body, kind="alert")
        return "email " + ", ".join(to)
    except MailError as exc:
        log.warning("alert email for site %s failed: %s", c.site_name, exc)
        return f"email failed: {exc}"


def _email_direct(url: str, settings, to: list[str], subject: str, body: str) -> str:
    parts = urlsplit(url)
    sender = getattr(settings, "alert_from", "") or "wpbridge@localhost"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), subject
    msg["Date"], msg["Message-ID"] = formatdate(usegmt=True), make_msgid(domain="wpbridge.invalid")
    msg.set_content(body)
    try:
        with smtplib.SMTP(parts.hostname or "127.0.0.1", parts.port or 25, timeout=15) as smtp:
            if parts.scheme == "smtp+starttls":
                smtp.starttls()
            if parts.username:
                smtp.login(parts.username, parts.password or "")
            smtp.send_message(msg)
        return "email (direct) " + ", ".join(to)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("direct alert email failed: %s", exc)
        return f"email (direct) failed: {exc}"


def check(engine, settings, now: datetime | None = None,
          site_ids: list[int] | None = None) -> list[Change]:
    """Evaluate and notify (``wpbridge alerts check``, and the worker through :func:`run_due`)."""
    now = now or utcnow()
    changes = evaluate(engine, settings, now, site_ids)
    notify(engine, settings, changes, now)
    return changes


def run_due(engine, settings, now: datetime | None = None) -> list[Change]:
    """What a worker calls often: evaluates at most once per ``alert_interval`` seconds
    across all workers (a guarded UPDATE elects the one that does), then sends the
    periodic reports that are due."""
    now = now or utcnow()
    interval = timedelta(seconds=float(getattr(settings, "alert_interval", 60)))
    _ensure_rows(engine, [(BRIDGE, "_evaluated")], now - interval)
    with engine.begin() as conn:
        mine = conn.execute(update(AlertState.__table__).where(
            AlertState.site_id == BRIDGE, AlertState.metric == "_evaluated",
            AlertState.updated_at <= now - interval).values(updated_at=now)).rowcount
    if not mine:
        return []
    changes = check(engine, settings, now)
    from wpbridge.status import report

    report.send_due(engine, settings, now)
    return changes


def history(conn, site_id: int, limit: int = 20) -> list:
    """The newest level changes of the site and of the bridge itself."""
    return conn.execute(select(AlertEvent.__table__).where(AlertEvent.site_id.in_([site_id, BRIDGE]))
                        .order_by(AlertEvent.at.desc(), AlertEvent.id.desc()).limit(limit)).all()

"""Periodic reports: one site's day, week or month against the period before, with the top
problems and concrete advice, as text and HTML (``wpbridge report``), and an agency roll-up.

Periods are whole UTC calendar periods before ``now``: yesterday, last ISO week (Monday to
Sunday), last month. Figures come from the hourly counters (kept 90 days).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from markupsafe import escape
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from wpbridge.models import ReportRun, Site
from wpbridge.status import access, alerts, figures
from wpbridge.status.metrics import GROUPS

PERIODS = ("day", "week", "month")


def bounds(period: str, now: datetime) -> tuple[datetime, datetime, datetime]:
    """(previous start, start, end) of the last whole ``period`` before ``now``."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        end = today
        start = end - timedelta(days=1)
        return start - timedelta(days=1), start, end
    if period == "week":
        end = today - timedelta(days=today.weekday())
        start = end - timedelta(days=7)
        return start - timedelta(days=7), start, end
    if period == "month":
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
        return (start - timedelta(days=1)).replace(day=1), start, end
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")


@dataclass
class Report:
    site: str
    period: str
    start: datetime
    end: datetime
    current: figures.Counts
    previous: figures.Counts
    reasons: list[figures.Reason]
    groups: list[tuple[str, figures.Counts]]
    advice: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        label = {"day": "Daily", "week": "Weekly", "month": "Monthly"}[self.period]
        return f"[wpbridge] {label} mail report for {self.site}: {self.start:%Y-%m-%d} to " \
               f"{self.end - timedelta(days=1):%Y-%m-%d}"

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(figure, this period, previous period, change)."""
        out = []
        for label, name in (("Sent", "accepted"), ("Delivered", "delivered"), ("Deferred", "deferred"),
                            ("Bounced", "bounced"), ("Complaints", "complained"),
                            ("Suppressed", "suppressed"), ("Expired", "expired")):
            now_, before = getattr(self.current, name), getattr(self.previous, name)
            out.append((label, str(now_), str(before), _change(now_, before)))
        for label, name in (("Bounce rate", "bounce_rate"), ("Complaint rate", "complaint_rate"),
                            ("Deferred share", "deferred_share")):
            now_, before = getattr(self.current, name), getattr(self.previous, name)
            out.append((label, _pct(now_), _pct(before), _pp(now_, before)))
        for label, q in (("Delivery time p50", 0.5), ("Delivery time p95", 0.95)):
            out.append((label, _secs(self.current.percentile(q)), _secs(self.previous.percentile(q)), ""))
        return out

    def text(self) -> str:
        lines = [self.subject[11:], ""]
        width = max(len(r[0]) for r in self.rows())
        lines.append(f"{'':{width}}  {'this period':>12}  {'before':>12}  change")
        for label, a, b, c in self.rows():
            lines.append(f"{label:{width}}  {a:>12}  {b:>12}  {c}")
        lines += ["", "Top problems:"]
        lines += [f"  {r.count:>6}  {r.key}: {r.example}" for r in self.reasons] or ["  none"]
        weak = [(g, c) for g, c in self.groups if c.accepted]
        if weak:
            lines += ["", "By recipient domain (sent / bounce rate / deferred share):"]
            lines += [f"  {g:<10} {c.accepted:>7}  {_pct(c.bounce_rate):>7}  {_pct(c.deferred_share):>7}"
                      for g, c in weak]
        lines += ["", "Advice:"] + [f"  - {a}" for a in self.advice]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        e = escape
        rows = "".join(f"<tr><th align=left>{e(a)}</th><td align=right>{e(b)}</td><td align=right>{e(c)}</td>"
                       f"<td align=right>{e(d)}</td></tr>" for a, b, c, d in self.rows())
        problems = "".join(f"<li><b>{e(r.key)}</b> ({r.count}×): {e(r.example)}</li>" for r in self.reasons) \
            or "<li>none</li>"
        advice = "".join(f"<li>{e(a)}</li>" for a in self.advice)
        return (f"<!doctype html><html><body style=\"font-family:sans-serif\"><h1 style=\"font-size:18px\">"
                f"{e(self.subject[11:])}</h1><table cellpadding=4><tr><th></th><th>this period</th>"
                f"<th>before</th><th>change</th></tr>{rows}</table><h2 style=\"font-size:16px\">Top problems"
                f"</h2><ul>{problems}</ul><h2 style=\"font-size:16px\">Advice</h2><ul>{advice}</ul>"
                "</body></html>")


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.2f}%"


def _secs(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f} s"


def _change(now_: int, before: int) -> str:
    if not before:
        return "new" if now_ else ""
    return f"{(now_ - before) / before * 100:+.0f}%"


def _pp(now_: float | None, before: float | None) -> str:
    if now_ is None or before is None:
        return ""
    return f"{(now_ - before) * 100:+.2f} pp"


def advice_for(cur: figures.Counts, groups: list[tuple[str, figures.Counts]],
               ts: dict[str, alerts.Threshold]) -> list[str]:
    """Concrete steps for what the figures show (pure)."""
    out = []
    if cur.bounce_rate is not None and cur.bounce_rate >= ts["bounce_rate"].warn_clear:
        out.append(f"Bounce rate {_pct(cur.bounce_rate)}: remove addresses that never confirmed, "
                   "use double opt-in for sign-ups, and check imported lists before sending.")
    if cur.complaint_rate is not None and cur.complaint_rate >= ts["complaint_rate"].warn_clear:
        out.append(f"Complaint rate {_pct(cur.complaint_rate)} (Gmail asks for under 0.1%, never "
                   "0.3%): send newsletters only to people who asked, say who is writing in the "
                   "From name, and keep the unsubscribe link at the top.")
    for g, c in groups:
        if c.tries >= 20 and (c.deferred_share or 0) >= ts["deferred_share"].warn:
            out.append(f"{g} deferred {_pct(c.deferred_share)} of tries: send bulk mail to {g} "
                       "more slowly and check the sending domain's SPF, DKIM and DMARC.")
    p95 = cur.percentile(0.95)
    if p95 is not None and p95 > 60:
        out.append(f"95% of mail took up to {p95:.0f} s to deliver: add workers or raise the "
                   "provider's connection limit.")
    if cur.expired:
        out.append(f"{cur.expired} recipients expired after days of retries: see the failure "
                   "reasons on the status page and resend them once the cause is fixed.")
    return out or ["Nothing to do: delivery looks healthy."]


def build(conn, settings, site_id: int, site_name: str, period: str, now: datetime) -> Report:
    prev_start, start, end = bounds(period, now)
    cur = figures.counts_between(conn, site_id, start, end).get((), figures.Counts())
    prev = figures.counts_between(conn, site_id, prev_start, start).get((), figures.Counts())
    found = figures.counts_between(conn, site_id, start, end, by=("domain_group",))
    groups = [(g, found.get((g,), figures.Counts())) for g in GROUPS]
    reasons = figures.failure_reasons(conn, site_id, start, limit=5, until=end)
    ts = {t.metric: t for t in alerts.site_thresholds(conn, settings, site_id)}
    return Report(site_name, period, start, end, cur, prev, reasons, groups,
                  advice_for(cur, groups, ts))


def rollup(conn, settings, period: str, now: datetime) -> str:
    """One line per site (the agency's roll-up), worst bounce rate first."""
    reports = [build(conn, settings, sid, name, period, now)
               for sid, name in conn.execute(select(Site.id, Site.name)).all()]
    reports.sort(key=lambda r: -(r.current.bounce_rate or 0))
    lines = [f"{'site':<40} {'sent':>8} {'delivered':>9} {'bounce':>7} {'complaints':>10} {'change':>7}"]
    for r in reports:
        lines.append(f"{r.site:<40} {r.current.accepted:>8} {r.current.delivered:>9} "
                     f"{_pct(r.current.bounce_rate):>7} {r.current.complained:>10} "
                     f"{_change(r.current.accepted, r.previous.accepted):>7}")
    return "\n".join(lines) + "\n"


def _addresses(value: str | None) -> list[str]:
    return [a.strip() for a in (value or "").split(",") if a.strip()]


def send(engine, settings, site_id: int, report: Report,
         to: list[str] | None = None) -> tuple[str, list[str]]:
    """Queue the report to ``to`` (default: the site's contact); (message id, recipients).

    :raise MailError: no contact is set, or the queue refused it.
    """
    from wpbridge.status.mail import MailError, send_as_site

    if to is None:
        with engine.connect() as conn:
            conf = access.site_settings(conn, site_id)
        to = _addresses(conf.contact_email if conf else "")
    if not to:
        raise MailError(f"site {report.site} has no contact address; set one with "
                        f"'wpbridge admin site {report.site} --contact you@example.com'")
    return send_as_site(engine, settings, site_id, to, report.subject, report.text(), report.html(),
                        kind="report"), to


def recipients_of(conf, period: str, report_period: str) -> list[str]:
    """Who gets a site's ``period`` report (pure): its contact when the bridge sends
    ``report_period`` reports, and the address the site opted in with for the weekly one."""
    to = _addresses(conf.contact_email) if conf is not None and period == report_period else []
    if conf is not None and period == "week":
        to += [a for a in _addresses(conf.weekly_summary_to) if a not in to]
    return to


def send_due(engine, settings, now: datetime) -> int:
    """Send each site's due reports once per period, whichever worker gets there first (the
    unique key of report_runs decides): the bridge's ``report_period`` (unset: none) to the
    site's contact, and the weekly summary a site opted into from wp-admin. Returns how many."""
    from wpbridge.status.mail import MailError

    report_period = getattr(settings, "report_period", "") or ""
    sent = 0
    for period in PERIODS:
        _, start, _ = bounds(period, now)
        with engine.connect() as conn:
            done = set(conn.execute(select(ReportRun.site_id).where(
                ReportRun.period == period, ReportRun.period_start == start)).scalars())
            sites = [row for row in conn.execute(select(Site.id, Site.name)).all() if row[0] not in done]
        for site_id, name in sites:
            with engine.connect() as conn:
                to = recipients_of(access.site_settings(conn, site_id), period, report_period)
            if not to:
                continue
            try:
                with engine.begin() as conn:
                    conn.execute(insert(ReportRun.__table__).values(
                        site_id=site_id, period=period, period_start=start, sent_at=now))
            except IntegrityError:
                continue
            with engine.connect() as conn:
                report = build(conn, settings, site_id, name, period, now)
            try:
                send(engine, settings, site_id, report, to)
                sent += 1
            except MailError:
                continue
    return sent

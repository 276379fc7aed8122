"""Alerts (levels with hysteresis, escalation, one notice per change across workers) and
reports: pure decisions by table, then end to end through the queue to a loopback SMTP
server and a loopback webhook receiver."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from tests.conftest import make_site, message
from tests.test_relay import drain, provider_settings, states
from tests.test_status import cli_env, embed_url, open_embed
from wpbridge.app import create_app
from wpbridge.models import AlertEvent, Site, WorkerBeat, utcnow
from wpbridge.status import access, alerts, report
from wpbridge.status.alerts import CRITICAL, OK, WARNING, Figure, Notice, level_for, notice_for
from wpbridge.status.cli import report_command
from wpbridge.status.metrics import Tally
from wpbridge.worker import Worker

BOUNCE = next(t for t in alerts.DEFAULTS if t.metric == "bounce_rate")
OLDEST = next(t for t in alerts.DEFAULTS if t.metric == "oldest_transactional")


class With:
    """Settings plus status settings that Settings does not define (read with getattr)."""

    def __init__(self, base, **extra):
        self._base, self._extra = base, extra

    def __getattr__(self, name):
        return self._extra[name] if name in self._extra else getattr(self._base, name)


@pytest.mark.parametrize("value, volume, previous, expected", [
    (0.01, 100, OK, OK),
    (0.03, 100, OK, WARNING),  # the warning threshold itself counts
    (0.025, 100, OK, OK),  # between clear and warn: stays ok ...
    (0.025, 100, WARNING, WARNING),  # ... and stays warning (hysteresis)
    (0.019, 100, WARNING, OK),  # below the clear threshold: cleared
    (0.08, 100, WARNING, CRITICAL),
    (0.07, 100, CRITICAL, CRITICAL),  # above critical_clear: stays critical
    (0.05, 100, CRITICAL, WARNING),  # below critical_clear: back to warning
    (0.01, 100, CRITICAL, OK),
    (0.50, 19, OK, OK),  # under the minimum volume a rate does not count
    (0.50, 19, CRITICAL, OK),
    (None, 0, WARNING, OK),
])
def test_bounce_rate_levels(value, volume, previous, expected):
    assert level_for(BOUNCE, Figure(value, volume), previous) == expected


@pytest.mark.parametrize("seconds, previous, expected", [
    (None, OK, OK), (299, OK, OK), (300, OK, WARNING), (250, WARNING, WARNING), (239, WARNING, OK),
    (900, WARNING, CRITICAL), (800, CRITICAL, CRITICAL), (700, CRITICAL, WARNING),
])
def test_oldest_transactional_levels(seconds, previous, expected):
    assert level_for(OLDEST, Figure(seconds, 1 if seconds is not None else 0), previous) == expected


T0 = datetime(2026, 11, 27, 12, 0)
HOURS4 = timedelta(hours=4)


@pytest.mark.parametrize("previous, new, notified_at, now, bridge_wide, expected", [
    (OK, OK, None, T0, False, None),
    (OK, WARNING, None, T0, False, Notice("raised", WARNING, False)),  # warning: the site only
    (WARNING, CRITICAL, T0, T0, False, Notice("escalated", CRITICAL, True)),  # critical: + operator
    (OK, CRITICAL, None, T0, False, Notice("raised", CRITICAL, True)),
    (CRITICAL, WARNING, T0, T0, False, Notice("lowered", WARNING, True)),  # the operator hears it ended
    (WARNING, OK, T0, T0, False, Notice("cleared", WARNING, False)),
    (CRITICAL, OK, T0, T0, False, Notice("cleared", CRITICAL, True)),
    (WARNING, WARNING, T0, T0 + HOURS4 - timedelta(seconds=1), False, None),  # quiet period
    (WARNING, WARNING, T0, T0 + HOURS4, False, Notice("reminder", WARNING, False)),
    (CRITICAL, CRITICAL, T0, T0 + HOURS4, False, Notice("reminder", CRITICAL, True)),
    (OK, WARNING, None, T0, True, Notice("raised", WARNING, True)),  # bridge-wide: the operator
])
def test_who_hears_of_a_level(previous, new, notified_at, now, bridge_wide, expected):
    assert notice_for(previous, new, notified_at, now, HOURS4, bridge_wide) == expected


def test_a_storm_rises_and_falls_with_hysteresis():
    """One value per minute through level_for with the stored level fed back."""
    values = [0.01, 0.02, 0.04, 0.05, 0.09, 0.12, 0.07, 0.065, 0.055, 0.03, 0.021, 0.019, 0.01]
    level, seen = OK, []
    for v in values:
        level = level_for(BOUNCE, Figure(v, 500), level)
        seen.append(level)
    assert seen == [OK, OK, WARNING, WARNING, CRITICAL, CRITICAL, CRITICAL, CRITICAL, WARNING,
                    WARNING, WARNING, OK, OK]


def test_thresholds_can_be_overridden():
    s = With(None, alert_thresholds={"bounce_rate": {"warn": 0.05, "min_volume": 5}})
    t = {t.metric: t for t in alerts.thresholds(s)}["bounce_rate"]
    assert (t.warn, t.critical, t.min_volume) == (0.05, 0.08, 5)


class Hooks:
    """A loopback HTTP server recording the JSON posted to it, per path."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hooks.posts.append((self.path, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def at(self, path: str) -> list[dict]:
        return [body for p, body in self.posts if p == path]


@pytest.fixture
def hooks():
    h = Hooks()
    h.thread.start()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture
def storm(settings, engine, sink, hooks):
    s = With(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}"),
             alert_operator_email="ops@agency.example", alert_webhook_url=hooks.url + "/operator",
             alert_slack_url=hooks.url + "/slack")
    app = create_app(s, engine)
    app.testing = True
    shop = make_site(app, s)
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        site = session.scalar(select(Site).where(Site.name == "shop.example.com"))
        access.update_site_settings(session, site, contact="owner@shop.example.com",
                                    webhook=hooks.url + "/site")
    worker = Worker(s, engine, name="alert-test")
    yield s, app, shop, worker
    worker.close()


def send(shop, worker, sink, delivered: int, bounced: int, tag: str) -> None:
    bad = [f"{tag}-gone{i}@example.org" for i in range(bounced)]
    for address in bad:
        sink.handler.rcpt_script[address] = ["550 5.1.1 no such user"]
    to = [f"{tag}-ok{i}@example.org" for i in range(delivered)] + bad
    mid = shop.post("/api/v1/messages", message(to=to, subject=f"Newsletter {tag}")).json["id"]
    drain(worker, lambda: "queued" not in states(shop, mid).values())


def clock(engine, at: datetime) -> datetime:
    """Let time pass to ``at`` for the alerts, with the worker alive all along."""
    with engine.begin() as conn:
        conn.execute(update(WorkerBeat).values(beat_at=at))
    return at


def race(engine, settings, at: datetime) -> list:
    """Four workers evaluate at the same moment; every change any of them won."""
    won: list = []
    threads = [threading.Thread(target=lambda: won.extend(alerts.evaluate(engine, settings, at)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def alert_mails(sink) -> list:
    return [r for r in sink.received if r.message["Subject"].startswith("[wpbridge]")]


def test_bounce_storm_escalates_notifies_once_per_change_and_clears(storm, engine, sink, hooks):
    s, app, shop, worker = storm
    worker.beat()
    send(shop, worker, sink, 28, 2, "a")  # 2 of 30: 6.7%, a warning
    now = utcnow()
    changes = alerts.check(engine, s, now)
    assert [(c.threshold.metric, c.previous, c.level) for c in changes] == [("bounce_rate", OK, WARNING)]
    assert [b["level"] for b in hooks.at("/site")] == [WARNING]
    assert hooks.at("/operator") == [] and hooks.at("/slack") == []  # a warning stays with the site
    drain(worker, lambda: len(alert_mails(sink)) == 1)
    [mail] = alert_mails(sink)
    assert mail.rcpt_tos == ["owner@shop.example.com"]
    assert mail.message["Subject"] == "[wpbridge] WARNING: bounce rate (1 h) for shop.example.com"
    assert "6.67% (threshold 3%)" in mail.message.get_content()

    assert alerts.check(engine, s, clock(engine, now + timedelta(minutes=1))) == []  # no change
    send(shop, worker, sink, 0, 20, "b")  # the storm: 22 of 50 bounced
    changes = alerts.check(engine, s, clock(engine, now + timedelta(minutes=2)))
    assert [(c.previous, c.level, c.notice.kind) for c in changes] == [(WARNING, CRITICAL, "escalated")]
    assert [b["level"] for b in hooks.at("/site")] == [WARNING, CRITICAL]
    [operator] = hooks.at("/operator")
    assert operator["site"] == "shop.example.com" and operator["metric"] == "bounce_rate"
    assert operator["status_url"].endswith("/status/s/shop.example.com/")
    assert "CRITICAL: bounce rate (1 h) for shop.example.com" in hooks.at("/slack")[0]["text"]
    drain(worker, lambda: len(alert_mails(sink)) == 2)
    assert sorted(alert_mails(sink)[1].rcpt_tos) == ["ops@agency.example", "owner@shop.example.com"]

    # Many workers evaluating at once: each change is won by one of them (none here).
    assert race(engine, s, clock(engine, now + timedelta(minutes=3))) == []
    assert len(hooks.at("/site")) == 2

    # An hour later the storm is out of the window: cleared, told once to everyone who heard.
    later = clock(engine, now + timedelta(minutes=62))
    won = race(engine, s, later)
    assert [(c.threshold.metric, c.previous, c.level) for c in won] == [("bounce_rate", CRITICAL, OK)]
    alerts.notify(engine, s, won, later)
    assert [(b["level"], b["kind"]) for b in hooks.at("/site")][-1] == (OK, "cleared")
    assert len(hooks.at("/site")) == 3 and len(hooks.at("/operator")) == 2
    drain(worker, lambda: len(alert_mails(sink)) == 3)
    assert alert_mails(sink)[2].message["Subject"] == \
        "[wpbridge] resolved: bounce rate (1 h) for shop.example.com"

    # The history is on the status page.
    with engine.connect() as conn:
        assert [e.to_level for e in conn.execute(select(AlertEvent.__table__).order_by(AlertEvent.id))] \
            == [WARNING, CRITICAL, OK]
    browser = app.test_client()
    open_embed(browser, embed_url(shop)["url"])
    page = browser.get("/status/s/shop.example.com/").text
    assert "warning → critical" in page and "critical → ok" in page


def test_dead_worker_is_mailed_directly_to_the_operator(settings, engine, sink, hooks):
    s = With(settings, alert_operator_email="ops@agency.example",
             alert_smtp_url=f"smtp://127.0.0.1:{sink.port}", alert_from="bridge@agency.example",
             alert_webhook_url=hooks.url + "/operator")
    changes = alerts.check(engine, s, utcnow())
    assert [(c.threshold.metric, c.level) for c in changes] == [("worker_heartbeat", CRITICAL)]
    [mail] = alert_mails(sink)  # no worker runs, so it cannot have gone through the queue
    assert mail.rcpt_tos == ["ops@agency.example"]
    assert "no worker has reported yet" in mail.message.get_content()
    assert hooks.at("/operator")[0]["metric"] == "worker_heartbeat"


def test_worker_runs_alerts_at_most_once_per_interval(storm, engine, hooks):
    s, app, shop, worker = storm
    worker.beat()
    now = utcnow()
    assert alerts.run_due(engine, s, now) == []  # evaluated: all ok
    with engine.connect() as conn:
        assert conn.execute(select(alerts.AlertState).where(
            alerts.AlertState.metric == "bounce_rate")).scalar() is not None
    # Within the interval nobody evaluates again, whatever the figures say.
    assert alerts.run_due(engine, s, now + timedelta(seconds=30)) == []
    with engine.connect() as conn:
        evaluated = conn.execute(select(alerts.AlertState.updated_at).where(
            alerts.AlertState.metric == "_evaluated")).scalar()
    assert evaluated == now


def seed(engine, site_id: int, at: datetime, **counts) -> None:
    """Counter rows as the relay records them, at ``at``."""
    tally = Tally()
    for field, (domain, n) in counts.items():
        for _ in range(n):
            tally.add(site_id, "transactional", "default", domain, field,
                      1500 if field == "delivered" else None)
    with engine.begin() as conn:
        tally.flush(conn, at)


def test_weekly_report_compares_with_the_week_before(storm, engine, sink, settings):
    s, app, shop, worker = storm
    with engine.connect() as conn:
        site_id = conn.execute(select(Site.id).where(Site.name == "shop.example.com")).scalar()
    now = datetime(2026, 11, 25, 9, 30)  # a Wednesday
    last_week, week_before = datetime(2026, 11, 18, 10), datetime(2026, 11, 11, 10)
    seed(engine, site_id, last_week, accepted=("gmail.com", 200), delivered=("gmail.com", 180),
         bounced=("gmail.com", 20), complained=("gmail.com", 1))
    seed(engine, site_id, week_before, accepted=("gmail.com", 100), delivered=("gmail.com", 99),
         bounced=("gmail.com", 1))
    seed(engine, site_id, datetime(2026, 11, 24, 10), accepted=("gmail.com", 999))  # this week
    with engine.connect() as conn:
        rep = report.build(conn, s, site_id, "shop.example.com", "week", now)
    assert (rep.start, rep.end) == (datetime(2026, 11, 16), datetime(2026, 11, 23))
    rows = {r[0]: r[1:] for r in rep.rows()}
    assert rows["Sent"] == ("200", "100", "+100%")
    assert rows["Bounced"] == ("20", "1", "+1900%")
    assert rows["Bounce rate"] == ("10.00%", "1.00%", "+9.00 pp")
    assert rows["Delivery time p50"][0] == "1.5 s"  # inside the 1-2 s bucket
    text = rep.text()
    assert "Weekly mail report for shop.example.com: 2026-11-16 to 2026-11-22" in text
    assert "Bounce rate 10.00%: remove addresses that never confirmed" in text
    assert "Complaint rate 0.56%" in text
    assert "<h1" in rep.html() and "Top problems" in rep.html()

    env = cli_env(settings)
    out = CliRunner().invoke(report_command, ["--site", "shop.example.com", "--period", "day"], env=env)
    assert out.exit_code == 0 and "Daily mail report for shop.example.com" in out.output
    out = CliRunner().invoke(report_command, ["--period", "week"], env=env)
    assert out.exit_code == 0 and out.output.splitlines()[1].startswith("shop.example.com")


def test_report_is_sent_through_the_queue(storm, engine, sink):
    s, app, shop, worker = storm
    with engine.connect() as conn:
        site_id = conn.execute(select(Site.id).where(Site.name == "shop.example.com")).scalar()
        rep = report.build(conn, s, site_id, "shop.example.com", "week", utcnow())
    message_id, to = report.send(engine, s, site_id, rep)
    assert to == ["owner@shop.example.com"]
    drain(worker, lambda: any(r.message["Subject"].startswith("[wpbridge] Weekly") for r in sink.received))
    [mail] = [r for r in sink.received if r.message["Subject"].startswith("[wpbridge] Weekly")]
    assert mail.message.get_body(("html",)) is not None
    assert mail.mail_from.endswith("@example.com")
    # Due reports go out once per period, however many workers try.
    s2 = With(s, report_period="week")
    assert report.send_due(engine, s2, utcnow()) == 1
    assert report.send_due(engine, s2, utcnow()) == 0

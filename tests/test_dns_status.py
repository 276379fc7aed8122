"""DNS checks kept per sending domain (wpbridge/auth/dns_store.py): bulk mail from a domain
without DMARC held by the worker, transactional mail not; the site's allow flag; periodic
re-checks that honour expiry; the status page's panel with the record to add. DNS is a real
authoritative server on loopback (tests/dns_server.py), the provider a loopback SMTP sink."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html import unescape
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, event, select, update

from tests.conftest import make_site, message
from tests.dns_server import DnsServer
from tests.smtp_sink import free_port
from tests.test_relay import drain, provider_settings
from tests.test_status import SITE_PAGE, embed_url, open_embed
from wpbridge import settings as settings_mod
from wpbridge.app import create_app
from wpbridge.auth import dns_check, dns_store
from wpbridge.auth.cli import dns_command
from wpbridge.auth.models import DnsCheck
from wpbridge.models import Recipient, utcnow
from wpbridge.worker import Worker

SITE = "shop.example.com"

ZONE = """
sendgrid.net. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 ~all"
nodmarc.example.net. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
nodmarc.example.net. 300 IN MX 10 mx.nodmarc.example.net.
good.example.net. 300 IN TXT "v=spf1 include:sendgrid.net ~all"
good.example.net. 300 IN MX 10 mx.good.example.net.
_dmarc.good.example.net. 600 IN TXT "v=DMARC1; p=reject"
"""
FIXED = ZONE + '_dmarc.nodmarc.example.net. 300 IN TXT "v=DMARC1; p=none; rua=mailto:d@nodmarc.example.net"\n'
DMARC_LINE = '_dmarc.nodmarc.example.net. 3600 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@nodmarc.example.net"'


@pytest.fixture
def dns_server():
    with DnsServer(ZONE) as server:
        yield server


def resolver_for(server):
    return dns_check.make_resolver(["127.0.0.1"], server.port, timeout=5)


@pytest.fixture
def bridge(settings, engine, sink):
    """(settings, app, site client, worker): a site sending from nodmarc.example.net and good.example.net
    through the loopback sink."""
    def make(**extra):
        s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}",
                              public_url="https://bridge.example.net", **extra)
        app = create_app(s, engine)
        app.testing = True
        site = make_site(app, s, SITE, ("nodmarc.example.net", "good.example.net"))
        worker = Worker(s, engine, name="dns-test")
        made.append(worker)
        return s, app, site, worker

    made: list[Worker] = []
    yield make
    for worker in made:
        worker.close()


def newsletter(sender="news@nodmarc.example.net", **kw):
    return message(**{"from": sender}, subject="Our autumn news", context={},
                   headers={"X-Mailer": "MailPoet", "Precedence": "bulk"}, **kw)


def receipt(sender="shop@nodmarc.example.net", **kw):
    return message(**{"from": sender}, **kw)


def recipient_rows(engine, mid):
    with engine.connect() as conn:
        return conn.execute(select(Recipient.__table__).where(Recipient.message_id == mid)).all()


def stored(engine, domain):
    with engine.connect() as conn:
        return conn.execute(select(DnsCheck.__table__).where(DnsCheck.domain == domain)).first()


def test_bulk_from_a_domain_without_dmarc_is_held_transactional_goes(bridge, engine, sink, dns_server):
    s, app, site, worker = bridge()
    dns_store.recheck(engine, s, resolver_for(dns_server))
    row = stored(engine, "nodmarc.example.net")
    assert row.dmarc == "missing" and row.level == "error"
    assert row.hold_reason.startswith("held: bulk mail from nodmarc.example.net needs a DMARC record")
    assert stored(engine, "good.example.net").dmarc == "reject" and stored(engine, "good.example.net").hold_reason is None

    asked = len(dns_server.zone.queries)
    resp = site.post("/api/v1/messages", newsletter(to=["a@example.org", "b@example.org"]))
    assert resp.status_code == 202, resp.json
    news = resp.json
    order = site.post("/api/v1/messages", receipt()).json
    good_news = site.post("/api/v1/messages", newsletter("news@good.example.net")).json
    assert news["category"] == "bulk" and order["category"] == "transactional"

    def settled():
        rows = recipient_rows(engine, news["id"]) + recipient_rows(engine, order["id"]) \
            + recipient_rows(engine, good_news["id"])
        return all(r.state == "delivered" or (r.last_response or "").startswith("held:") for r in rows)

    drain(worker, settled)
    held = recipient_rows(engine, news["id"])
    assert [r.state for r in held] == ["queued", "queued"]
    for r in held:
        assert r.last_response.startswith("held: bulk mail from nodmarc.example.net needs a DMARC record")
        assert DMARC_LINE in r.last_response and "allow bulk mail without DMARC" in r.last_response
        assert r.next_attempt_at > utcnow() + timedelta(minutes=10)
        assert r.attempts == 0, "a hold is no delivery attempt"
    # The reason reaches the site through the API too.
    api = site.get(f"/api/v1/messages/{news['id']}").json["recipients"]
    assert all(a["last_response"].startswith("held: bulk mail from nodmarc.example.net") for a in api)
    assert [r.state for r in recipient_rows(engine, order["id"])] == ["delivered"]
    assert [r.state for r in recipient_rows(engine, good_news["id"])] == ["delivered"]
    assert sorted(m.message["Subject"] for m in sink.received) == ["Our autumn news", "Your order #1001"]
    assert len(dns_server.zone.queries) == asked, "delivery asked DNS: it must use the stored checks"

    # The admin publishes DMARC and checks with the command: the held mail goes at once.
    with DnsServer(FIXED) as fixed:
        out = CliRunner().invoke(dns_command, ["check", "nodmarc.example.net", "--nameserver", "127.0.0.1",
                                               "--port", str(fixed.port)], env=_cli_env(s))
    assert "kept as the last check of nodmarc.example.net for site shop.example.com" in out.output, out.output
    assert stored(engine, "nodmarc.example.net").dmarc == "none"
    worker.bulk_gate.forget()  # a running worker re-reads within GATE_TTL seconds
    drain(worker, lambda: {r.state for r in recipient_rows(engine, news["id"])} == {"delivered"})
    assert len(sink.received) == 4


def _cli_env(s) -> dict:
    return {"WPBRIDGE_DATA": str(s.data_dir), "WPBRIDGE_DATABASE_URL": s.database_url,
            "WPBRIDGE_SECRET_KEY": s.secret_key, "WPBRIDGE_CONFIG": str(s.data_dir / "none.toml")}


def test_a_site_allowed_to_sends_bulk_without_dmarc(bridge, engine, sink, dns_server):
    s, app, site, worker = bridge(site_allow_bulk_without_dmarc={SITE: True})
    dns_store.recheck(engine, s, resolver_for(dns_server))
    assert stored(engine, "nodmarc.example.net").hold_reason is not None
    news = site.post("/api/v1/messages", newsletter()).json
    drain(worker, lambda: {r.state for r in recipient_rows(engine, news["id"])} == {"delivered"})
    assert [m.message["Subject"] for m in sink.received] == ["Our autumn news"]


def test_allow_setting_from_the_config_file(tmp_path):
    (tmp_path / "wpbridge.toml").write_text(
        'allow_bulk_without_dmarc = true\n[sites."Shop.Example.com"]\nallow_bulk_without_dmarc = false\n'
        '[sites."blog.example.com"]\nallow_bulk_without_dmarc = true\n')
    s = settings_mod.load({"WPBRIDGE_DATA": str(tmp_path)})
    assert s.allow_bulk_without_dmarc is True
    assert not dns_store.allows_bulk_without_dmarc(s, "shop.example.com")
    assert dns_store.allows_bulk_without_dmarc(s, "blog.example.com")
    assert dns_store.allows_bulk_without_dmarc(s, "other.example.com")  # the default
    assert not dns_store.allows_bulk_without_dmarc(settings_mod.Settings(), "shop.example.com")
    (tmp_path / "wpbridge.toml").write_text('[sites."x.example"]\nallow_bulk_without_dmarc = "yes"\n')
    with pytest.raises(settings_mod.SettingsError, match="allow_bulk_without_dmarc must be true or false"):
        settings_mod.load({"WPBRIDGE_DATA": str(tmp_path)})


def test_no_stored_verdict_holds_nothing(bridge, engine, sink):
    """Not checked yet, or DNS did not answer: no verdict, the newsletter goes."""
    s, app, site, worker = bridge()
    dead = dns_check.make_resolver(["127.0.0.1"], free_port(), timeout=0.3)
    dns_store.recheck(engine, s, dead)
    row = stored(engine, "nodmarc.example.net")
    assert row.dmarc is None and row.hold_reason is None and row.level == "warning"
    news = site.post("/api/v1/messages", newsletter()).json
    drain(worker, lambda: {r.state for r in recipient_rows(engine, news["id"])} == {"delivered"})


def test_periodic_recheck_stores_results_and_honours_expiry(bridge, engine, dns_server):
    s, app, site, worker = bridge()
    resolver = resolver_for(dns_server)
    first = dns_store.recheck(engine, s, resolver)
    assert sorted(r.domain for r in first) == ["good.example.net", "nodmarc.example.net"]
    good = stored(engine, "good.example.net")
    assert good.findings["domain"] == "good.example.net" and good.level == "warning"  # no DKIM key
    assert any(f["check"] == "dmarc" and f["level"] == "ok" for f in good.findings["findings"])
    # Due again after the shortest TTL (300 s here), at most 5 minutes when something is wrong.
    for domain in ("good.example.net", "nodmarc.example.net"):
        row = stored(engine, domain)
        assert row.expires_at - row.checked_at == timedelta(seconds=300)
        assert row.error is None

    asked = len(dns_server.zone.queries)
    assert dns_store.recheck(engine, s, resolver) == [], "nothing is due yet"
    assert len(dns_server.zone.queries) == asked

    later = utcnow() + timedelta(seconds=301)
    # A small budget per look: one domain now, the other at the next look.
    assert len(dns_store.recheck(engine, s, resolver, now=later, budget=1)) == 1
    assert len(dns_store.recheck(engine, s, resolver, now=later, budget=1)) == 1
    assert dns_store.recheck(engine, s, resolver, now=utcnow()) == []
    assert stored(engine, "good.example.net").checked_at > good.checked_at

    # Of two workers looking at once, one takes a due check.
    with engine.begin() as conn:
        conn.execute(update(DnsCheck.__table__).values(expires_at=utcnow() - timedelta(seconds=1)))
    now = utcnow()
    assert len(dns_store.take_due(engine, now)) == 2 and dns_store.take_due(engine, now) == []

    # A domain the site no longer sends from loses its row; a new one is due at once.
    from wpbridge import sites
    from wpbridge.models import SiteDomain
    with engine.begin() as conn:
        conn.execute(delete(SiteDomain.__table__).where(SiteDomain.domain == "good.example.net"))
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        sites.add_domains(session, SITE, ["new.example.net"])
    dns_store.sync(engine)
    assert stored(engine, "good.example.net") is None
    assert stored(engine, "new.example.net").checked_at is None


def test_recheck_due_is_throttled_runs_apart_and_survives_dns_trouble(bridge, engine, dns_server, monkeypatch):
    s, app, site, worker = bridge()
    monkeypatch.setattr(dns_store, "default_resolver", lambda: resolver_for(dns_server))
    dns_store.recheck_due(engine, s, every=3600)  # in its own thread
    state = dns_store._DUE[engine]
    state.thread.join(30)
    assert stored(engine, "nodmarc.example.net").checked_at is not None
    with engine.begin() as conn:
        conn.execute(update(DnsCheck.__table__).values(expires_at=utcnow() - timedelta(seconds=1)))
    dns_store.recheck_due(engine, s, every=3600)
    assert state.thread is None or not state.thread.is_alive()
    assert stored(engine, "nodmarc.example.net").expires_at < utcnow(), "throttled: no second look yet"

    def no_resolver():
        raise dns_check.LookupFailed("this machine has no DNS resolver configured")

    monkeypatch.setattr(dns_store, "default_resolver", no_resolver)
    state.next_run = 0
    dns_store.recheck_due(engine, s, every=3600, background=False)  # does not raise
    row = stored(engine, "nodmarc.example.net")
    assert "no DNS resolver" in row.error and row.dmarc == "missing", "the last verdict stays"
    assert row.expires_at > utcnow() + timedelta(minutes=10), "tried again later"


def test_recheck_due_looks_again_soon_while_behind(bridge, engine, dns_server, monkeypatch):
    s, app, site, worker = bridge()
    monkeypatch.setattr(dns_store, "default_resolver", lambda: resolver_for(dns_server))
    monkeypatch.setattr(dns_store, "BUDGET", 1)  # two domains due, one per look
    dns_store.recheck_due(engine, s, every=3600, background=False)
    state = dns_store._DUE[engine]
    assert state.next_run - time.monotonic() <= dns_store.BEHIND_EVERY
    state.next_run = 0
    dns_store.recheck_due(engine, s, every=3600, background=False)
    assert all(stored(engine, d).checked_at for d in ("nodmarc.example.net", "good.example.net"))


def test_trouble_in_the_gate_holds_nothing(bridge, engine, sink, dns_server, monkeypatch, caplog):
    s, app, site, worker = bridge()
    dns_store.recheck(engine, s, resolver_for(dns_server))

    def broken(raw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(dns_store, "from_domain", broken)
    news = site.post("/api/v1/messages", newsletter()).json
    drain(worker, lambda: {r.state for r in recipient_rows(engine, news["id"])} == {"delivered"})
    assert "none is held" in caplog.text


def test_worker_loop_rechecks_with_one_call(bridge, engine, monkeypatch):
    s, app, site, worker = bridge()
    calls = []
    monkeypatch.setattr(dns_store, "recheck_due", lambda *a, **kw: calls.append(a))
    worker.run(idle_exit=True)
    assert calls == [(engine, s)]


def test_gate_reads_the_stored_checks_once_per_ttl(bridge, engine, dns_server):
    s, app, site, worker = bridge()
    dns_store.recheck(engine, s, resolver_for(dns_server))
    statements = []

    def count(conn, cursor, statement, *args):
        if "dns_checks" in statement:
            statements.append(statement)

    site_id = stored(engine, "nodmarc.example.net").site_id
    raw = b"From: News <news@nodmarc.example.net>\r\nSubject: x\r\n\r\nhi\r\n"

    def queued(mid, category="bulk", body=raw):  # what the gate reads of a queue.Queued
        return SimpleNamespace(id=mid, site_id=site_id, site_name=SITE, raw=body, category=category)

    event.listen(engine, "before_cursor_execute", count)
    try:
        gate = dns_store.BulkGate(engine, s)
        for _ in range(20):
            holds = gate.holds([queued(f"m{i}") for i in range(50)], utcnow())
            assert len(holds) == 50
        until, reason = holds["m0"]
        assert reason.startswith("held: bulk mail from nodmarc.example.net") and until > utcnow()
        other = [queued("t", "transactional"), queued("n", "notification"),
                 queued("g", body=raw.replace(b"nodmarc", b"good"))]
        assert gate.holds(other, utcnow()) == {}
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1


def test_panel_shows_each_record_and_the_one_to_add(bridge, engine, dns_server):
    s, app, site, worker = bridge()
    make_site(app, s, "other.example.net", ("other.example.org",))
    browser = app.test_client()
    open_embed(browser, embed_url(site)["url"])
    page = unescape(browser.get(SITE_PAGE).text)
    assert "Sending domains" in page and "Not checked yet" in page
    assert "wpbridge dns check nodmarc.example.net" in page

    dns_store.recheck(engine, s, resolver_for(dns_server))
    resp = browser.get(SITE_PAGE)
    assert resp.status_code == 200
    page = unescape(resp.text)
    panel = page[page.index('id="sending-domains"'):]
    panel = panel[:panel.index("</section>")]
    # Domains in name order: good.example.net, then nodmarc.example.net.
    good = panel[panel.index('data-domain="good.example.net"'):panel.index('data-domain="nodmarc.example.net"')]
    nodmarc = panel[panel.index('data-domain="nodmarc.example.net"'):]
    # Per record: SPF passes, DMARC fails, DKIM warns (the bridge has no key yet).
    levels = dict(re.findall(r'data-check="(\w+)" data-level="(\w+)"', nodmarc))
    assert levels["spf"] == "ok" and levels["dmarc"] == "error" and levels["dkim"] == "warning"
    assert "DMARC: fail" in nodmarc and "SPF: ok" in nodmarc
    words = re.sub(r"<[^>]+>", "", nodmarc)
    assert f"Add: {DMARC_LINE}" in words
    assert "Bulk mail from nodmarc.example.net is held" in words
    assert 'allow_bulk_without_dmarc = true under [sites."shop.example.com"]' in words
    assert 'data-check="dmarc" data-level="ok"' in good and "is held" not in good
    assert "other.example.org" not in page, "another site's domains"
    assert "<script" not in page


def test_held_past_the_messages_age_expires_without_a_bounce(bridge, engine, sink, dns_server):
    """A hold that would outlast the message's maximum age ends it as expired, with the hold's
    reason, and counts nothing against the recipient (no bounce event, no suppression)."""
    from wpbridge.events.store import Event
    from wpbridge.models import Attempt, Message, Suppression

    s, app, site, worker = bridge()
    dns_store.recheck(engine, s, resolver_for(dns_server))
    news = site.post("/api/v1/messages", newsletter(to=["a@example.org"])).json
    with engine.begin() as conn:  # a newsletter whose 4 days are nearly over
        conn.execute(update(Message.__table__).where(Message.id == news["id"])
                     .values(expires_at=utcnow() + timedelta(minutes=5)))
    drain(worker, lambda: {r.state for r in recipient_rows(engine, news["id"])} == {"expired"})
    [row] = recipient_rows(engine, news["id"])
    assert row.last_response.startswith("expired while held: held: bulk mail from nodmarc.example.net")
    assert row.attempts == 0 and sink.received == []
    with engine.connect() as conn:
        assert conn.execute(select(Attempt.__table__.c.outcome)
                            .where(Attempt.recipient_id == row.id)).scalars().all() == ["expired"]
        assert conn.execute(select(Event.__table__)).all() == []
        assert conn.execute(select(Suppression.__table__)).all() == []


def test_workers_do_not_recheck_when_the_interval_is_0(bridge, engine, dns_server, monkeypatch):
    s, app, site, worker = bridge()
    monkeypatch.setattr(dns_store, "default_resolver", lambda: resolver_for(dns_server))
    dns_store.recheck_due(engine, s.replace(dns_recheck_interval=0), background=False)
    assert stored(engine, "nodmarc.example.net") is None and dns_server.zone.queries == []
    dns_store.recheck_due(engine, s.replace(dns_recheck_interval=60), background=False)
    assert stored(engine, "nodmarc.example.net").dmarc == "missing"

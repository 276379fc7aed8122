"""The status side through HTTP: embed tokens and the session cookie they buy, the site's
page and message log after real mail went through a loopback SMTP server, resend with CSRF,
the agency view, /metrics and /readyz."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from tests.conftest import make_site, message
from tests.test_relay import drain, provider_settings, states
from wpbridge.app import create_app
from wpbridge.models import Recipient, Site, WorkerBeat, utcnow
from wpbridge.status import access, figures
from wpbridge.status.cli import admin_command
from wpbridge.worker import Worker

SITE_PAGE = "/status/s/shop.example.com/"


def embed_url(site, body: dict | None = None) -> dict:
    resp = site.post("/api/v1/embed-token", body or {})
    assert resp.status_code == 201, resp.json
    return resp.json


def open_embed(client, url: str):
    """Redeem a one-time URL; returns the redirect answer."""
    return client.get(urlsplit(url).path)


def cookie_header(resp, name: str) -> str:
    found = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert found, resp.headers
    return found[0]


def csrf_of(page: str) -> str:
    return unescape(re.search(r'name="csrf" value="([^"]*)"', page).group(1))


def cell(page: str, window: str, field: str) -> int:
    return int(re.search(rf'data-window="{window}" data-field="{field}">(\d+)<', page).group(1))


@pytest.fixture
def flow(settings, engine, sink):
    """An app whose provider is the loopback sink, its worker, and two sites."""
    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}")
    app = create_app(s, engine)
    app.testing = True
    worker = Worker(s, engine, name="status-test")
    shop = make_site(app, s)
    other = make_site(app, s, "other.example.net", ("example.net",))
    yield app, worker, shop, other, sink
    worker.close()


def send_traffic(flow) -> str:
    """Five recipients through the real queue and relay: 3 delivered, 1 bounced, 1 deferred
    then delivered. Returns the message id."""
    app, worker, shop, other, sink = flow
    sink.handler.rcpt_script = {"gone@gmail.com": ["550 5.1.1 The email account that you tried "
                                                   "to reach does not exist"],
                                "slow@yahoo.com": ["451 4.7.0 Try again later"]}
    mid = shop.post("/api/v1/messages", message(
        to=["a@gmail.com", "b@example.org", "gone@gmail.com", "slow@yahoo.com", "c@outlook.com"],
        subject="Order 1001 confirmed")).json["id"]
    other.post("/api/v1/messages", message(**{"from": "shop@example.net"}, to=["x@example.org"],
                                           subject="Other site's secret order"))
    drain(worker, lambda: "queued" not in states(shop, mid).values())
    worker.beat()
    return mid


def test_embed_token_buys_a_cookie_for_one_site_only(flow):
    app, _, shop, other, _ = flow
    answer = embed_url(shop)
    assert answer["url"].startswith("http://127.0.0.1:8025/status/embed/")
    assert answer["frame_origins"] == ["https://shop.example.com", "http://shop.example.com"]
    expires = answer["expires_at"]
    assert expires.endswith("Z")

    browser = app.test_client()
    resp = open_embed(browser, answer["url"])
    assert resp.status_code == 303 and resp.headers["Location"].endswith(SITE_PAGE)
    cookie = cookie_header(resp, access.SITE_COOKIE)
    assert "HttpOnly" in cookie and f"Path={SITE_PAGE}" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here: browsers would drop a Secure cookie

    page = browser.get(SITE_PAGE)
    assert page.status_code == 200 and "shop.example.com" in page.text
    assert page.headers["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' https://shop.example.com http://shop.example.com")

    # One use only.
    again = app.test_client()
    assert open_embed(again, answer["url"]).status_code == 403
    assert again.get(SITE_PAGE).status_code == 403

    # The cookie of shop opens neither other's page nor, sent there by hand, anything else.
    value = cookie.split(";")[0].split("=", 1)[1]
    thief = app.test_client()
    thief.set_cookie(access.SITE_COOKIE, value, path="/status/s/other.example.net/")
    denied = thief.get("/status/s/other.example.net/")
    assert denied.status_code == 403 and "Other site" not in denied.text

    # other's own token opens other's page, not shop's.
    browser2 = app.test_client()
    resp = open_embed(browser2, embed_url(other)["url"])
    assert resp.headers["Location"].endswith("/status/s/other.example.net/")
    other_value = cookie_header(resp, access.SITE_COOKIE).split(";")[0].split("=", 1)[1]
    browser2.set_cookie(access.SITE_COOKIE, other_value, path=SITE_PAGE)
    assert browser2.get(SITE_PAGE).status_code == 403
    assert browser2.get("/status/s/other.example.net/").status_code == 200


def test_expired_and_forged_tokens_are_refused(flow, engine):
    app, *_ = flow
    with engine.begin() as conn:
        site_id = conn.execute(select(Site.id).where(Site.name == "shop.example.com")).scalar()
        token, _ = access.issue_embed_token(conn, site_id, utcnow() - timedelta(minutes=6))
    resp = app.test_client().get(f"/status/embed/{token}")
    assert resp.status_code == 403 and "expired" in resp.text
    assert "Set-Cookie" not in resp.headers
    assert app.test_client().get("/status/embed/not-a-token").status_code == 403
    forged = app.test_client()
    forged.set_cookie(access.SITE_COOKIE, access.make_cookie("another-key", "site", site_id), path=SITE_PAGE)
    assert forged.get(SITE_PAGE).status_code == 403


def test_embed_token_lets_the_origin_the_site_reports_frame_its_page(flow, engine):
    app, _, shop, other, _ = flow
    raw = app.test_client().post("/api/v1/embed-token", json={"origin": "https://evil.example"})
    assert raw.status_code == 401 and raw.json["error"]["code"] == "missing_signature"
    # Before any report: the site's own origin.
    assert embed_url(shop)["frame_origins"] == ["https://shop.example.com", "http://shop.example.com"]
    # The site's own signed request reports its wp-admin's origin: no manual step.
    answer = embed_url(shop, {"origin": "https://Admin.Example.com:8443/"})
    assert "warning" not in answer and answer["frame_origins"] == ["https://admin.example.com:8443"]
    # Another site's report changes nothing for this one; a malformed origin is not stored.
    embed_url(other, {"origin": "https://evil.example"})
    bad = embed_url(shop, {"origin": "javascript:alert(1)"})
    assert "is not an origin" in bad["warning"] and bad["frame_origins"] == ["https://admin.example.com:8443"]
    browser = app.test_client()
    open_embed(browser, answer["url"])
    page = browser.get(SITE_PAGE)
    assert page.headers["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' https://admin.example.com:8443")
    assert "May be embedded by: https://admin.example.com:8443" in page.get_data(as_text=True)
    # The operator's extra origin is added to the reported ones.
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        site = session.scalar(select(Site).where(Site.name == "shop.example.com"))
        access.update_site_settings(session, site, add_origins=("https://ops.example.com",))
    assert embed_url(shop, {"origin": "https://admin.example.com:8443"})["frame_origins"] == [
        "https://admin.example.com:8443", "https://ops.example.com"]


def test_cookie_over_https_is_secure_none_and_partitioned(settings, engine):
    s = settings.replace(public_url="https://bridge.example.net")
    app = create_app(s, engine)
    shop = make_site(app, s)
    answer = embed_url(shop)
    assert answer["url"].startswith("https://bridge.example.net/status/embed/")
    resp = open_embed(app.test_client(), answer["url"])
    cookie = cookie_header(resp, access.SITE_COOKIE)
    assert "Secure" in cookie and "SameSite=None" in cookie and "Partitioned" in cookie
    assert "HttpOnly" in cookie


def test_page_shows_the_figures_of_real_mail(flow):
    app, worker, shop, other, sink = flow
    send_traffic(flow)
    browser = app.test_client()
    open_embed(browser, embed_url(shop)["url"])
    page = browser.get(SITE_PAGE).text
    for window in ("1h", "24h", "7d"):
        assert cell(page, window, "accepted") == 5
        assert cell(page, window, "delivered") == 4
        assert cell(page, window, "bounced") == 1
        assert cell(page, window, "deferred") == 1
    assert "20.00%" in page  # bounce rate: 1 of 5 decided
    assert "550 5.1.1" in page and "does not exist" in page  # reason and the provider's answer
    assert "gone@gmail.com" in page
    assert "<svg" in page and "<script" not in page
    assert "Other site" not in page and "x@example.org" not in page
    assert re.search(r'data-p50="1h">[\d.]+ m?s<', page)  # a latency, whatever it is
    # Per domain group: gmail 2 sent, 1 bounced.
    row = re.search(r'\?group=gmail[^>]*>gmail</a></td>((?:<td class="n">[^<]*</td>){5})', page).group(1)
    assert re.findall(r">([^<]*)<", row)[::2] == ["2", "1", "0", "1", "0"]
    # Filtering by domain group narrows the figures.
    narrowed = browser.get(SITE_PAGE + "?group=yahoo").text
    assert cell(narrowed, "1h", "accepted") == 1 and cell(narrowed, "1h", "deferred") == 1
    css = browser.get("/status/static/status.css")
    assert css.status_code == 200 and b".banner" in css.data


def test_message_log_search_and_resend_with_csrf(flow, engine):
    app, worker, shop, other, sink = flow
    mid = send_traffic(flow)
    browser = app.test_client()
    open_embed(browser, embed_url(shop)["url"])
    log = browser.get(SITE_PAGE + "messages?status=failed").text
    assert "gone@gmail.com" in log and "a@gmail.com" not in log
    assert "Resend" in log
    assert "a@gmail.com" in browser.get(SITE_PAGE + "messages?recipient=A@GMAIL").text.lower()
    assert "Order 1001" in browser.get(SITE_PAGE + "messages?subject=order%201001").text
    assert "No message matches" in browser.get(SITE_PAGE + "messages?subject=nothing-like-it").text
    today = utcnow().strftime("%Y-%m-%d")
    assert browser.get(SITE_PAGE + f"messages?date={today}&group=microsoft").text.count("c@outlook.com") == 1
    assert "is not a date" in browser.get(SITE_PAGE + "messages?date=27.11.2026").text
    assert "x@example.org" not in browser.get(SITE_PAGE + "messages").text

    with engine.connect() as conn:
        rid = conn.execute(select(Recipient.id).where(Recipient.address == "gone@gmail.com")).scalar()
    form = {"recipient_id": str(rid), "back": SITE_PAGE + "messages?status=failed"}
    assert browser.post(SITE_PAGE + "resend", data=form).status_code == 403
    assert browser.post(SITE_PAGE + "resend", data={**form, "csrf": "forged"}).status_code == 403
    assert states(shop, mid)["gone@gmail.com"] == "failed"
    # Another site's session cannot resend shop's recipient either.
    intruder = app.test_client()
    open_embed(intruder, embed_url(other)["url"])
    assert intruder.post(SITE_PAGE + "resend", data={**form, "csrf": csrf_of(log)}).status_code == 403

    # A hard bounce put the address on the suppression list: resend says so and does nothing.
    resp = browser.post(SITE_PAGE + "resend", data={**form, "csrf": csrf_of(log)})
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("messages?status=failed&resent=suppressed")
    assert "suppression list" in browser.get(resp.headers["Location"]).text
    assert states(shop, mid)["gone@gmail.com"] == "failed"
    # Taken off the list (the mailbox exists now), it is queued again and delivered.
    assert shop.request("DELETE", "/api/v1/suppressions/gone@gmail.com").status_code == 204
    resp = browser.post(SITE_PAGE + "resend", data={**form, "csrf": csrf_of(log)})
    assert resp.headers["Location"].endswith("messages?status=failed&resent=queued")
    assert "The recipient is queued again." in browser.get(resp.headers["Location"]).text
    assert states(shop, mid)["gone@gmail.com"] == "queued"
    drain(worker, lambda: states(shop, mid)["gone@gmail.com"] == "delivered")
    assert any(r.rcpt_tos == ["gone@gmail.com"] for r in sink.received)
    # Resending it again does nothing: it is not failed any more.
    resp = browser.post(SITE_PAGE + "resend", data={**form, "csrf": csrf_of(log)})
    assert resp.headers["Location"].endswith("resent=not_failed")


def cli_env(settings) -> dict:
    return {"WPBRIDGE_DATA": str(settings.data_dir), "WPBRIDGE_DATABASE_URL": settings.database_url,
            "WPBRIDGE_SECRET_KEY": settings.secret_key, "WPBRIDGE_CONFIG": "/nonexistent.toml"}


def create_token(settings, name="agency") -> str:
    out = CliRunner().invoke(admin_command, ["create-token", "--name", name], env=cli_env(settings))
    assert out.exit_code == 0, out.output
    return out.output.split()[0]


def test_agency_view_needs_an_admin_token(flow, settings):
    app, worker, shop, other, sink = flow
    send_traffic(flow)
    anonymous = app.test_client()
    resp = anonymous.get("/status/")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/status/login")
    assert anonymous.get(SITE_PAGE).status_code == 403
    assert anonymous.get("/status/", headers={"Authorization": "Bearer wpba_wrong"}).status_code == 303

    token = create_token(settings)
    assert token.startswith("wpba_")
    with app.extensions["wpbridge"].engine.connect() as conn:
        assert token not in json.dumps([list(map(str, r)) for r in access.list_admin_tokens(conn)])
    page = anonymous.get("/status/", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert "shop.example.com" in page.text and "other.example.net" in page.text
    assert page.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")

    agency = app.test_client()
    assert agency.post("/status/login", data={"token": "wpba_wrong"}).status_code == 403
    resp = agency.post("/status/login", data={"token": token})
    assert resp.status_code == 303
    cookie = cookie_header(resp, access.ADMIN_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/status/" in cookie
    assert agency.get("/status/").status_code == 200
    assert "gone@gmail.com" in agency.get(SITE_PAGE).text  # the agency sees every site's page

    out = CliRunner().invoke(admin_command, ["revoke-token", "agency"], env=cli_env(settings))
    assert out.exit_code == 0, out.output
    assert agency.get("/status/").status_code == 303
    assert agency.get(SITE_PAGE).status_code == 403


def test_metrics_after_real_mail(flow, settings):
    app, worker, shop, other, sink = flow
    send_traffic(flow)
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    token = create_token(settings, "prometheus")
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.text
    shop_1h = 'category="transactional",outcome="{}",site="shop.example.com",window="1h"'
    assert f"wpbridge_recipients{{{shop_1h.format('accepted')}}} 5.0" in text
    assert f"wpbridge_recipients{{{shop_1h.format('delivered')}}} 4.0" in text
    assert f"wpbridge_recipients{{{shop_1h.format('bounced')}}} 1.0" in text
    assert 'wpbridge_bounce_rate{site="shop.example.com",window="24h"} 0.2' in text
    assert 'wpbridge_recipients_by_domain_group{domain_group="gmail",outcome="bounced",site="shop.example.com"} 1.0' in text
    assert 'wpbridge_queue_depth{lane="transactional",site="shop.example.com"} 0.0' in text
    assert re.search(r'wpbridge_delivery_latency_seconds\{quantile="0.95",site="shop.example.com",window="1h"\} \d', text)
    # 20% bounces, but of 5 recipients: under the minimum volume, so not an alert.
    assert 'wpbridge_health_level{site="shop.example.com"} 0.0' in text
    assert 'wpbridge_alert_level{metric="bounce_rate",site="shop.example.com"} 0.0' in text
    assert 'wpbridge_worker_heartbeat_age_seconds{worker="status-test"}' in text
    assert 'wpbridge_recipients{category="transactional",outcome="accepted",site="other.example.net",window="1h"} 1.0' in text


def test_readyz_follows_the_worker_heartbeat(app, engine, settings):
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503 and "no worker has reported yet" in resp.json["reason"]
    Worker(settings, engine, name="w1").beat()
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.json["database"] == "ok"
    with engine.begin() as conn:
        conn.execute(update(WorkerBeat).values(beat_at=utcnow() - timedelta(seconds=90)))
    resp = client.get("/readyz")
    assert resp.status_code == 503 and "90 s old" in resp.json["reason"]
    assert client.get("/healthz").status_code == 200


def test_message_log_pages_through_every_recipient_once(flow, engine):
    app, worker, shop, other, sink = flow
    send_traffic(flow)
    shop.post("/api/v1/messages", message(to=["later1@example.org", "later2@example.org"]))
    with engine.connect() as conn:
        site_id = conn.execute(select(Site.id).where(Site.name == "shop.example.com")).scalar()
        pages = {}
        for status in ("", "delivered"):
            seen, q = [], figures.LogQuery(status=status, limit=2)
            while True:
                page = figures.message_log(conn, site_id, q)
                if not page:
                    break
                seen += [row.address for row in page]
                q = figures.LogQuery(status=status, limit=2, before=q.cursor(page[-1]))
            pages[status] = seen
    assert pages[""][:2] == ["later2@example.org", "later1@example.org"]  # newest message first
    assert sorted(pages[""]) == sorted(["a@gmail.com", "b@example.org", "gone@gmail.com", "slow@yahoo.com",
                                        "c@outlook.com", "later1@example.org", "later2@example.org"])
    assert sorted(pages["delivered"]) == ["a@gmail.com", "b@example.org", "c@outlook.com",
                                          "slow@yahoo.com"]


def test_alerts_check_and_site_settings_commands(flow, settings):
    from wpbridge.status.cli import alerts_command

    env = cli_env(settings)
    out = CliRunner().invoke(admin_command, ["site", "shop.example.com", "--contact", "o@example.com",
                                             "--origin", "https://admin.example.com:8443/"], env=env)
    assert out.exit_code == 0, out.output
    assert "contact: o@example.com" in out.output and "https://admin.example.com:8443" in out.output
    out = CliRunner().invoke(admin_command, ["site", "shop.example.com", "--origin", "ftp://x"], env=env)
    assert out.exit_code == 1 and "is not an origin" in out.output
    out = CliRunner().invoke(alerts_command, ["check", "--json", "--site", "shop.example.com"], env=env)
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    # No worker has reported yet: the bridge-wide heartbeat alert is critical everywhere.
    assert result["sites"]["shop.example.com"]["level"] == "critical"
    assert [c["metric"] for c in result["changes"]] == ["worker_heartbeat"]


def test_page_shows_provider_health_and_a_bulk_pause(flow, engine):
    from wpbridge.models import utcnow
    from wpbridge.shape.models import BulkPause

    app, worker, shop, other, sink = flow
    browser = app.test_client()
    open_embed(browser, embed_url(shop)["url"])
    page = browser.get(SITE_PAGE).text
    assert "Providers and limits" in page and "Bulk mail is paused" not in page
    with engine.begin() as conn:
        conn.execute(BulkPause.__table__.insert().values(
            site_id=1, state="paused", reason="bounce rate 1 h 12.0% over 8%", paused_at=utcnow(),
            updated_at=utcnow()))
    page = browser.get(SITE_PAGE).text
    assert "Bulk mail is paused" in page and "bounce rate 1 h 12.0% over 8%" in page


@pytest.mark.parametrize("typed, kind, value", [
    ("Alice.Smith@Example.org", "address", "alice.smith@example.org"),
    ("alice@", "prefix", "alice@"),
    ("alice@exa", "prefix", "alice@exa"),
    ("@example.org", "domain", "example.org"),
    ("example.org", "start", "example.org"),
    ("alice", "start", "alice"),
    ("*smith", "fragment", "smith"),
    ("*lic*", "fragment", "lic"),
])
def test_recipient_search_is_told_by_its_shape(typed, kind, value):
    assert figures.AddressSearch.parse(typed) == figures.AddressSearch(kind, value)


def test_empty_recipient_search_filters_nothing():
    assert figures.AddressSearch.parse("  ") is None and figures.AddressSearch.parse("*") is None


def _log_rows(engine, site_id: int, n: int, address, domain, start) -> None:
    """``n`` delivered recipients of ``site_id``, one message each, a minute apart."""
    import uuid

    from sqlalchemy import insert

    from wpbridge.models import Message

    messages, recipients = [], []
    for i in range(n):
        mid, at = uuid.uuid4().hex, start + timedelta(minutes=i)
        messages.append({"id": mid, "site_id": site_id, "created_at": at, "expires_at": at,
                         "mail_from": "shop@example.com", "from_header": "shop@example.com",
                         "subject": f"m{i}", "category": "transactional", "reasons": [],
                         "context": {}, "size": 1, "recipient_count": 1, "raw": b"x"})
        recipients.append({"message_id": mid, "site_id": site_id, "address": address(i),
                           "domain": domain(i), "lane": 0, "provider": "default",
                           "state": "delivered", "attempts": 1, "next_attempt_at": at,
                           "updated_at": at})
    with engine.begin() as conn:
        conn.execute(insert(Message.__table__), messages)
        conn.execute(insert(Recipient.__table__), recipients)


def test_recipient_search_finds_addresses_prefixes_domains_and_fragments(app, site, engine):
    with engine.connect() as conn:
        shop = conn.execute(select(Site.id)).scalar()
    other = make_site(app, app.extensions["wpbridge"].settings, "other.example.net", ("example.net",))
    with engine.connect() as conn:
        other_id = conn.execute(select(Site.id).where(Site.name == "other.example.net")).scalar()
    start = utcnow() - timedelta(days=10)
    names = ["Alice.Smith@Example.org", "alina@example.org", "bob@mail.example.com",
             "carol@smith.example", "dave%_@example.org"]
    _log_rows(engine, shop, len(names), lambda i: names[i], lambda i: names[i].rpartition("@")[2].lower(), start)
    _log_rows(engine, other_id, 1, lambda i: "alice.smith@example.org", lambda i: "example.org", start)

    def found(typed):
        with engine.connect() as conn:
            return [r.address for r in figures.message_log(conn, shop, figures.LogQuery(recipient=typed))]

    assert found("alice.smith@EXAMPLE.org") == ["Alice.Smith@Example.org"]  # not the other site's
    assert found("ali") == ["alina@example.org", "Alice.Smith@Example.org"]  # newest first
    assert found("alice@") == []
    assert found("@example.o") == ["dave%_@example.org", "alina@example.org", "Alice.Smith@Example.org"]
    assert found("mail.example.com") == ["bob@mail.example.com"]
    assert found("smith") == ["carol@smith.example"]  # start of a domain, not inside an address
    assert found("*smith") == ["carol@smith.example", "Alice.Smith@Example.org"]
    assert found("dave%") == ["dave%_@example.org"] and found("d%") == []  # no wildcards


def test_recipient_search_with_many_matches_walks_time_and_agrees(app, site, engine):
    """Past _SORT_AT_MOST matches the log walks the messages newest first instead of sorting
    every match: the same rows in the same order, page after page."""
    with engine.connect() as conn:
        shop = conn.execute(select(Site.id)).scalar()
    n = figures._SORT_AT_MOST * 3 // 2 + 90  # "many" matches more than that, "few" fewer
    start = utcnow() - timedelta(days=30)
    _log_rows(engine, shop, n, lambda i: f"c{i}@{'many' if i % 3 else 'few'}.example",
              lambda i: f"{'many' if i % 3 else 'few'}.example", start)
    with engine.connect() as conn:
        assert [figures._few(conn, shop, figures.AddressSearch.parse(d)) for d in ("@many.example", "@few.example")] \
            == [False, True]
        for typed, expect in (("@many.example", [i for i in range(n) if i % 3]),
                              ("@few.example", [i for i in range(n) if not i % 3])):
            q = figures.LogQuery(recipient=typed, limit=40)
            first = figures.message_log(conn, shop, q)
            second = figures.message_log(conn, shop, figures.LogQuery(recipient=typed, limit=40,
                                                                      before=q.cursor(first[-1])))
            assert [r.address for r in first + second] == [f"c{i}@{typed[1:]}" for i in expect[::-1][:80]]


def test_message_log_says_how_it_searched(flow):
    app, worker, shop, other, sink = flow
    send_traffic(flow)
    browser = app.test_client()
    open_embed(browser, embed_url(shop)["url"])
    page = browser.get(SITE_PAGE + "messages?recipient=*mail").text
    assert "gone@gmail.com" in page and "x@example.org" not in page
    assert "among the newest 10,000 messages only" in unescape(page)
    assert "Addresses or domains starting with gmail" in browser.get(SITE_PAGE + "messages?recipient=gmail").text


def test_subject_search_looks_through_the_newest_messages_unless_a_date_is_chosen(app, site, engine, monkeypatch):
    with engine.connect() as conn:
        shop = conn.execute(select(Site.id)).scalar()
    start = utcnow() - timedelta(days=1)
    _log_rows(engine, shop, 30, lambda i: f"c{i}@example.org", lambda i: "example.org", start)
    monkeypatch.setattr(figures, "FRAGMENT_SCAN", 10)  # the newest 10 of the 30: m20..m29

    def found(**q):
        with engine.connect() as conn:
            return [r.subject for r in figures.message_log(conn, shop, figures.LogQuery(**q))]

    assert found(subject="m2") == ["m29", "m28", "m27", "m26", "m25", "m24", "m23", "m22", "m21", "m20"]
    assert found(subject="m1") == []  # m1, m10..m19 are older than the newest 10
    assert "newest 10 messages" in figures.LogQuery(subject="m1").subject_note
    day = (start + timedelta(minutes=1)).strftime("%Y-%m-%d")  # m1's day
    assert "m1" in found(subject="m1", date=day)  # with a date the whole day is searched
    assert figures.LogQuery(subject="m1", date=day).subject_note == ""

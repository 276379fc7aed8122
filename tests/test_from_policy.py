"""Senders a WordPress site really uses (wpbridge/ingest/sender.py): subdomains, from_policy
rewrite and refuse, and the From/Sender rules, through the HTTP API (structured and raw) and
the SMTP listener alike. No site can ever send as a domain another site holds."""

from __future__ import annotations

import base64
import email
from email import policy as email_policy

import pytest
from sqlalchemy import select

from tests.conftest import make_site, message
from tests.test_smtp import login, rfc5322, running, send, tls_files, ca, client_tls  # noqa: F401
from wpbridge import sites
from wpbridge.models import Message, Site, utcnow
from wpbridge.status import figures

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def stored(app, mid: str) -> Message:
    with app.extensions["wpbridge"].sessions() as session:
        return session.get(Message, mid)


def headers_of(msg: Message):
    return email.message_from_bytes(msg.raw, policy=email_policy.default)


def raw_payload(raw: bytes, env_from="shop@example.com", to=("alice@example.org",)) -> dict:
    return {"raw": base64.b64encode(raw).decode(), "envelope": {"from": env_from, "to": list(to)}}


def post(site, payload):
    resp = site.post("/api/v1/messages", payload)
    return resp


@pytest.mark.parametrize("sender", ["wordpress@127.0.0.1", "wordpress@localhost"])
def test_wordpress_default_senders_are_rewritten_and_delivered(app, site, sender):
    resp = post(site, message(**{"from": sender}))
    assert resp.status_code == 202, resp.json
    msg = stored(app, resp.json["id"])
    h = headers_of(msg)
    assert h["From"].addresses[0].addr_spec == "wordpress@example.com"
    assert msg.mail_from == "wordpress@example.com"  # the envelope follows
    # Not a deliverable address: no Reply-To made of it.
    assert h["Reply-To"] is None
    assert msg.from_header.endswith("<wordpress@example.com>") or msg.from_header == "wordpress@example.com"


def test_a_subdomain_of_a_sending_domain_is_the_sites_unless_it_says_otherwise(app, settings):
    shop = make_site(app, settings)
    resp = post(shop, message(**{"from": "WordPress <wordpress@shop.example.com>"}))
    assert resp.status_code == 202
    msg = stored(app, resp.json["id"])
    assert headers_of(msg)["From"].addresses[0].addr_spec == "wordpress@shop.example.com"
    assert msg.mail_from == "wordpress@shop.example.com"
    exact = make_site(app, settings, "exact.example.org", ("example.org",), subdomains=False,
                      from_policy="refuse")
    refused = post(exact, message(**{"from": "wordpress@www.example.org"}))
    assert refused.status_code == 422
    err = refused.json["error"]
    assert err["field"] == "from" and err["code"] == "sender_domain"
    assert "www.example.org" in err["message"] and "(exactly)" not in err["message"]
    assert "wpbridge site domains add exact.example.org www.example.org" in err["fix"]
    assert "recipient" not in err["fix"]


def test_rewrite_keeps_the_original_in_reply_to_and_the_display_name(app, site):
    resp = post(site, message(**{"from": "Shop Owner <owner@gmail.com>"}))
    assert resp.status_code == 202
    h = headers_of(stored(app, resp.json["id"]))
    assert str(h["From"]) == "Shop Owner <wordpress@example.com>"
    assert str(h["Reply-To"]) == "Shop Owner <owner@gmail.com>"
    # A Reply-To of its own is kept, not replaced.
    resp = post(site, message(**{"from": "owner@gmail.com"}, reply_to=["help@example.com"]))
    h = headers_of(stored(app, resp.json["id"]))
    assert h.get_all("Reply-To") == ["help@example.com"]
    assert h["From"].addresses[0].addr_spec == "wordpress@example.com"


def test_default_from_is_settable_and_must_be_the_sites(app, settings):
    shop = make_site(app, settings, default_from="orders@example.com")
    resp = post(shop, message(**{"from": "wordpress@localhost"}))
    assert headers_of(stored(app, resp.json["id"]))["From"].addresses[0].addr_spec == "orders@example.com"
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        with pytest.raises(sites.SiteError, match="give an address of one of its sending domains"):
            sites.set_senders(session, shop.name, default_from="orders@example.net")


def test_refuse_policy_names_the_field_and_a_sender_fix(app, settings):
    shop = make_site(app, settings, from_policy="refuse")
    for payload, field in [
        (message(**{"from": "owner@gmail.com"}), "from"),
        (raw_payload(rfc5322(), env_from="bounce@gmail.com"), "envelope.from"),
        (raw_payload(rfc5322(extra=b"Sender: agent@gmail.com\r\n")), "headers.Sender"),
    ]:
        resp = post(shop, payload)
        assert resp.status_code == 422, resp.json
        err = resp.json["error"]
        assert err["field"] == field and err["code"] == "sender_domain"
        assert "gmail.com" in err["message"] and "wpbridge site domains add" in err["fix"]
        assert "recipient" not in err["fix"]
    bad = post(shop, message(**{"from": "shop..x@example.com"}))
    assert bad.status_code == 422 and bad.json["error"]["field"] == "from"
    assert "recipient" not in bad.json["error"]["fix"]


def test_a_site_can_never_send_as_another_sites_domain(app, settings):
    parent = make_site(app, settings, "example.com", ("example.com",))
    child = make_site(app, settings, "shop.example.com", ("shop.example.com",))
    # The child's own domain and below are the child's, not covered by the parent's
    # subdomain rule: the parent's From is rewritten to its own default sender.
    for sender in ("info@shop.example.com", "info@eu.shop.example.com"):
        resp = post(parent, message(**{"from": sender}))
        assert resp.status_code == 202
        msg = stored(app, resp.json["id"])
        assert headers_of(msg)["From"].addresses[0].addr_spec == "wordpress@example.com"
        assert msg.mail_from == "wordpress@example.com"
    # Under refuse, it is refused outright.
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        sites.set_senders(session, "example.com", "refuse")
    app.extensions["wpbridge"].sites._cache.clear()
    resp = post(parent, message(**{"from": "info@shop.example.com"}))
    assert resp.status_code == 422 and resp.json["error"]["field"] == "from"
    # Other subdomains are still the parent's; the child sends as its own.
    assert post(parent, message(**{"from": "info@news.example.com"})).status_code == 202
    resp = post(child, message(**{"from": "info@shop.example.com"}))
    assert headers_of(stored(app, resp.json["id"]))["From"].addresses[0].addr_spec == "info@shop.example.com"
    # The child cannot climb up to the parent's domain either.
    resp = post(child, message(**{"from": "info@example.com"}))
    assert headers_of(stored(app, resp.json["id"]))["From"].addresses[0].addr_spec == "wordpress@shop.example.com"


BAD_HEADERS = [
    (b"From: shop@example.com\r\nFrom: other@example.com\r\nTo: a@example.org\r\n\r\nhi\r\n",
     "from", "2 From header fields"),
    (b"From: shop@example.com\r\nFrom : evil@evil.example\r\nTo: a@example.org\r\n\r\nhi\r\n",
     "from", "2 From header fields"),
    (b"From: shop@example.com\r\nSender: a@example.com\r\nSender: b@example.com\r\n\r\nhi\r\n",
     "headers.Sender", "2 Sender header fields"),
    (b"From: Shop: shop@example.com;\r\nTo: a@example.org\r\n\r\nhi\r\n", "from", "group syntax"),
    (b"From: undisclosed-recipients:;\r\nTo: a@example.org\r\n\r\nhi\r\n", "from", "group syntax"),
    (b"From: shop@example.com, other@example.com\r\nTo: a@example.org\r\n\r\nhi\r\n",
     "from", "needs a Sender"),
]


@pytest.mark.parametrize("raw,field,words", BAD_HEADERS)
@pytest.mark.parametrize("policy", ["rewrite", "refuse"])
def test_from_and_sender_rules_through_the_raw_api(app, settings, raw, field, words, policy):
    shop = make_site(app, settings, from_policy=policy)
    resp = post(shop, raw_payload(raw))
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["field"] == field and words in resp.json["error"]["message"]


def test_every_address_in_from_and_sender_is_checked(app, settings):
    shop = make_site(app, settings, from_policy="refuse")
    raw = b"From: shop@example.com, evil@evil.example\r\nSender: shop@example.com\r\n\r\nhi\r\n"
    resp = post(shop, raw_payload(raw))
    assert resp.status_code == 422 and "evil.example" in resp.json["error"]["message"]
    raw = b"From: a@example.com, b@example.com\r\nSender: shop@example.com\r\n\r\nhi\r\n"
    assert post(shop, raw_payload(raw)).status_code == 202


def test_from_with_space_before_the_colon_is_a_from(app, settings):
    refuse = make_site(app, settings, from_policy="refuse")
    raw = b"From : Evil <ceo@evil.example>\r\nTo: a@example.org\r\nSubject: x\r\n\r\nhi\r\n"
    resp = post(refuse, raw_payload(raw))
    assert resp.status_code == 422 and resp.json["error"]["field"] == "from"
    rewrite = make_site(app, settings, "other.example.net", ("example.net",))
    resp = post(rewrite, raw_payload(raw, env_from="shop@example.net"))
    assert resp.status_code == 202
    msg = stored(app, resp.json["id"])
    h = headers_of(msg)
    assert b"From :" not in msg.raw and len(h.get_all("From")) == 1
    assert str(h["From"]) == "Evil <wordpress@example.net>"
    assert str(h["Reply-To"]) == "Evil <ceo@evil.example>"


def test_structured_api_refuses_several_senders_and_sender_headers(app, site):
    for payload, field in [(message(**{"from": ["a@example.com", "b@example.com"]}), "from"),
                           (message(headers={"Sender": "x@example.com"}), "headers.Sender"),
                           (message(headers={"From ": "x@example.com"}), "headers.From ")]:
        resp = post(site, payload)
        assert resp.status_code in (400, 422) and resp.json["error"]["field"] == field, resp.json


@sqlite_only
def test_smtp_listener_applies_the_same_rules(app, settings, engine, tls_files, client_tls):
    shop = make_site(app, settings)
    with running(settings, engine, tls_files) as listener:
        client = login(listener, shop, client_tls)
        # WordPress's default sender, as an SMTP plugin sends it: rewritten and queued.
        code, text = send(client, rfc5322(sender="WordPress <wordpress@localhost>"),
                          mail_from="wordpress@localhost")
        assert code == 250, text
        mid = text.rsplit(" ", 1)[1]
        for raw, words in [(BAD_HEADERS[1][0], "2 From header fields"),
                           (BAD_HEADERS[3][0], "group syntax"),
                           (BAD_HEADERS[2][0], "2 Sender header fields")]:
            code, text = send(client, raw)
            assert code == 550 and words in text, text
        client.quit()
    msg = stored(app, mid)
    assert msg.mail_from == "wordpress@example.com"
    assert str(headers_of(msg)["From"]) == "WordPress <wordpress@example.com>"


@sqlite_only
def test_smtp_refuse_policy_refuses_at_mail_from(app, settings, engine, tls_files, client_tls):
    shop = make_site(app, settings, from_policy="refuse")
    with running(settings, engine, tls_files) as listener:
        client = login(listener, shop, client_tls)
        code, text = client.mail("wordpress@localhost")
        assert code == 550 and b"localhost" in text
        client.quit()


def test_rewrites_are_counted_and_named_on_the_status_page(app, site, engine):
    from tests.test_status import embed_url, open_embed

    for _ in range(3):
        assert post(site, message(**{"from": "wordpress@localhost"})).status_code == 202
    assert post(site, message()).status_code == 202
    with engine.connect() as conn:
        site_id = conn.execute(select(Site.id).where(Site.name == site.name)).scalar()
        totals = figures.totals(conn, site_id, figures.WINDOWS["24h"], utcnow())
        last = conn.execute(select(Site.last_rewritten_from).where(Site.id == site_id)).scalar()
    assert totals.rewritten == 3 and totals.accepted == 4
    assert last == "wordpress@localhost"
    browser = app.test_client()
    open_embed(browser, embed_url(site)["url"])
    page = browser.get("/status/s/shop.example.com/").get_data(as_text=True)
    assert "3 message(s) in 24 h had a From outside" in page and "(last: wordpress@localhost)" in page
    assert "set WordPress's From address" in page
    assert "domains add shop.example.com localhost" not in page  # not a domain one could add
    post(site, message(**{"from": "news@shop.example.net"}))
    page = browser.get("/status/s/shop.example.com/").get_data(as_text=True)
    assert "wpbridge site domains add shop.example.com shop.example.net" in page


@sqlite_only
def test_envelope_and_dkim_follow_the_rewritten_from(settings, engine, sink):
    from tests.test_dkim import signatures
    from tests.test_relay import drain, provider_settings, states
    from wpbridge.app import create_app
    from wpbridge.auth import dkim
    from wpbridge.worker import Worker

    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}")
    app = create_app(s, engine)
    shop = make_site(app, s)
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        dkim.generate(session, s.secret_key, shop.name, "example.com", "ed25519", "ed1")
    worker = Worker(s, engine)
    try:
        mid = post(shop, message(**{"from": "Shop <wordpress@127.0.0.1>"})).json["id"]
        drain(worker, lambda: set(states(shop, mid).values()) == {"delivered"})
    finally:
        worker.close()
    [got] = sink.received
    assert got.mail_from == "wordpress@example.com"
    assert str(got.message["From"]) == "Shop <wordpress@example.com>"
    assert [sig["d"] for sig in signatures(got.data)] == ["example.com"]

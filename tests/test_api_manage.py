"""What wp-admin does through the bridge (issue 13): view a logged message, resend any
message, remove a suppression, set the alert contact, levels and weekly summary. Every call
is signed and scoped to its site: another site's message id is a 404, an unsigned call 401."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select, update

from tests.conftest import make_site, message
from wpbridge.models import Message, ReportRun
from wpbridge.status import alerts, report


@pytest.fixture
def other(app, settings):
    return make_site(app, settings, name="other.example.net", domains=("example.net",))


def queue(site, **overrides) -> str:
    resp = site.post("/api/v1/messages", message(**overrides))
    assert resp.status_code == 202, resp.json
    return resp.json["id"]


def put(site, body):
    return site.request("PUT", "/api/v1/alert-settings", json.dumps(body).encode())


def test_content_shows_headers_and_bodies(site):
    mid = queue(site, html="<p>Thanks <b>Alice</b></p>", attachments=[
        {"filename": "invoice.pdf", "content_type": "application/pdf", "content": "JVBERi0xLjQK"}])
    resp = site.get(f"/api/v1/messages/{mid}/content")
    assert resp.status_code == 200
    body = resp.json
    assert body["body_pruned"] is False
    headers = {k.lower(): v for k, v in body["headers"]}
    assert headers["subject"] == "Your order #1001"
    assert "alice@example.org" in headers["to"]
    assert body["text"].strip() == "Thanks for your order."
    assert "<b>Alice</b>" in body["html"]
    assert body["attachments"] == [{"filename": "invoice.pdf", "content_type": "application/pdf",
                                    "size": 9}]


def test_content_says_plainly_when_the_body_was_pruned(site, engine):
    mid = queue(site)
    with engine.begin() as conn:
        conn.execute(update(Message.__table__).where(Message.id == mid).values(raw=b""))
    body = site.get(f"/api/v1/messages/{mid}/content").json
    assert body["body_pruned"] is True and body["text"] is None and body["headers"] == []
    assert body["note"].startswith("The body is no longer kept: the bridge keeps message bodies 30 days")
    resp = site.post(f"/api/v1/messages/{mid}/resend", b"")
    assert resp.status_code == 409 and resp.json["error"]["code"] == "body_pruned"


@pytest.mark.parametrize("call", ["content", "resend"])
def test_another_sites_message_is_not_found(site, other, call):
    mid = queue(site)
    resp = (other.get(f"/api/v1/messages/{mid}/content") if call == "content"
            else other.post(f"/api/v1/messages/{mid}/resend", b""))
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    assert mid not in json.dumps(other.get("/api/v1/alert-settings").json)


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/messages/{mid}/content"), ("POST", "/api/v1/messages/{mid}/resend"),
    ("GET", "/api/v1/alert-settings"), ("PUT", "/api/v1/alert-settings"),
    ("DELETE", "/api/v1/suppressions/alice@example.org")])
def test_unsigned_calls_are_refused(site, method, path):
    mid = queue(site)
    body = b'{"contact_email": "x@example.com"}' if method == "PUT" else b""
    resp = site.request(method, path.format(mid=mid), body, sign=False)
    assert resp.status_code == 401
    assert site.get("/api/v1/alert-settings").json["contact_email"] is None


def test_resend_a_delivered_message_makes_a_new_one(site, engine):
    mid = queue(site, to=["alice@example.org", "bob@example.org"])
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE recipients SET state = 'delivered' WHERE message_id = ?"
                             if engine.dialect.name == "sqlite" else
                             "UPDATE recipients SET state = 'delivered' WHERE message_id = %s", (mid,))
    resp = site.post(f"/api/v1/messages/{mid}/resend", {"recipients": ["BOB@example.org"]})
    assert resp.status_code == 202, resp.json
    assert resp.json["resent_from"] == mid and resp.json["recipients"] == 1
    copy = site.get(f"/api/v1/messages/{resp.json['id']}").json
    assert [r["address"] for r in copy["recipients"]] == ["bob@example.org"]
    assert copy["recipients"][0]["state"] == "queued"
    assert copy["context"]["resent_from"] == mid
    original = site.get(f"/api/v1/messages/{mid}").json
    assert {r["state"] for r in original["recipients"]} == {"delivered"}
    with engine.connect() as conn:
        raws = dict(conn.execute(select(Message.id, Message.raw)).all())
    def msgid(raw):
        return [l for l in raw.split(b"\r\n") if l.lower().startswith(b"message-id:")]
    assert len(msgid(raws[resp.json["id"]])) == 1 and msgid(raws[mid]) != msgid(raws[resp.json["id"]])
    whole = site.post(f"/api/v1/messages/{mid}/resend", b"")
    assert whole.status_code == 202 and whole.json["recipients"] == 2
    stranger = site.post(f"/api/v1/messages/{mid}/resend", {"recipients": ["eve@example.org"]})
    assert stranger.status_code == 422 and stranger.json["error"]["field"] == "recipients"


def test_resend_to_a_suppressed_address_names_it_and_works_once_removed(site):
    mid = queue(site)
    assert site.post("/api/v1/suppressions", {"address": "alice@example.org",
                                              "reason": "hard_bounce"}).status_code == 201
    refused = site.post(f"/api/v1/messages/{mid}/resend", b"")
    assert refused.status_code == 409
    err = refused.json["error"]
    assert err["code"] == "suppressed" and err["address"] == "alice@example.org"
    assert "DELETE /api/v1/suppressions/alice@example.org" in err["fix"]
    assert site.request("DELETE", "/api/v1/suppressions/alice@example.org").status_code == 204
    assert site.post(f"/api/v1/messages/{mid}/resend", b"").status_code == 202


def test_alert_settings_round_trip_and_scope(app, settings, engine, site, other):
    got = site.get("/api/v1/alert-settings").json
    assert got["contact_email"] is None and got["weekly_summary"] == {"enabled": False, "to": None}
    bounce = next(t for t in got["thresholds"] if t["metric"] == "bounce_rate")
    assert (bounce["warn"], bounce["critical"], bounce["min_volume"]) == (0.03, 0.08, 20)
    assert "worker_heartbeat" not in {t["metric"] for t in got["thresholds"]}
    resp = put(site, {"contact_email": "ops@example.com, Owner@Example.com",
                      "weekly_summary": {"enabled": True, "to": "admin@example.com"},
                      "thresholds": {"bounce_rate": {"warn": 0.05, "critical": 0.1}}})
    assert resp.status_code == 200, resp.json
    assert resp.json["contact_email"] == "ops@example.com, Owner@example.com"
    assert resp.json["weekly_summary"] == {"enabled": True, "to": "admin@example.com"}
    bounce = next(t for t in resp.json["thresholds"] if t["metric"] == "bounce_rate")
    assert (bounce["warn"], bounce["critical"], bounce["default_warn"]) == (0.05, 0.1, 0.03)
    # The alerts judge by the site's own levels; the other site keeps the defaults.
    with engine.connect() as conn:
        mine = {t.metric: t for t in alerts.site_thresholds(conn, settings, 1)}
        theirs = {t.metric: t for t in alerts.site_thresholds(conn, settings, 2)}
    assert mine["bounce_rate"].critical == 0.1 and mine["bounce_rate"].warn_clear == pytest.approx(0.05 * 2 / 3)
    assert theirs["bounce_rate"].critical == 0.08
    assert other.get("/api/v1/alert-settings").json["contact_email"] is None


@pytest.mark.parametrize("body,status,field", [
    ({"thresholds": {"bounce_rate": {"warn": 0.2, "critical": 0.1}}}, 422, "thresholds.bounce_rate.warn"),
    ({"thresholds": {"bounce_rate": {"warn": 5}}}, 422, "thresholds.bounce_rate.warn"),
    ({"thresholds": {"bounce_rate": {"warn": "high"}}}, 400, "thresholds.bounce_rate.warn"),
    ({"thresholds": {"worker_heartbeat": {"warn": 10}}}, 422, "thresholds.worker_heartbeat"),
    ({"contact_email": "ops@example.com, not an address"}, 422, "contact_email[1]"),
    ({"weekly_summary": {"enabled": True}}, 422, "weekly_summary.to"),
    ({"weekly_summary": {"enabled": "yes"}}, 400, "weekly_summary.enabled"),
    ({"colour": "red"}, 422, "colour"),
])
def test_bad_alert_settings_name_the_field_and_change_nothing(site, body, status, field):
    before = site.get("/api/v1/alert-settings").json
    resp = put(site, {"contact_email": "ops@example.com", **body})
    assert resp.status_code == status and resp.json["error"]["field"] == field, resp.json
    assert resp.json["error"]["fix"]
    assert site.get("/api/v1/alert-settings").json == before


def test_weekly_summary_goes_to_the_opted_in_address_once(app, settings, engine, site):
    assert put(site, {"weekly_summary": {"enabled": True, "to": "admin@example.com"}}).status_code == 200
    now = datetime(2026, 12, 2, 9, 0)  # a Wednesday: last week is Nov 23 to 29
    assert report.send_due(engine, settings, now) == 1
    assert report.send_due(engine, settings, now) == 0  # once per week, whoever runs it
    with engine.connect() as conn:
        subjects = conn.execute(select(Message.subject)).scalars().all()
        runs = conn.execute(select(ReportRun.period)).scalars().all()
    assert subjects == ["[wpbridge] Weekly mail report for shop.example.com: 2026-11-23 to 2026-11-29"]
    assert runs == ["week"]
    assert put(site, {"weekly_summary": {"enabled": False}}).json["weekly_summary"]["enabled"] is False
    assert report.send_due(engine, settings, datetime(2026, 12, 9, 9, 0)) == 0


def test_log_lists_this_sites_recipients_only(site, other):
    mine = queue(site, to=["alice@example.org", "bob@example.org"])
    theirs = queue(other, **{"from": "shop@example.net"}, to=["carol@example.org"])
    entries = site.get("/api/v1/messages").json["entries"]
    assert {(e["id"], e["address"], e["state"]) for e in entries} == {
        (mine, "alice@example.org", "queued"), (mine, "bob@example.org", "queued")}
    assert theirs not in {e["id"] for e in other.get("/api/v1/messages?recipient=alice@example.org").json["entries"]}
    found = site.get("/api/v1/messages?recipient=bob@example.org").json
    assert [e["address"] for e in found["entries"]] == ["bob@example.org"] and found["next_before"] is None
    bad = site.get("/api/v1/messages?date=yesterday")
    assert bad.status_code == 400 and bad.json["error"]["field"] == "date"

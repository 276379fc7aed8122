"""Erase-by-recipient and body retention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.conftest import make_site, message
from tests.test_relay import drain, provider_settings, states
from wpbridge import privacy
from wpbridge.app import create_app
from wpbridge.models import Message, utcnow
from wpbridge.worker import Worker


def test_erase_removes_the_recipient_but_keeps_the_suppression(settings, engine, sink):
    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}")
    app = create_app(s, engine)
    site = make_site(app, s)
    other = make_site(app, s, "other.example.net", ["example.net"])
    alone = site.post("/api/v1/messages", message(to=["Erase.Me@example.org"])).json["id"]
    shared = site.post("/api/v1/messages", message(to=["erase.me@example.org", "keep@example.org"])).json["id"]
    elsewhere = other.post("/api/v1/messages", message(**{"from": "x@example.net"}, to=["erase.me@example.org"])).json["id"]
    site.post("/api/v1/suppressions", {"address": "erase.me@example.org", "scope": "bulk", "reason": "unsubscribe"})
    drain(Worker(s, engine), lambda: "queued" not in states(site, shared).values())
    resp = site.post("/api/v1/privacy/erase", {"address": "ERASE.me@example.org"})
    assert resp.status_code == 200
    assert resp.json["erased"] == {"recipients": 2, "messages": 1, "events": 0}
    assert site.get(f"/api/v1/messages/{alone}").status_code == 404
    assert [r["address"] for r in site.get(f"/api/v1/messages/{shared}").json["recipients"]] == ["keep@example.org"]
    assert other.get(f"/api/v1/messages/{elsewhere}").status_code == 200, "only the asking site's data"
    assert [e["address"] for e in site.get("/api/v1/suppressions").json["suppressions"]] == ["erase.me@example.org"]


def test_prune_drops_old_finished_bodies_only(app, site, engine, settings):
    done = site.post("/api/v1/messages", message()).json["id"]
    waiting = site.post("/api/v1/messages", message(subject="still queued")).json["id"]
    with engine.begin() as conn:
        conn.execute(Message.__table__.update().values(created_at=utcnow() - timedelta(days=40)))
        conn.exec_driver_sql(f"UPDATE recipients SET state = 'delivered' WHERE message_id = '{done}'")
    assert privacy.prune_bodies(engine, 30, utcnow()) == 1
    with engine.connect() as conn:
        sizes = dict(conn.execute(select(Message.id, Message.size)).all())
    assert sizes[done] == 0 and sizes[waiting] > 0
    assert site.get(f"/api/v1/messages/{done}").json["recipients"][0]["state"] == "delivered"

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
    from wpbridge.events.store import Event

    with engine.begin() as conn:  # bounce reports that quote each message
        site_id = conn.execute(select(Message.site_id)).scalar()
        conn.execute(Event.__table__.insert(), [
            {"site_id": site_id, "message_id": mid, "address": "alice@example.org", "group": "soft",
             "reason": "mailbox_full", "source": "dsn", "raw": f"report quoting {mid}",
             "created_at": utcnow() - timedelta(days=39)} for mid in (done, waiting)])
    assert privacy.prune_bodies(engine, 30, utcnow()) == 1
    with engine.connect() as conn:
        sizes = dict(conn.execute(select(Message.id, Message.size)).all())
        reports = dict(conn.execute(select(Event.message_id, Event.raw)).all())
    assert sizes[done] == 0 and sizes[waiting] > 0
    assert reports == {done: None, waiting: f"report quoting {waiting}"}  # the event itself stays
    assert site.get(f"/api/v1/messages/{done}").json["recipients"][0]["state"] == "delivered"


def _age(engine, message_ids, days: float) -> None:
    with engine.begin() as conn:
        conn.execute(Message.__table__.update().where(Message.id.in_(message_ids))
                     .values(created_at=utcnow() - timedelta(days=days)))


def _sizes(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Message.id, Message.size)).all())


def test_worker_drops_old_bodies_by_itself_and_keeps_recent_ones(settings, engine, sink):
    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}", body_retention_days=30)
    app = create_app(s, engine)
    site = make_site(app, s)
    old, recent = (site.post("/api/v1/messages", message(subject=n)).json["id"] for n in ("old", "recent"))
    worker = Worker(s, engine)
    drain(worker, lambda: "queued" not in {**states(site, old), **states(site, recent)}.values())
    _age(engine, [old], 31)
    _age(engine, [recent], 29)
    worker.run(idle_exit=True)  # one loop: the periodic block, then an empty claim
    assert _sizes(engine)[old] == 0 and _sizes(engine)[recent] > 0
    assert site.get(f"/api/v1/messages/{old}").json["recipients"][0]["state"] == "delivered"

    # Two days later the recent one is old too, but the workers look only every
    # retention_interval (600 s by default).
    later = utcnow() + timedelta(days=2)
    assert privacy.prune_due(engine, s, later) == 0
    assert _sizes(engine)[recent] > 0
    assert privacy.prune_due(engine, s.replace(retention_interval=0), later) == 1
    assert _sizes(engine)[recent] == 0


def test_retention_works_in_slices_and_resumes_where_it_stopped(app, site, engine):
    ids = [site.post("/api/v1/messages", message(subject=f"m{i}")).json["id"] for i in range(5)]
    _age(engine, ids, 40)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE recipients SET state = 'delivered'")
    retention = privacy.Retention(body_days=30, log_days=0)
    assert [retention.run(engine, utcnow(), budget=2) for _ in range(3)] == [2, 2, 1]
    assert not retention.behind
    assert set(_sizes(engine).values()) == {0}


def test_log_retention_deletes_old_finished_entries_whole(app, site, engine):
    done = site.post("/api/v1/messages", message(subject="done")).json["id"]
    waiting = site.post("/api/v1/messages", message(subject="waiting")).json["id"]
    young = site.post("/api/v1/messages", message(subject="young")).json["id"]
    _age(engine, [done, waiting], 100)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE recipients SET state = 'failed' WHERE message_id IN ('{done}', '{young}')")
    assert privacy.Retention(body_days=30, log_days=90).run(engine, utcnow()) == 1
    assert site.get(f"/api/v1/messages/{done}").status_code == 404
    assert site.get(f"/api/v1/messages/{waiting}").json["recipients"][0]["state"] == "queued"
    assert site.get(f"/api/v1/messages/{young}").status_code == 200
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM recipients WHERE message_id = '{done}'").scalar() == 0

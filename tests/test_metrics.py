"""Counters are recorded as mail flows: per site, category, provider and domain group."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import make_site, message
from tests.test_relay import drain, provider_settings, states
from wpbridge.app import create_app
from wpbridge.models import Stat, WorkerBeat
from wpbridge.status.metrics import domain_group
from wpbridge.worker import Worker


@pytest.mark.parametrize("domain, group", [
    ("gmail.com", "gmail"), ("GoogleMail.com", "gmail"), ("hotmail.co.uk", "microsoft"),
    ("outlook.de", "microsoft"), ("msn.com", "microsoft"), ("aol.com", "yahoo"),
    ("yahoo.fr", "yahoo"), ("web.de", "gmx"), ("gmx.net", "gmx"), ("me.com", "icloud"),
    ("example.org", "other"), ("livemail.example", "other"),
])
def test_domain_groups(domain, group):
    assert domain_group(domain) == group


def test_counters_follow_the_mail(settings, engine, sink):
    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}")
    app = create_app(s, engine)
    site = make_site(app, s)
    sink.handler.rcpt_script = {"gone@gmail.com": ["550 5.1.1 no such user"],
                                "later@yahoo.com": ["451 4.3.0 try later"]}
    mid = site.post("/api/v1/messages", message(
        to=["a@gmail.com", "b@googlemail.com", "gone@gmail.com", "later@yahoo.com", "c@example.org"])).json["id"]
    worker = Worker(s, engine)
    drain(worker, lambda: "queued" not in states(site, mid).values())
    worker.beat()
    worker.close()
    with engine.connect() as conn:
        rows = conn.execute(select(Stat).where(Stat.period == "m")).all()
        hours = conn.execute(select(Stat).where(Stat.period == "h")).all()
        beats = conn.execute(select(WorkerBeat)).all()
    by_group = {r.domain_group: r for r in rows}
    gmail, yahoo, other = by_group["gmail"], by_group["yahoo"], by_group["other"]
    assert (gmail.accepted, gmail.delivered, gmail.bounced) == (3, 2, 1)
    assert (yahoo.accepted, yahoo.deferred, yahoo.delivered) == (1, 1, 1)
    assert (other.accepted, other.delivered) == (1, 1)
    assert all(r.category == "transactional" and r.provider == "default" for r in rows)
    delivered = sum(r.delivered for r in rows)
    assert sum(sum(getattr(r, f"lat_{i}") for i in range(8)) for r in rows) == delivered == 4
    assert sum(r.accepted for r in hours) == 5 and sum(r.delivered for r in hours) == 4
    assert len(beats) == 1

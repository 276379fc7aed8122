"""Hardening of what comes back (issue 15): reports count once, bounce parsing stays off
the listener's event loop, and the unsubscribe page escapes once."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import func, select

from tests.test_bounce_loop import ARF, DSN, loop  # noqa: F401 - the fixture
from tests.test_relay import drain, states
from tests.test_routing import newsletter
from wpbridge.events.store import Event
from wpbridge.models import Recipient, Stat, utcnow
from wpbridge.shape import guard
from wpbridge.shape.config import ShapingConfig


def _bulk(site, worker, to):
    mid = site.post("/api/v1/messages", newsletter(to=to)).json["id"]
    drain(worker, lambda: "queued" not in states(site, mid).values())
    return mid


def _bulk_counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        row = conn.execute(select(func.sum(Stat.delivered), func.sum(Stat.bounced), func.sum(Stat.complained))
                           .where(Stat.period == "m", Stat.category == "bulk")).one()
    return tuple(int(v or 0) for v in row)


def test_120_identical_dsns_count_once_and_pause_nothing(loop, sink):  # noqa: F811
    """Finding 2: 120 identical DSNs to one VERP address paused the site's bulk mail
    ("bounce rate 98.4% (120 of 122)"). They are stored, marked as repeats, and count once."""
    app, site, worker, s, port = loop
    mid = _bulk(site, worker, ["gone@example.org", "here@example.org"])
    verp = {m.rcpt_tos[0]: m.mail_from for m in sink.received}["gone@example.org"]
    dsn = DSN.format(verp=verp, rcpt="gone@example.org").replace("\n", "\r\n")
    with smtplib.SMTP("127.0.0.1", port) as bounce_mx:
        for _ in range(120):
            assert bounce_mx.sendmail("", [verp], dsn) == {}

    engine = app.extensions["wpbridge"].engine
    assert _bulk_counts(engine) == (2, 1, 0)
    with engine.connect() as conn:
        site_id = conn.execute(select(Recipient.site_id).where(Recipient.message_id == mid)).scalar()
        events = conn.execute(select(Event.id, Event.duplicate_of).where(Event.address == "gone@example.org")
                              .order_by(Event.id)).all()
    assert len(events) == 120, "every report is kept"
    first = events[0].id
    assert events[0].duplicate_of is None and {e.duplicate_of for e in events[1:]} == {first}
    assert guard.evaluate(engine, {site_id}, utcnow(), ShapingConfig()) == {}
    # The rule still holds for distinct recipients, once the volume is low enough to count.
    assert "bounce rate 33.3% over the last hour (1 of 3 bulk recipients)" in \
        guard.evaluate(engine, {site_id}, utcnow(), ShapingConfig(bounce_min_volume=2))[site_id]
    listed = site.get("/api/v1/suppressions").json["suppressions"]
    assert [(e["address"], e["reason"]) for e in listed] == [("gone@example.org", "hard_bounce")]


def test_repeated_complaints_and_relay_failures_count_once(loop, sink):  # noqa: F811
    app, site, worker, s, port = loop
    sink.handler.rcpt_script = {"gone@example.org": ["550 5.1.1 <gone@example.org>: user unknown"]}
    _bulk(site, worker, ["gone@example.org", "reader@example.org"])
    engine = app.extensions["wpbridge"].engine
    assert _bulk_counts(engine) == (1, 1, 0)
    verp = {m.rcpt_tos[0]: m.mail_from for m in sink.received}["reader@example.org"]
    with smtplib.SMTP("127.0.0.1", port) as bounce_mx:
        for _ in range(5):
            bounce_mx.sendmail("", [verp], ARF.format(verp=verp, rcpt="reader@example.org").replace("\n", "\r\n"))
    assert _bulk_counts(engine) == (1, 1, 1), "five copies of one complaint are one complaint"

    # A DSN after the provider refused the recipient during relay says nothing new.
    from wpbridge.events import Group, Reason, RecipientResult
    from wpbridge.events.policy import Observed, Policy, apply

    with engine.begin() as conn:
        mid, site_id = conn.execute(select(Recipient.message_id, Recipient.site_id)
                                    .where(Recipient.address == "gone@example.org")).one()
        late = RecipientResult("gone@example.org", "5.1.1", Group.HARD, Reason.USER_UNKNOWN, 550, "gone")
        soft = RecipientResult("gone@example.org", "4.2.2", Group.SOFT, Reason.MAILBOX_FULL, 452, "full")
        apply(conn, [Observed(site_id, late, "dsn", mid), Observed(site_id, soft, "webhook:sendgrid", mid)],
              Policy(), utcnow())
    assert _bulk_counts(engine) == (1, 1, 1), "one recipient of one message bounces once"


def test_repeated_soft_reports_of_one_message_do_not_reach_the_soft_limit(loop):  # noqa: F811
    app, site, worker, s, port = loop
    from wpbridge.events import Group, Reason, RecipientResult
    from wpbridge.events.policy import Observed, Policy, apply

    engine = app.extensions["wpbridge"].engine
    mids = [_bulk(site, worker, ["full@example.org"]) for _ in range(3)]
    with engine.connect() as conn:
        site_id = conn.execute(select(Recipient.site_id)).scalars().first()
    full = RecipientResult("full@example.org", "4.2.2", Group.SOFT, Reason.MAILBOX_FULL, 452, "mailbox full")
    policy = Policy(soft_limit=3)
    with engine.begin() as conn:
        assert apply(conn, [Observed(site_id, full, "dsn", mids[0])] * 5, policy, utcnow()) == []
        assert apply(conn, [Observed(site_id, full, "dsn", mids[1])] * 5, policy, utcnow()) == []
        assert apply(conn, [Observed(site_id, full, "dsn", mids[2])], policy, utcnow()) == \
            ["full@example.org all soft_bounces"], "three messages that soft-bounced do"

"""Hardening of what comes back (issue 15): reports count once, bounce parsing stays off
the listener's event loop, and the unsubscribe page escapes once."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import func, select

from tests.test_bounce_loop import ARF, DSN, loop  # noqa: F401 - the fixture
from tests.test_relay import drain, states
from tests.test_routing import newsletter
from tests.test_webhooks import sns  # noqa: F401 - the fixture
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


def _text_bounce(to: str, rcpt: str, megabytes: float) -> bytes:
    """A plain-text bounce: a short report, then megabytes of returned text (the shape that
    took seconds to parse)."""
    head = (f"From: MAILER-DAEMON@mx.example.org\r\nTo: {to}\r\nSubject: Mail delivery failed\r\n\r\n"
            f"A message that you sent could not be delivered to one or more of its recipients.\r\n\r\n"
            f"  {rcpt}\r\n    host mx.example.org said: 550 5.1.1 <{rcpt}>: User unknown\r\n\r\n"
            "------ This is a copy of the message, including all the headers. ------\r\n\r\n").encode()
    line = b"Lorem ipsum dolor sit amet, 550 consectetur <someone@example.net> adipiscing elit 4.2.2\r\n"
    return head + line * int(megabytes * 1_000_000 // len(line))


def test_a_slow_bounce_does_not_hold_other_clients(loop, sink):  # noqa: F811
    """Finding 4: an 8.9 MB bounce took 12 s to parse and another client's EHLO waited 8.9 s.
    Parsing runs in worker processes with a time cap: while a huge bounce is parsed (and
    then cut off at the cap), another client is served from greeting to 250."""
    import threading

    from tests.smtp_sink import free_port
    from wpbridge.events.inbound import start_listener

    app, site, worker, s, _ = loop
    _bulk(site, worker, ["gone@example.org", "slow@example.org"])
    verps = {m.rcpt_tos[0]: m.mail_from for m in sink.received}
    port = free_port()
    listener = start_listener(app.extensions["wpbridge"].engine,
                              s.replace(bounce_parse_timeout=8, bounce_parse_bytes=20_000_000),
                              "127.0.0.1", port)
    order, answers = [], {}

    def huge():
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as c:
            try:
                c.sendmail("", [verps["slow@example.org"]],
                           _text_bounce(verps["slow@example.org"], "slow@example.org", 9.5))
            except smtplib.SMTPDataError as exc:
                answers["huge"] = (exc.smtp_code, exc.smtp_error.decode())
        order.append("huge")

    try:
        big = threading.Thread(target=huge)
        big.start()
        _wait_for_parse(listener)
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as other:
            assert other.ehlo()[0] == 250
            dsn = DSN.format(verp=verps["gone@example.org"], rcpt="gone@example.org").replace("\n", "\r\n")
            assert other.sendmail("", [verps["gone@example.org"]], dsn) == {}
        order.append("other")
        big.join(120)
    finally:
        listener.stop()
    assert order == ["other", "huge"], "the other client was served while the huge bounce was parsed"
    code, text = answers["huge"]
    assert code == 554 and "could not be read within 8 s" in text
    listed = {e["address"] for e in site.get("/api/v1/suppressions").json["suppressions"]}
    assert listed == {"gone@example.org"}, "the cut-off report recorded nothing"


def _wait_for_parse(listener, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while listener.handler.parser.pending == 0:
        assert time.monotonic() < deadline, "the huge bounce never reached the parser"
        time.sleep(0.01)


def test_a_large_bounce_is_read_by_its_head(loop, sink):  # noqa: F811
    """The size cap: a bounce of megabytes is parsed on its first bounce_parse_bytes, where
    the report is, and recorded; one over the listener's limit is refused."""
    app, site, worker, s, port = loop
    _bulk(site, worker, ["gone@example.org"])
    to = sink.received[0].mail_from
    with smtplib.SMTP("127.0.0.1", port) as bounce_mx:
        assert bounce_mx.sendmail("", [to], _text_bounce(to, "gone@example.org", 5)) == {}
        with pytest.raises(smtplib.SMTPResponseException) as refused:
            bounce_mx.sendmail("", [to], _text_bounce(to, "gone@example.org", 11))
    assert refused.value.smtp_code == 552
    listed = site.get("/api/v1/suppressions").json["suppressions"]
    assert [(e["address"], e["reason"]) for e in listed] == [("gone@example.org", "hard_bounce")]


def test_the_unsubscribe_page_escapes_once(app, site, settings):
    """Also seen in issue 15: the page showed ``tom&amp;jerry@...`` (escaped twice)."""
    from wpbridge.events.unsubscribe import make_token

    client = app.test_client()
    for address, shown in (("tom&jerry@example.org", "tom&amp;jerry@example.org"),
                           ('"<b>x"@example.org', "&#34;&lt;b&gt;x&#34;@example.org")):
        token = make_token(settings.secret_key, 1, address, "0" * 32)
        for method in ("GET", "POST"):
            page = client.open(f"/u/{token}", method=method,
                               data={"List-Unsubscribe": "One-Click"} if method == "POST" else None)
            assert page.status_code == 200
            html = page.get_data(as_text=True)
            assert shown in html and "&amp;amp;" not in html and "<b>x" not in html, html


def test_the_parse_queue_is_bounded():
    """Bounded worker: with every slot taken, the next report is refused at once (the
    listener answers 451 and the sender tries later) instead of piling up."""
    import asyncio

    from wpbridge.events.inbound import Busy, ParsePool

    big = _text_bounce("b@bounces.example.com", "gone@example.org", 2)

    async def fill() -> None:
        pool = ParsePool(workers=1, head=len(big), timeout=120)
        try:
            waiting = [asyncio.ensure_future(pool.parse(big)) for _ in range(pool.limit)]
            await asyncio.sleep(0)
            assert pool.pending == pool.limit == 5
            with pytest.raises(Busy):
                await pool.parse(big)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            assert pool.pending == 0
        finally:
            pool.close()

    asyncio.run(fill())


def test_a_webhook_event_delivered_again_counts_once(settings, engine, sink, sns):
    """Providers retry webhooks; each retry is a new, validly signed request (not a replay),
    so the event itself must count once: stored, marked, no second complaint."""
    import json

    from tests.conftest import message
    from tests.test_relay import provider_settings
    from tests.test_webhooks import Bridge, doc_json, mailgun_body, payload
    from wpbridge.worker import Worker

    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}")
    bridge = Bridge(s, engine, sns)
    worker = Worker(bridge.settings, engine)
    try:
        mid = bridge.site.post("/api/v1/messages", newsletter(to=["reader@example.org"])).json["id"]
        drain(worker, lambda: states(bridge.site, mid) == {"reader@example.org": "delivered"})
    finally:
        worker.close()
    event = doc_json(payload("mailgun/complained.txt"))
    event.update(recipient="reader@example.org")
    event["message"]["headers"]["message-id"] = sink.received[0].message["Message-ID"].strip("<>")
    for _ in range(4):
        resp = bridge.post("mailgun", mailgun_body(json.dumps(event)))  # a fresh token each time
        assert resp.status_code == 200, resp.json
    events = bridge.events()
    assert [(e["group"], e["message_id"]) for e in events] == [("complaint", mid)] * 4
    assert [e["duplicate_of"] for e in events] == [None] + [events[0]["id"]] * 3
    assert _bulk_counts(engine) == (1, 0, 1)

"""Issue 8: rates, reactions, warm-up, failover, reputation guard and sending windows, against
real SMTP servers on loopback and real worker processes. Nothing here asserts how long
anything took: only what arrived where, and what the database says."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import func, select, update

from tests.conftest import make_site, message
from tests.smtp_sink import Handler, Sink, free_port
from tests.test_processes import enqueue, wait_for, worker_env
from tests.test_relay import provider_settings
from tests.test_routing import newsletter
from wpbridge import queue
from wpbridge.app import create_app
from wpbridge.models import Attempt, Recipient, State, utcnow
from wpbridge.relay import PERMANENT, TEMPORARY, Reply
from wpbridge.relay.providers import parse_provider
from wpbridge.shape import ShapingConfig, guard, health, limits
from wpbridge.shape.cli import bulk_command, providers_command
from wpbridge.shape.config import destination_of, warmup_schedule
from wpbridge.shape.limits import Limit
from wpbridge.shape.models import Hold, WarmupStart
from wpbridge.shape.rates import (RateError, bucket_of, gcra_slot, parse_duration, parse_rate,
                                  parse_window, window_wait)
from wpbridge.shape.rules import build_rules, match
from wpbridge.worker import Worker

ROOT = Path(__file__).resolve().parent.parent


def shaped(settings, **fields):
    """``settings`` with shaping fields. Until Settings has them, a subclass carries them."""
    known = {f.name for f in dataclasses.fields(settings)}
    if set(fields) <= known:
        return settings.replace(**fields)
    extra = [(name, object, dataclasses.field(default=None)) for name in fields if name not in known]
    cls = dataclasses.make_dataclass("ShapedSettings", extra, bases=(type(settings),), frozen=True)
    return cls(**{**{f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}, **fields})


def _worker_main() -> None:
    """A worker process whose shaping settings come as JSON in WPBRIDGE_TEST_SHAPING."""
    from wpbridge import settings as settings_mod

    s = shaped(settings_mod.ensure_secret_key(settings_mod.load()),
               **json.loads(os.environ["WPBRIDGE_TEST_SHAPING"]))
    w = Worker(s)
    w.install_signal_handlers()
    w.run()


def start_shaped_worker(env: dict, **shaping) -> subprocess.Popen:
    env = dict(env, WPBRIDGE_TEST_SHAPING=json.dumps(shaping))
    return subprocess.Popen([sys.executable, "-c", "from tests.test_shaping import _worker_main; _worker_main()"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def sink_on(handler: Handler | None = None, port: int | None = None) -> Sink:
    """A loopback SMTP server with a handler of our own and/or on a given port."""
    s = Sink()
    s.handler = handler or s.handler
    s.port = port or s.port
    s.controller = Controller(s.handler, hostname="127.0.0.1", port=s.port, server_hostname="localhost")
    return s


def rows(app, **where) -> list:
    r = Recipient.__table__.c
    with app.extensions["wpbridge"].engine.connect() as conn:
        return conn.execute(select(Recipient.__table__).where(*(r[k] == v for k, v in where.items()))
                            .order_by(r.id)).all()


def run_until_idle(worker: Worker, timeout: float = 30) -> None:
    """Run batches until nothing is due (held rows wait for their time)."""
    deadline = time.monotonic() + timeout
    while worker.run_once():
        assert time.monotonic() < deadline, "the worker kept finding work"


def drain_until(worker: Worker, done, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the worker did not finish in time"
        if not worker.run_once():
            time.sleep(0.02)


# -- tables ------------------------------------------------------------------------------

@pytest.mark.parametrize("written, count, period, short", [
    ("10/s", 10, 1, True), ("600/min", 600, 60, True), ("1000/hour", 1000, 3600, False),
    ("50000/day", 50000, 86400, False), ("100/15min", 100, 900, False), (" 14 / second ", 14, 1, True),
    ("5/2h", 5, 7200, False), ("1/d", 1, 86400, False),
])
def test_rates_parse(written, count, period, short):
    rate = parse_rate(written)
    assert (rate.count, rate.period, rate.short) == (count, period, short)
    assert parse_rate(rate.text) == rate


@pytest.mark.parametrize("written", ["", "10", "10/fortnight", "0/s", "-1/s", "ten/s", "5/0min", "1.5/s"])
def test_bad_rates_say_how_to_write_them(written):
    with pytest.raises(RateError, match="N/unit|longer than zero"):
        parse_rate(written)


@pytest.mark.parametrize("written, seconds", [(90, 90), ("90s", 90), ("15m", 900), ("2h", 7200),
                                              ("1d", 86400), ("1.5", 1.5), ("0.5s", 0.5)])
def test_durations(written, seconds):
    assert parse_duration(written) == seconds


@pytest.mark.parametrize("tat, now, units, interval, slot, after", [
    (0.0, 100.0, 1, 0.02, 100.0, 100.02),  # idle: at once; no slots banked while idle
    (100.5, 100.0, 1, 0.02, 100.5, 100.52),  # busy: at the next slot
    (100.0, 100.0, 3, 0.5, 100.0, 101.5),  # three recipients take three slots
])
def test_gcra_slots(tat, now, units, interval, slot, after):
    assert gcra_slot(tat, now, units, interval) == pytest.approx((slot, after))


def test_gcra_spacing_keeps_any_window_within_the_rate_despite_jitter():
    rate, jitter = parse_rate("50/s"), 0.1
    interval = rate.interval(jitter)
    tat, sends = 0.0, []
    for i in range(500):
        at, tat = gcra_slot(tat, 1000.0, 1, interval)
        sends.append(at + (jitter if i % 7 == 0 else 0.0))  # some arrive a whole jitter late
    sends.sort()
    worst = max(sum(1 for t in sends[i:] if t < s + rate.period) for i, s in enumerate(sends))
    assert worst <= rate.count


@pytest.mark.parametrize("buckets, now, units, wait", [
    ({}, 10_000.0, 1, None),
    ({9_960: 4}, 10_000.0, 1, None),  # 4 of 5 used in the last hour
    ({9_960: 5}, 10_000.0, 1, 9_960 + 60 + 3600),  # full until that bucket leaves the window
    ({6_500: 3, 9_000: 2}, 10_000.0, 1, 6_500 + 60 + 3600),
    ({6_500: 3, 9_000: 2}, 10_000.0, 4, 9_000 + 60 + 3600),  # four need both buckets gone
    ({6_300: 5}, 10_000.0, 1, None),  # that bucket ended more than an hour ago
    ({9_960: 2}, 10_000.0, 9, 9_960 + 60 + 3600),  # more than the rate: only into an empty window
    ({}, 10_000.0, 9, None),
])
def test_counting_windows(buckets, now, units, wait):
    assert window_wait(buckets, now, parse_rate("5/hour"), units) == wait


def test_buckets():
    assert bucket_of(10_001.5, 60) == 9_960
    assert parse_rate("1000/hour").bucket == 60 and parse_rate("5000/day").bucket == 3600


@pytest.mark.parametrize("window, zone, now, opens", [
    ("08:00-20:00", "UTC", datetime(2024, 5, 1, 12, 0), None),
    ("08:00-20:00", "UTC", datetime(2024, 5, 1, 20, 0), datetime(2024, 5, 2, 8, 0)),
    ("08:00-20:00", "UTC", datetime(2024, 5, 1, 3, 0), datetime(2024, 5, 1, 8, 0)),
    # Berlin is UTC+2 in summer: 08:00 local is 06:00 UTC.
    ("08:00-20:00", "Europe/Berlin", datetime(2024, 7, 1, 5, 0), datetime(2024, 7, 1, 6, 0)),
    ("08:00-20:00", "Europe/Berlin", datetime(2024, 7, 1, 6, 0), None),
    ("08:00-20:00", "Europe/Berlin", datetime(2024, 7, 1, 18, 30), datetime(2024, 7, 2, 6, 0)),
    # ... and UTC+1 in winter.
    ("08:00-20:00", "Europe/Berlin", datetime(2024, 1, 10, 6, 30), datetime(2024, 1, 10, 7, 0)),
    # The night before the spring change: 08:00 on 31 March is already summer time.
    ("08:00-20:00", "Europe/Berlin", datetime(2024, 3, 30, 22, 0), datetime(2024, 3, 31, 6, 0)),
    ("22:00-06:00", "UTC", datetime(2024, 5, 1, 23, 0), None),
    ("22:00-06:00", "UTC", datetime(2024, 5, 1, 5, 59), None),
    ("22:00-06:00", "UTC", datetime(2024, 5, 1, 6, 0), datetime(2024, 5, 1, 22, 0)),
    ("09:00-24:00", "America/New_York", datetime(2024, 5, 1, 3, 59), None),
    ("09:00-24:00", "America/New_York", datetime(2024, 5, 1, 4, 0), datetime(2024, 5, 1, 13, 0)),
])
def test_sending_windows(window, zone, now, opens):
    assert parse_window(window, zone).opens_at(now) == opens


@pytest.mark.parametrize("window, zone, says", [("8-20", "UTC", "HH:MM"), ("08:00-08:00", "UTC", "empty"),
                                                ("25:00-26:00", "UTC", "hours"), ("08:00-20:00", "Mars/Olympus", "IANA")])
def test_bad_windows(window, zone, says):
    with pytest.raises(RateError, match=says):
        parse_window(window, zone)


GMAIL_421 = ("421-4.7.28 [192.0.2.1      15] Our system has detected an unusual rate of\n4.7.28 "
             "unsolicited mail originating from your IP address. To protect our\n4.7.28 users from "
             "spam, mail sent from your IP address has been temporarily\n4.7.28 rate limited.")


@pytest.mark.parametrize("code, reply, destination, rule", [
    (421, GMAIL_421, "gmail", "gmail-rate-limit"),
    (421, "421-4.7.0 Try again later, closing connection. (EHLO) s5-20020a05600c045600b00405c8b8ef7csi", "gmail",
     "gmail-try-later"),
    (451, "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.",
     "microsoft", "microsoft-rate-limit"),
    (451, "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S3150) [AM0PR01MB1234.eurprd01.prod]",
     "microsoft", "microsoft-rate-limit"),
    (421, "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
     "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", "yahoo", "yahoo-deferred"),
    (421, "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred", "example.net", "rate-limited"),
    (421, "421 4.7.28 Too many messages from your IP", "example.net", "rate-limited"),
    (451, "451 4.7.1 You are sending too fast, slow down", "example.net", "too-fast"),
    (454, "454 Throttling failure: Maximum sending rate exceeded.", "gmail", "provider-throttling"),
    (454, "454 Throttling failure: Daily message quota exceeded.", "gmail", "provider-daily-quota"),
    (451, "451 4.7.1 Greylisted, please try again in 300 seconds", "example.net", None),
    (450, "450 4.2.1 Mailbox busy", "gmail", None),
    (None, "ConnectionRefusedError: [Errno 111] Connection refused", "gmail", None),
])
def test_shipped_reactions(code, reply, destination, rule):
    group = destination if destination in ("gmail", "microsoft", "yahoo") else "other"
    found = match(build_rules(), code, reply, destination, group, "ses")
    assert (found.name if found else None) == rule


def test_configured_reactions_come_first_and_change_shipped_ones():
    rules = build_rules([
        {"name": "gmail-rate-limit", "duration": "2s"},
        {"name": "yahoo-deferred", "enabled": False},
        {"name": "busy-relay", "action": "throttle-provider", "codes": [421], "pattern": "busy", "rate": "2/s",
         "duration": "1m", "providers": ["relay"]},
    ])
    names = [r.name for r in rules]
    assert names[0] == "busy-relay" and "yahoo-deferred" not in names
    gmail = next(r for r in rules if r.name == "gmail-rate-limit")
    assert gmail.duration == 2 and gmail.status == ("4.7.28",) and gmail.action == "suspend-destination"
    assert match(rules, 421, "421 4.3.2 busy", "gmail", "gmail", "relay").name == "busy-relay"
    assert match(rules, 421, "421 4.3.2 busy", "gmail", "gmail", "other-relay") is None
    slow = next(r for r in rules if r.name == "provider-throttling")
    assert slow.throttle_rate(parse_rate("14/s")) == parse_rate("7/s")
    assert slow.throttle_rate(None) == parse_rate("1/s")


@pytest.mark.parametrize("table, says", [
    ({"name": "x", "action": "explode"}, "action must be one of"),
    ({"action": "suspend-provider"}, "needs a name"),
    ({"name": "x", "action": "suspend-provider", "pattern": "("}, "not a valid regular expression"),
    ({"name": "x", "action": "throttle-provider", "rate": "fast"}, "not a rate"),
    ({"name": "x", "action": "suspend-provider", "duration": "soon"}, "not a duration"),
    ({"name": "x", "action": "suspend-provider", "colour": "red"}, "unknown keys"),
])
def test_bad_reactions_name_the_problem(table, says):
    with pytest.raises(RateError, match=says):
        build_rules([table])


def test_warmup_schedule_doubles_to_the_target():
    assert warmup_schedule(1000) == (50, 100, 200, 400, 800)
    assert warmup_schedule(50) == ()
    config = ShapingConfig.from_settings(shaped(_plain_settings(), warmup={
        "news.example.com": {"target": 300}, "shop.example.com": {"schedule": [10, 20], "providers": ["ses"]}}))
    news, shop = config.warmup["news.example.com"], config.warmup["shop.example.com"]
    assert [news.cap(d) for d in (1, 2, 3, 4)] == [50, 100, 200, None]
    assert shop.cap(2) == 20 and shop.applies("ses") and not shop.applies("sendgrid")


def _plain_settings():
    from wpbridge.settings import Settings

    return Settings()


@pytest.mark.parametrize("fields, says", [
    ({"provider_rates": {"ses": ["14/sec", "lots"]}}, "providers.ses.rates"),
    ({"destination_rates": {"gmail": "x"}}, "shaping.destinations.gmail"),
    ({"site_sending": {"a.example": {"bulk_window": "9-5"}}}, "sites.a.example.sending.bulk_window"),
    ({"warmup": {"news.example.com": {}}}, "warmup.news.example.com"),
    ({"provider_connections": {"ses": 0}}, "providers.ses.connections"),
    ({"failover_backoff": "later"}, "failover_backoff"),
])
def test_bad_shaping_settings_name_the_setting(fields, says):
    from wpbridge.settings import SettingsError

    with pytest.raises(SettingsError, match=says):
        ShapingConfig.from_settings(shaped(_plain_settings(), **fields))


def test_destinations():
    assert destination_of("Bob@GMail.com".rpartition("@")[2]) == ("gmail", "gmail")
    assert destination_of("hotmail.co.uk") == ("microsoft", "microsoft")
    assert destination_of("example.org") == ("example.org", "other")
    config = ShapingConfig.from_settings(shaped(_plain_settings(), destination_rates={"example.org": ["5/s"],
                                                                                       "yahoo": []}))
    assert config.destination("a@example.org") == "example.org"
    assert config.destination("a@example.net") == "other"
    assert config.destination("a@ymail.com") == "yahoo" and config.destinations["yahoo"] == ()
    assert config.destinations["gmail"] == (parse_rate("50/s"), parse_rate("2000/min"))


# -- limits in the database --------------------------------------------------------------

def test_reservations_from_many_threads_keep_the_spacing(engine):
    """Eight threads reserving at once for one 3000/min limit get slots at least one
    interval apart; counting windows never hand out more than their rate."""
    from concurrent.futures import ThreadPoolExecutor

    rate = parse_rate("3000/min")
    gcra = Limit("provider:t:3000/min", "provider t rate 3000/min", rate, interval=rate.interval(0.1))
    hourly = Limit("provider:t:120/hour", "provider t rate 120/hour", parse_rate("120/hour"))
    now = time.time()

    def batch(_):
        return limits.reserve(engine, [([gcra, hourly], 1)] * 20, now, horizon=60)

    with ThreadPoolExecutor(8) as pool:
        answers = [a for got in pool.map(batch, range(8)) for a in got]
    slots = sorted(at for at, why in answers if why is None)
    assert len(slots) == 120, "the hourly window hands out exactly its rate"
    assert all(b - a >= gcra.interval - 1e-6 for a, b in zip(slots, slots[1:]))
    held = [why for _, why in answers if why]
    assert len(held) == 40 and set(held) == {"provider t rate 120/hour"}


def test_warmup_and_horizon(engine):
    now = time.time()
    cap = Limit("warmup:x:p", "warm-up cap", cap=3)
    answers = limits.reserve(engine, [([cap], 1)] * 5, now, horizon=1)
    assert [why for _, why in answers] == [None, None, None, "warm-up cap", "warm-up cap"]
    assert answers[3][0] == bucket_of(now, 86400) + 86400, "held until the next UTC day"
    rate = parse_rate("120/min")
    slow = Limit("provider:slow:120/min", "provider slow rate 120/min", rate, interval=rate.interval(0))
    answers = limits.reserve(engine, [([slow], 1)] * 6, now, horizon=1)
    assert [why is None for _, why in answers] == [True, True, True, False, False, False]
    projected = [at for at, _ in answers[3:]]
    assert projected == pytest.approx([now + 1.5, now + 2.0, now + 2.5]), "waiting ones spread out"


def test_postpone_counts_no_attempt_and_respects_leases(app, engine, settings):
    site = make_site(app, settings)
    site.post("/api/v1/messages", message(to=["a@example.org", "b@example.org"]))
    now = utcnow()
    claimed = queue.claim(engine, "w1", 10, 60, now)
    later = now + timedelta(minutes=5)
    queue.postpone(engine, "w1", [(claimed[0].id, later, "held: provider x rate 1/s")], now)
    queue.postpone(engine, "someone-else", [(claimed[1].id, later, "held: nope")], now)
    first, second = rows(app)
    assert (first.state, first.attempts, first.next_attempt_at, first.last_response, first.leased_by) == \
        ("queued", 0, later, "held: provider x rate 1/s", None)
    assert (second.state, second.leased_by) == ("sending", "w1"), "a lease it does not hold stays"


# -- 50/s across four worker processes ---------------------------------------------------

def test_provider_rate_holds_across_four_worker_processes(app, site, settings, sink):
    n = 300
    arrivals: list[float] = []
    sink.handler.on_data = lambda item: arrivals.append(time.time())
    enqueue(site, n)
    env = worker_env(settings, sink.port, worker_batch=100, worker_connections=2)
    workers = [start_shaped_worker(env, provider_rates={"default": ["50/s"]}) for _ in range(4)]
    try:
        wait_for(lambda: len(sink.received) >= n and not rows(app, state=State.sending.value)
                 and len(rows(app, state=State.delivered.value)) == n, 120, "every message", workers)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(30) for w in workers]
    assert codes == [0, 0, 0, 0], [w.stderr.read().decode()[-2000:] for w in workers]
    subjects = collections.Counter(m.message["Subject"] for m in sink.received)
    assert set(subjects) == {f"msg {i}" for i in range(n)} and max(subjects.values()) == 1
    arrivals.sort()
    busiest = max(sum(1 for t in arrivals[i:i + 60] if t < start + 1.0) for i, start in enumerate(arrivals))
    assert busiest <= 50, f"{busiest} messages reached the sink within one second"
    with app.extensions["wpbridge"].engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Attempt)) == n, "a postponement counted as an attempt"
        assert conn.scalar(select(func.max(Recipient.attempts))) == 1


# -- connections -------------------------------------------------------------------------

@dataclass
class ConnectionLog(Handler):
    """Records which connection (client port) carried each message, and when."""

    by_connection: dict = field(default_factory=lambda: collections.defaultdict(list))

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.by_connection[session.peer[1]].append(time.time())
        return await super().handle_DATA(server, session, envelope)


def test_connection_limits_hold_across_workers(settings, engine):
    """One connection at a time for two workers of four lanes each, at most five messages
    on it."""
    from concurrent.futures import ThreadPoolExecutor

    log = ConnectionLog()
    with sink_on(log) as sink:
        s = shaped(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}", worker_batch=10),
                   provider_connections={"default": 1}, provider_messages_per_connection={"default": 5})
        app = create_app(s, engine)
        site = make_site(app, s)
        for i in range(40):
            site.post("/api/v1/messages", message(to=[f"c{i}@example.org"], subject=f"c{i}"))
        workers = [Worker(s, engine, name=f"w{i}") for i in range(2)]
        try:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda w: drain_until(w, lambda: {r.state for r in rows(app)} == {"delivered"}, 60),
                              workers))
        finally:
            for w in workers:
                w.close()
    assert sum(len(v) for v in log.by_connection.values()) == 40
    assert max(len(v) for v in log.by_connection.values()) <= 5
    spans = sorted((min(v), max(v)) for v in log.by_connection.values())
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), "two connections were open at once"
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Attempt)) == 40, "a wait counted as an attempt"


def test_a_worker_with_a_lease_per_thread_keeps_its_connections(settings, engine):
    """Two connections allowed, two workers of two threads: connections live across batches
    while a worker has work, never more than two at once, and the leases go back when the
    workers go idle."""
    from concurrent.futures import ThreadPoolExecutor

    from wpbridge.shape.models import ConnectionLease

    log = ConnectionLog()
    with sink_on(log) as sink:
        s = shaped(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}", worker_batch=4,
                                     worker_connections=2),
                   provider_connections={"default": 2})
        app = create_app(s, engine)
        site = make_site(app, s)
        for i in range(40):
            site.post("/api/v1/messages", message(to=[f"k{i}@example.org"], subject=f"k{i}"))
        workers = [Worker(s, engine, name=f"w{i}") for i in range(2)]
        try:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda w: drain_until(w, lambda: {r.state for r in rows(app)} == {"delivered"}, 60),
                              workers))
            assert [w.run_once() for w in workers] == [0, 0]
        finally:
            for w in workers:
                w.close()
    assert sum(len(v) for v in log.by_connection.values()) == 40
    assert max(len(v) for v in log.by_connection.values()) > 4, "connections were not kept across batches"
    edges = sorted([(min(v), 1) for v in log.by_connection.values()] + [(max(v), -1) for v in log.by_connection.values()])
    open_now = most = 0
    for _, step in edges:
        open_now += step
        most = max(most, open_now)
    assert most <= 2, f"{most} connections were open at once"
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(ConnectionLease.holder.is_not(None))) == 0


# -- reactions ---------------------------------------------------------------------------

RATE_421 = "421 4.7.28 [127.0.0.1] Our system has detected an unusual rate of unsolicited mail"


@dataclass
class RateLimitingMailbox(Handler):
    """A mailbox provider that takes ``accept`` Gmail recipients, then answers 421 4.7.28 to
    the next ``refuse`` tries, then takes everything again."""

    accept: int = 5
    refuse: int = 3
    taken: int = 0
    refused: list = field(default_factory=list)
    arrivals: list = field(default_factory=list)  # (time, address)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@gmail.com"):
            with self.lock:
                if self.taken >= self.accept and len(self.refused) < self.refuse:
                    self.refused.append(time.time())
                    return RATE_421
                self.taken += 1
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.arrivals += [(time.time(), a) for a in envelope.rcpt_tos]
        return await super().handle_DATA(server, session, envelope)


def test_421_4_7_28_suspends_the_destination_and_everything_arrives_later(settings, engine):
    mailbox = RateLimitingMailbox()
    with sink_on(mailbox) as sink:
        s = shaped(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}", worker_connections=1),
                   reactions=[{"name": "gmail-rate-limit", "duration": 1.0}], shaping_refresh=0.05,
                   destination_rates={"gmail": []})  # only the reaction holds Gmail mail back here
        app = create_app(s, engine)
        site = make_site(app, s)
        gmail = [f"g{i}@gmail.com" for i in range(20)]
        for i, to in enumerate(gmail + [f"o{i}@example.org" for i in range(5)]):
            site.post("/api/v1/messages", message(to=[to], subject=f"m{i}"))
        worker = Worker(s, engine)
        try:
            worker.run_once()
            # One batch: five taken, the sixth refused; the other Gmail mail waits for the hold.
            gmail_rows = [r for r in rows(app) if r.address.endswith("@gmail.com")]
            assert sum(r.state == "delivered" for r in gmail_rows) == 5
            [refused] = [r for r in gmail_rows if r.attempts and r.state != "delivered"]
            assert (refused.state, refused.last_code) == ("queued", 421)
            waiting = [r for r in gmail_rows if not r.attempts]
            assert len(waiting) == 14 and {r.state for r in waiting} == {"queued"}
            assert all(r.last_response.startswith("held: gmail via default suspended until") and
                       "gmail-rate-limit" in r.last_response for r in waiting), waiting[0].last_response
            assert {r.state for r in rows(app) if r.address.endswith("@example.org")} == {"delivered"}, \
                "other destinations keep flowing"
            drain_until(worker, lambda: {r.state for r in rows(app)} == {"delivered"}, 60)
        finally:
            worker.close()
    assert sorted(a for _, a in mailbox.arrivals if a.endswith("@gmail.com")) == sorted(gmail)
    with engine.connect() as conn:
        holds = conn.execute(select(Hold)).all()
    assert len(holds) == mailbox.refuse and {h.rule for h in holds} == {"gmail-rate-limit"}
    assert {(h.key, h.action, h.destination) for h in holds} == {("destination:default:gmail", "suspend", "gmail")}
    for h in holds:
        start, end = limits.to_epoch(h.created_at), limits.to_epoch(h.until)
        during = [a for t, a in mailbox.arrivals if a.endswith("@gmail.com") and start <= t < end]
        assert during == [], f"Gmail got {during} during a hold"
        assert end - start == pytest.approx(1.0, abs=0.01)


def test_provider_throttling_answer_slows_the_provider(settings, engine, sink):
    s = shaped(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}", worker_connections=1),
               provider_rates={"default": ["40/s"]})
    sink.handler.data_script = ["454 Throttling failure: Maximum sending rate exceeded."]
    app = create_app(s, engine)
    site = make_site(app, s)
    for i in range(6):
        site.post("/api/v1/messages", message(to=[f"t{i}@example.org"], subject=f"t{i}"))
    worker = Worker(s, engine)
    try:
        worker.run_once()
        with engine.connect() as conn:
            [hold] = conn.execute(select(Hold)).all()
        assert (hold.key, hold.action, hold.rate, hold.rule) == ("provider:default", "throttle", "20/s",
                                                                 "provider-throttling")
        waiting = [r for r in rows(app) if r.state == "queued" and r.attempts == 0]
        assert waiting and all("provider default throttled to 20/s" in r.last_response for r in waiting)
        drain_until(worker, lambda: {r.state for r in rows(app)} == {"delivered"})
    finally:
        worker.close()
    assert health_of(engine, "default").failures == 0, "a throttling answer is no provider failure"


# -- failover ----------------------------------------------------------------------------

def test_failover_to_the_secondary_and_back(settings, engine, tmp_path):
    primary_port = free_port()  # nothing listens: connection refused
    with Sink() as secondary:
        providers = {"primary": parse_provider("primary", {"url": f"smtp://127.0.0.1:{primary_port}"}),
                     "secondary": parse_provider("secondary", {"url": f"smtp://127.0.0.1:{secondary.port}"})}
        s = shaped(settings.replace(providers=providers, default_provider="primary",
                                    routes={"transactional": {"providers": ["primary", "secondary"]}}),
                   failover_threshold=3, failover_window=60, failover_backoff=1.0, shaping_refresh=0.05)
        app = create_app(s, engine)
        site = make_site(app, s)
        for i in range(20):
            site.post("/api/v1/messages", message(to=[f"f{i}@example.org"], subject=f"f{i}"))
        worker = Worker(s, engine)
        try:
            drain_until(worker, lambda: {r.state for r in rows(app)} == {"delivered"})
            assert len(secondary.received) == 20
            with engine.connect() as conn:
                at_primary = conn.scalar(select(func.count()).where(Attempt.provider == "primary"))
            state = health_of(engine, "primary")
            assert 3 <= at_primary <= 3 + s.worker_connections - 1, "more tries at a dead provider than the threshold"
            assert state.state == "down" and "Connection refused" in state.last_error

            out = CliRunner().invoke(providers_command, [], env=_cli_env(s, tmp_path))
            assert out.exit_code == 0, out.output
            assert re_line(out.output, "primary") and "down until" in re_line(out.output, "primary")
            assert "[up]" in re_line(out.output, "secondary")

            # Still down when the backoff ends: the probe (no message) fails, the backoff doubles,
            # and the message that found the primary due for a probe went to the secondary.
            wait_for(lambda: health_of(engine, "primary").down_until <= utcnow(), 10, "the backoff to end")
            site.post("/api/v1/messages", message(to=["early@example.org"], subject="early"))
            drain_until(worker, lambda: {r.state for r in rows(app)} == {"delivered"})
            wait_for(lambda: health_of(engine, "primary").backoff == 2.0, 10, "the probe to fail")
            with engine.connect() as conn:
                assert conn.scalar(select(func.count()).where(Attempt.provider == "primary")) == at_primary
            assert health_of(engine, "primary").state == "down"
            assert secondary.received[-1].message["Subject"] == "early"

            with sink_on(port=primary_port) as primary:
                wait_for(lambda: health_of(engine, "primary").down_until <= utcnow(), 10,
                         "the primary's backoff to end")
                site.post("/api/v1/messages", message(to=["probe@example.org"], subject="probe"))
                drain_until(worker, lambda: {r.state for r in rows(app)} == {"delivered"})
                wait_for(lambda: health_of(engine, "primary").state == "up", 10, "the probe to pass")
                assert primary.received == [], "a probe carries no message"
                assert secondary.received[-1].message["Subject"] == "probe"
                for i in range(10):
                    site.post("/api/v1/messages", message(to=[f"b{i}@example.org"], subject=f"back{i}"))
                drain_until(worker, lambda: {r.state for r in rows(app)} == {"delivered"})
                assert len(primary.received) == 10 and len(secondary.received) == 22, "traffic is back at the primary"
        finally:
            worker.close()


def health_of(engine, provider: str) -> health.Health:
    with engine.connect() as conn:
        return health.load(conn).get(provider) or health.Health(provider, health.UP)


def _cli_env(s, tmp_path) -> dict:
    config = tmp_path / "cli.toml"
    config.write_text("".join(f'[providers.{name}]\nurl = "smtp://{p.host}:{p.port}"\n'
                              for name, p in s.providers.items()))
    return {"WPBRIDGE_DATA": str(s.data_dir), "WPBRIDGE_DATABASE_URL": s.database_url,
            "WPBRIDGE_SECRET_KEY": s.secret_key, "WPBRIDGE_CONFIG": str(config),
            "WPBRIDGE_DEFAULT_PROVIDER": s.default_provider}


def re_line(output: str, name: str) -> str:
    return next((line for line in output.splitlines() if line.startswith(f"{name}")), "")


def test_a_failing_probe_doubles_the_backoff(engine, settings):
    config = ShapingConfig(failover_threshold=2, failover_backoff=10, failover_backoff_max=25)
    now = utcnow()
    assert health.failure(engine, "p", "refused", now, config).state == "up"
    down = health.failure(engine, "p", "refused", now, config)
    assert (down.state, down.down_until) == ("down", now + timedelta(seconds=10))
    assert not health.claim_probe(engine, "p", now + timedelta(seconds=5), 30), "not before the backoff ends"
    later = now + timedelta(seconds=10)
    assert health.claim_probe(engine, "p", later, 30)
    assert not health.claim_probe(engine, "p", later, 30), "one probe at a time"
    again = health.failure(engine, "p", "refused", later, config)
    assert (again.state, again.down_until) == ("down", later + timedelta(seconds=20))
    assert health.claim_probe(engine, "p", later + timedelta(seconds=20), 30)
    capped = health.failure(engine, "p", "refused", later, config)
    assert capped.down_until == later + timedelta(seconds=25), "doubling stops at the cap"
    assert health.claim_probe(engine, "p", later + timedelta(seconds=25), 30)
    health.success(engine, "p", later, config)
    back = health_of(engine, "p")
    assert (back.state, back.failures, back.backoff) == ("up", 0, 10)


@pytest.mark.parametrize("reply, failure", [
    (Reply(TEMPORARY, None, "ConnectionRefusedError: [Errno 111] Connection refused"), True),
    (Reply(TEMPORARY, None, "SSLError: [SSL: CERTIFICATE_VERIFY_FAILED]"), True),
    (Reply(TEMPORARY, 535, "535 5.7.8 Authentication failed (while connecting to smtp.example.com)", "connect"), True),
    (Reply(TEMPORARY, 451, "451 4.3.0 Temporary local problem", "DATA"), False),
    (Reply(TEMPORARY, 421, "421 4.3.2 Service not available, closing transmission channel"), True),
    (Reply(TEMPORARY, 450, "450 4.2.1 Mailbox busy"), False),
    (Reply(PERMANENT, 550, "550 5.1.1 No such user"), False),
])
def test_what_counts_as_a_provider_failure(reply, failure):
    assert health.is_failure(reply) is failure


# -- warm-up -----------------------------------------------------------------------------

def test_warmup_caps_bulk_while_transactional_passes(settings, engine, sink):
    s = shaped(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}"),
               warmup={"example.com": {"schedule": [4, 8], "target": 100}})
    app = create_app(s, engine)
    site = make_site(app, s)
    for i in range(10):
        site.post("/api/v1/messages", newsletter(to=[f"n{i}@example.org"], subject=f"news {i}"))
    for i in range(3):
        site.post("/api/v1/messages", message(to=[f"c{i}@example.org"], subject=f"receipt {i}"))
    worker = Worker(s, engine)
    try:
        run_until_idle(worker)
    finally:
        worker.close()
    by_subject = collections.Counter(m.message["Subject"].split()[0] for m in sink.received)
    assert by_subject == {"news": 4, "receipt": 3}
    held = [r for r in rows(app) if r.state == "queued"]
    tomorrow = datetime.combine(utcnow().date() + timedelta(days=1), datetime.min.time())
    assert len(held) == 6 and {r.next_attempt_at for r in held} == {tomorrow}
    assert {r.last_response for r in held} == {"held: warm-up of example.com via default: day 1 cap of 4 "
                                               "bulk messages reached"}
    assert {r.attempts for r in held} == {0}

    # Day 2 (day 1 was yesterday): the cap is 8, and 4 went out today already.
    with engine.begin() as conn:
        conn.execute(update(WarmupStart).values(started_on=datetime.combine(utcnow().date(), datetime.min.time())
                                                - timedelta(days=1)))
        conn.execute(update(Recipient).where(Recipient.state == "queued").values(next_attempt_at=utcnow()))
    worker = Worker(s, engine)
    try:
        run_until_idle(worker)
    finally:
        worker.close()
    assert sum(1 for m in sink.received if m.message["Subject"].startswith("news")) == 8
    assert "day 2 cap of 8" in next(r for r in rows(app) if r.state == "queued").last_response


# -- reputation guard --------------------------------------------------------------------

def test_reputation_guard_pauses_one_sites_bulk_mail(settings, engine, sink, tmp_path):
    s = shaped(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}"),
               reputation_bounce_min_volume=4, reputation_interval=0, reputation_recheck=0.2,
               shaping_refresh=0.05)
    app = create_app(s, engine)
    shop = make_site(app, s)
    other = make_site(app, s, "other.example.net", ["example.net"])
    for i in range(3):
        sink.handler.rcpt_script[f"gone{i}@example.org"] = ["550 5.1.1 No such user"]
        shop.post("/api/v1/messages", newsletter(to=[f"gone{i}@example.org"], subject=f"first {i}"))
        shop.post("/api/v1/messages", newsletter(to=[f"here{i}@example.org"], subject=f"first ok {i}"))
    worker = Worker(s, engine)
    try:
        run_until_idle(worker)
        assert collections.Counter(r.state for r in rows(app)) == {"delivered": 3, "failed": 3}

        later = [shop.post("/api/v1/messages", newsletter(to=[f"later{i}@example.org"])).json["id"] for i in range(3)]
        receipt = shop.post("/api/v1/messages", message(to=["buyer@example.org"])).json["id"]
        theirs = other.post("/api/v1/messages", newsletter(to=["reader@example.org"], **{
            "from": "News <news@example.net>"})).json["id"]
        run_until_idle(worker)
        state = {r.message_id: r for r in rows(app)}
        assert state[receipt].state == "delivered", "transactional mail keeps flowing"
        assert state[theirs].state == "delivered", "the other site's bulk mail keeps flowing"
        for mid in later:
            assert (state[mid].state, state[mid].attempts) == ("queued", 0)
            assert state[mid].last_response.startswith("held: bulk mail of shop.example.com paused: bounce "
                                                       "rate 50.0% over the last hour (3 of 6 bulk recipients)")
        with engine.connect() as conn:
            pause = guard.pause_of(conn, state[later[0]].site_id)
            assert pause["state"] == "paused" and "bulk resume --site shop.example.com" in pause["reason"]
            assert guard.pause_of(conn, state[theirs].site_id) is None

        env = _cli_env(s, tmp_path)
        listed = CliRunner().invoke(bulk_command, ["status"], env=env)
        assert "shop.example.com: paused" in listed.output and "other.example.net" not in listed.output
        resumed = CliRunner().invoke(bulk_command, ["resume", "--site", "shop.example.com"], env=env)
        assert resumed.exit_code == 0 and "bulk mail resumed" in resumed.output, resumed.output
        missing = CliRunner().invoke(bulk_command, ["resume", "--site", "nope.example"], env=env)
        assert missing.exit_code != 0 and "no site named 'nope.example'" in missing.output

        drain_until(worker, lambda: all(r.state == "delivered" for r in rows(app) if r.message_id in later))
        with engine.connect() as conn:
            assert guard.pause_of(conn, state[later[0]].site_id)["state"] == "resumed"
    finally:
        worker.close()


def test_guard_thresholds():
    config = ShapingConfig(bounce_min_volume=100, complaint_min_volume=1000)
    assert guard.judge(92, 8, 0, config).startswith("bounce rate 8.0%")
    assert guard.judge(93, 7, 0, config) is None
    assert guard.judge(46, 4, 0, config) is None, "too few recipients to judge"
    assert guard.judge(1000, 0, 3, config).startswith("complaint rate 0.30%")
    assert guard.judge(1000, 0, 2, config) is None
    assert guard.judge(999, 0, 30, config) is None


# -- sending windows ---------------------------------------------------------------------

def test_bulk_waits_for_the_sending_window(settings, engine, sink):
    now = utcnow()
    start, end = (now.hour + 2) % 24, (now.hour + 3) % 24
    s = shaped(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}"),
               site_sending={"shop.example.com": {"bulk_window": f"{start:02d}:00-{end:02d}:00", "timezone": "UTC"}})
    app = create_app(s, engine)
    site = make_site(app, s)
    news = site.post("/api/v1/messages", newsletter(to=["reader@example.org"])).json["id"]
    receipt = site.post("/api/v1/messages", message(to=["buyer@example.org"])).json["id"]
    worker = Worker(s, engine)
    try:
        run_until_idle(worker)
    finally:
        worker.close()
    state = {r.message_id: r for r in rows(app)}
    assert state[receipt].state == "delivered"
    opens = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    held = state[news]
    assert (held.state, held.attempts, held.next_attempt_at) == ("queued", 0, opens)
    assert held.last_response == (f"held: outside the bulk sending window {start:02d}:00-{end:02d}:00 UTC "
                                  "of site shop.example.com")

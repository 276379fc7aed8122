"""Real processes: workers killed with SIGKILL, workers side by side on PostgreSQL, SIGTERM,
and `wpbridge serve` as a user starts it."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import message
from tests.smtp_sink import free_port


def worker_env(settings, sink_port: int, **extra) -> dict:
    env = dict(os.environ, WPBRIDGE_DATA=str(settings.data_dir),
               WPBRIDGE_DATABASE_URL=settings.database_url, WPBRIDGE_SECRET_KEY=settings.secret_key,
               WPBRIDGE_PROVIDER=f"smtp://127.0.0.1:{sink_port}", WPBRIDGE_WORKER_POLL="0.05",
               WPBRIDGE_RETRY_BASE="0.2", WPBRIDGE_RETRY_MAX_DELAY="1")
    env.update({f"WPBRIDGE_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def start_worker(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wpbridge", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def enqueue(site, n: int) -> list[str]:
    ids = []
    for start in range(0, n, 500):
        batch = [message(subject=f"msg {i}", to=[f"r{i}@example.org"]) for i in range(start, min(n, start + 500))]
        resp = site.post("/api/v1/messages/batch", {"messages": batch})
        assert resp.status_code == 202, resp.json
        ids += [m["id"] for m in resp.json["messages"]]
    return ids


def wait_for(predicate, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for p in procs:
            assert p.poll() is None, f"a process died: {p.stderr.read() if p.stderr else ''}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def delivered_count(app) -> int:
    from sqlalchemy import func, select

    from wpbridge.models import Recipient, State

    with app.extensions["wpbridge"].sessions() as s:
        return s.scalar(select(func.count()).where(Recipient.state == State.delivered))


def test_sigkill_mid_batch_loses_nothing(app, site, settings, sink):
    n, batch = 300, 50
    enqueue(site, n)
    sink.handler.data_delay = 0.01
    env = worker_env(settings, sink.port, worker_batch=batch, worker_lease=2, worker_connections=2)
    first = start_worker(env)
    try:
        wait_for(lambda: len(sink.received) >= 80, 60, "the first deliveries", [first])
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    killed_at = len(sink.received)
    assert killed_at < n, "the worker finished before it could be killed; the test proves nothing"
    second = start_worker(env)
    try:
        wait_for(lambda: delivered_count(app) == n, 90, "every message to be delivered")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    subjects = collections.Counter(m.message["Subject"] for m in sink.received)
    assert set(subjects) == {f"msg {i}" for i in range(n)}, "a message was lost"
    duplicates = sum(c - 1 for c in subjects.values())
    assert duplicates <= batch, f"{duplicates} duplicates, more than the batch in flight"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_deliver_each_recipient_once(app, site, settings, sink):
    n = 2000
    enqueue(site, n)
    env = worker_env(settings, sink.port, worker_batch=100, worker_connections=2)
    workers = [start_worker(env), start_worker(env)]
    try:
        wait_for(lambda: delivered_count(app) == n, 120, "2,000 deliveries")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(30) for w in workers]
    assert codes == [0, 0]
    subjects = collections.Counter(m.message["Subject"] for m in sink.received)
    assert len(subjects) == n and max(subjects.values()) == 1, "a recipient was delivered twice"
    # Both workers did part of the work.
    from sqlalchemy import text
    with app.extensions["wpbridge"].engine.connect() as conn:
        per_worker = conn.execute(text("select count(distinct provider), count(*) from attempts")).one()
    assert per_worker[1] == n


def test_sigterm_finishes_the_transaction_in_flight_and_gives_the_rest_back(app, site, settings, sink):
    enqueue(site, 40)
    sink.handler.data_delay = 0.05
    env = worker_env(settings, sink.port, worker_batch=40, worker_connections=1)
    w = start_worker(env)
    wait_for(lambda: len(sink.received) >= 3, 30, "the first deliveries")
    w.send_signal(signal.SIGTERM)
    assert w.wait(30) == 0
    from sqlalchemy import func, select

    from wpbridge.models import Recipient, State
    with app.extensions["wpbridge"].sessions() as s:
        sending = s.scalar(select(func.count()).where(Recipient.state == State.sending))
        queued = s.scalar(select(func.count()).where(Recipient.state == State.queued))
    assert sending == 0, "rows were left claimed after a clean stop"
    assert delivered_count(app) == len(sink.received), "a delivery went out unrecorded"
    assert delivered_count(app) + queued == 40, "the rows not sent are due again"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_starts_everything_and_stops_on_ctrl_c(tmp_path, settings):
    port = free_port()
    env = dict(os.environ, WPBRIDGE_DATA=str(tmp_path / "data"))
    env.pop("WPBRIDGE_PROVIDER", None)
    proc = subprocess.Popen([sys.executable, "-m", "wpbridge", "serve", "--http", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _up(port), 30, "the HTTP API")
        out = subprocess.run([sys.executable, "-m", "wpbridge", "send-test", "--site",
                              "localhost.localdomain", "--to", "you@example.org", "--url",
                              f"http://127.0.0.1:{port}"], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        def captured():
            r = subprocess.run([sys.executable, "-m", "wpbridge", "outbox", "--json"], env=env,
                               capture_output=True, text=True)
            return [json.loads(line) for line in r.stdout.splitlines()]
        wait_for(lambda: captured(), 30, "the outbox")
        assert captured()[0]["to"] == ["you@example.org"]
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "define( 'WPBRIDGE_SECRET'" in stdout
    assert "NOTHING LEAVES THIS MACHINE" in stderr


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
    except requests.RequestException:
        return False

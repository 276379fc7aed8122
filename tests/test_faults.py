"""Hostile providers: one that trickles its replies a byte at a time and one that accepts
the connection and never answers. Every transaction has a deadline as a whole, and a stuck
provider holds only its own mail (issue 14). Nothing here asserts a duration: the tests
assert outcomes and their order, with generous ceilings only so that a failure ends."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.conftest import make_site, message
from tests.smtp_sink import Sink
from wpbridge.app import create_app
from wpbridge.relay import TEMPORARY, Delivery
from wpbridge.relay.providers import parse_provider
from wpbridge.relay.smtp import SMTPRelay
from wpbridge.worker import Worker


class HostileServer:
    """A TCP server on loopback that greets a byte per ``interval`` (trickle) or never."""

    def __init__(self, trickle: float | None):
        self.trickle = trickle
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            if self.trickle is not None:
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        greeting = b"220 slow.example ESMTP " + b"." * 10_000 + b"\r\n"
        for byte in greeting:
            if self.stop.wait(self.trickle):
                return
            try:
                conn.send(bytes([byte]))
            except OSError:
                return

    def close(self):
        self.stop.set()
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("trickle", [0.2, None], ids=["trickle", "blackhole"])
def test_a_transaction_past_its_deadline_is_cut_off_as_temporary(settings, trickle):
    server = HostileServer(trickle)
    try:
        s = settings.replace(smtp_timeout=30, smtp_transaction_timeout=2)
        relay = SMTPRelay(parse_provider("slow", {"url": f"smtp://127.0.0.1:{server.port}"}), s)
        started = time.monotonic()
        replies = relay.send(Delivery("m1", "shop@example.com", b"Subject: x\r\n\r\nx\r\n",
                                      ((1, "alice@example.org"),)))
        elapsed = time.monotonic() - started
        relay.close()
    finally:
        server.close()
    reply = replies[1]
    assert reply.outcome == TEMPORARY
    assert "slow" in reply.text or "time" in reply.text, reply.text
    # The socket timeout (30 s) never fired: the transaction's deadline did.
    assert elapsed < 25, elapsed


def test_a_receipt_is_delivered_while_the_bulk_provider_hangs(settings, engine):
    from wpbridge.route import parse_routes

    blackhole = HostileServer(None)
    with Sink() as sink:
        providers = {
            "default": parse_provider("default", {"url": f"smtp://127.0.0.1:{sink.port}"}),
            "bulk": parse_provider("bulk", {"url": f"smtp://127.0.0.1:{blackhole.port}"}),
        }
        s = settings.replace(providers=providers, default_provider="default",
                             routes=parse_routes({"bulk": {"providers": ["bulk"]}}, "test"),
                             smtp_transaction_timeout=60, smtp_timeout=60)
        app = create_app(s, engine)
        site = make_site(app, s)
        bulk = site.post("/api/v1/messages", message(
            subject="Spring newsletter", to=["reader@example.org"],
            headers={"List-Unsubscribe": "<https://example.com/u>", "Precedence": "bulk"},
            context={"source": "mailpoet"}))
        assert bulk.status_code == 202
        worker = Worker(s, engine, name="faults")
        runner = threading.Thread(target=worker.run, daemon=True)
        runner.start()
        try:
            deadline = time.monotonic() + 5
            while not blackhole.conns and time.monotonic() < deadline:
                time.sleep(0.05)
            assert blackhole.conns, "the bulk transaction should be hanging at the blackhole"
            receipt = site.post("/api/v1/messages", message(subject="Your order #1001"))
            assert receipt.status_code == 202
            deadline = time.monotonic() + 30
            while not sink.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [r.message["Subject"] for r in sink.received] == ["Your order #1001"]
            states = {r["state"] for r in site.get(f"/api/v1/messages/{bulk.json['id']}")
                      .json["recipients"]}
            assert states & {"queued", "sending", "deferred"}, "the bulk mail is still in flight"
        finally:
            worker.stop()
            blackhole.close()
            runner.join(timeout=40)
            worker_alive = runner.is_alive()
    assert not worker_alive, "the worker stops within its grace period"


def test_readyz_says_503_when_the_database_takes_no_writes(settings, engine, database_url):
    """A read-only database (or a full disk) still answers SELECT: /readyz must probe a write."""
    import sqlalchemy as sa

    from wpbridge import db

    Worker(settings, engine, name="beat").beat()  # a fresh worker heartbeat: otherwise ready
    assert create_app(settings, engine).test_client().get("/readyz").status_code == 200
    if settings.is_sqlite:
        path = database_url.removeprefix("sqlite:///")
        read_only = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        name = database_url.rsplit("/", 1)[1]
        with engine.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE {name} SET default_transaction_read_only = on"))
            conn.commit()
        read_only = db.make_engine(settings)
    try:
        resp = create_app(settings, read_only).test_client().get("/readyz")
    finally:
        read_only.dispose()
        if not settings.is_sqlite:
            with engine.connect() as conn:
                conn.execute(sa.text("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"))
                conn.execute(sa.text(f"ALTER DATABASE {name} SET default_transaction_read_only = off"))
                conn.commit()
    assert resp.status_code == 503
    assert resp.json["database"] == "read-only" and "does not take writes" in resp.json["reason"]

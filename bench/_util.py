"""Shared pieces of the benchmarks: free ports, a bridge started as a user would, medians."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (a server's worker processes)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid] + [int(p) for p in out.split()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used so far (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def median(values) -> float:
    return statistics.median(values)


def wpbridge(*args: str, env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wpbridge", *args], env=env, check=True,
                          capture_output=True, text=True, **kw)


def bridge_env(data_dir: Path, **extra) -> dict:
    env = dict(os.environ, WPBRIDGE_DATA=str(data_dir))
    env.update({f"WPBRIDGE_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def add_site(env: dict) -> dict:
    wpbridge("db", "upgrade", env=env)
    out = wpbridge("site", "add", "shop.example.com", "--domain", "example.com", "--json", env=env)
    return json.loads(out.stdout)


def start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wpbridge", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def message_5k(i: int = 0) -> dict:
    """A 5 kB order confirmation, HTML and text."""
    rows = "".join(f"<tr><td>Item {n}</td><td>1</td><td>€{n}.00</td></tr>" for n in range(60))
    html = f"<html><body><h1>Thanks for your order #{1000 + i}</h1><table>{rows}</table></body></html>"
    text = "Thanks for your order.\n" + "\n".join(f"Item {n}  1  €{n}.00" for n in range(60))
    return {"from": "Shop <shop@example.com>", "to": [f"customer{i}@example.org"],
            "subject": f"Your order #{1000 + i}", "html": html[:3000], "text": text[:2000],
            "context": {"source": "wp_mail", "wc_email_id": "customer_processing_order"}}


def raw_5k(i: int = 0) -> dict:
    """The same order confirmation as the plugin sends it: RFC 5322 bytes plus envelope."""
    import base64

    from wpbridge.ingest.message import from_json

    sub = from_json(message_5k(i), 10**7)
    return {"raw": base64.b64encode(sub.raw).decode(),
            "envelope": {"from": sub.mail_from, "to": sub.recipients},
            "context": message_5k(i)["context"]}


def fill_queue(database_url: str, data_dir: Path, site_id: int, n: int, chunk: int = 5000) -> None:
    """Put ``n`` 5 kB messages straight into the queue: the rows ingest would have stored,
    written with multi-row inserts so that a million take minutes, not an hour."""
    import uuid
    from datetime import timedelta

    from sqlalchemy import insert

    from wpbridge import db, settings as settings_mod
    from wpbridge.ingest.message import from_json
    from wpbridge.models import Message, Recipient, utcnow

    s = settings_mod.Settings(data_dir=data_dir, database_url=database_url, secret_key="x")
    engine = db.make_engine(s)
    sub = from_json(message_5k(), 10**7)
    now = utcnow()
    done = 0
    while done < n:
        ids = [uuid.uuid4().hex for _ in range(min(chunk, n - done))]
        with engine.begin() as conn:
            conn.execute(insert(Message.__table__), [{
                "id": mid, "site_id": site_id, "created_at": now, "expires_at": now + timedelta(days=4),
                "mail_from": sub.mail_from, "from_header": sub.from_header, "subject": sub.subject,
                "category": "transactional", "reasons": ["bench"], "context": {}, "size": len(sub.raw),
                "recipient_count": 1, "raw": sub.raw} for mid in ids])
            conn.execute(insert(Recipient.__table__), [{
                "message_id": mid, "site_id": site_id, "address": f"customer{done + k}@example.org",
                "domain": "example.org", "lane": 0, "provider": "default", "state": "queued",
                "attempts": 0, "next_attempt_at": now, "updated_at": now} for k, mid in enumerate(ids)])
        done += len(ids)
    engine.dispose()


def smtp_sink(port: int) -> subprocess.Popen:
    """Postfix's smtp-sink on loopback: accepts everything, stores nothing."""
    import shutil

    exe = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    proc = subprocess.Popen([exe, "-u", "nobody", f"127.0.0.1:{port}", "1024"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("smtp-sink did not start")


def wait_delivered(database_url: str, n: int, proc: subprocess.Popen) -> None:
    """Until ``n`` recipients are delivered; raises if ``proc`` (the worker) dies first."""
    while count_delivered(database_url) < n:
        if proc.poll() is not None:
            raise RuntimeError("the worker died")
        time.sleep(0.1)


def count_delivered(database_url: str) -> int:
    import sqlalchemy as sa

    url = database_url.replace("postgresql://", "postgresql+psycopg://")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.exec_driver_sql("select count(*) from recipients where state = 'delivered'").scalar()
    engine.dispose()
    return n


@contextmanager
def queued_bridge(n: int, args, data_dir: Path):
    """A bridge's environment with ``n`` 5 kB messages queued (a new schema on
    ``args.database_url``, or SQLite in ``data_dir``) and smtp-sink as its provider, with the
    worker settings ``args.batch`` and ``args.connections``. Yields (env, database URL, sink
    port); the sink stops at the end."""
    port = free_port()
    sink = smtp_sink(port)
    try:
        url = args.database_url or f"sqlite:///{data_dir / 'wpbridge.db'}"
        if args.database_url:
            import sqlalchemy as sa

            eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
            with eng.begin() as c:
                c.exec_driver_sql("drop schema public cascade; create schema public")
            eng.dispose()
        env = bridge_env(data_dir, database_url=url, provider=f"smtp://127.0.0.1:{port}",
                         worker_batch=args.batch, worker_connections=args.connections)
        add_site(env)
        fill_queue(url, data_dir, 1, n)
        yield env, url, port
    finally:
        sink.terminate()
        sink.wait(10)

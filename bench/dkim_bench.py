"""DKIM signing: cost per 5 kB message, and relay throughput signed / unsigned.

1. Signing cost of one 5 kB order confirmation (relaxed/relaxed, the headers the bridge
   signs), Ed25519 and RSA-2048: wpbridge's signer (``cryptography``) and dkimpy.
2. Relay throughput: queued 5 kB messages delivered by a worker to Postfix's smtp-sink on
   loopback, unsigned and signed. Signed by the worker's own signer with the keys in the
   database (when the worker has its signing hook), and, to compare where the signature
   is added, by the same ``Signer`` wrapped around the worker: where ``run_once`` builds
   each delivery (one thread), and in the relay threads (``_deliver``). Targets: RSA-2048
   >= 50% of unsigned, Ed25519 >= 80%. Every queued message is a different order (its own
   body): the signer remembers the body hash of the last message, which a newsletter sent
   one recipient at a time reuses, and identical queued messages would flatter the figures.

    python bench/dkim_bench.py [--messages 5000] [--runs 3] [--skip-relay]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import add_site, bridge_env, free_port, median, message_5k, smtp_sink  # noqa: E402

DOMAIN, SELECTOR = "example.com", "bench"


def raw_message() -> bytes:
    from wpbridge.ingest.message import from_json

    return from_json(message_5k(), 10**7).raw


def keys() -> dict:
    from wpbridge.auth import dkim

    return {"ed25519": dkim.new_private_key("ed25519"), "rsa": dkim.new_private_key("rsa")}


def per_message_us(fn, raw: bytes, runs: int, n: int) -> float:
    """Median over ``runs`` of the mean time of ``n`` calls, in microseconds."""
    fn(raw)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(raw)
        times.append((time.perf_counter() - t0) / n * 1e6)
    return median(times)


def signing_costs(runs: int) -> None:
    import dkim as dkimpy
    from cryptography.hazmat.primitives import serialization

    from wpbridge.auth import dkim

    raw, ks = raw_message(), keys()
    h = [x.encode() for x in dkim.Prepared(raw).header_list()]
    print(f"Signing one {len(raw) / 1000:.1f} kB message (relaxed/relaxed, h= {len(h)} fields); "
          f"median of {runs} runs, microseconds per message")

    def ours(algorithm):
        return lambda m: dkim.sign(m, DOMAIN, SELECTOR, ks[algorithm], algorithm)

    def both(m):
        p = dkim.Prepared(m)
        return (p.signature(DOMAIN, SELECTOR, ks["ed25519"], "ed25519")
                + p.signature(DOMAIN, SELECTOR, ks["rsa"], "rsa") + m)

    rsa_pem = ks["rsa"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    ed_seed = base64.b64encode(ks["ed25519"].private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()))

    def with_dkimpy(algorithm, key):
        return lambda m: dkimpy.sign(m, SELECTOR.encode(), DOMAIN.encode(), key,
                                     canonicalize=(b"relaxed", b"relaxed"), include_headers=h,
                                     signature_algorithm=algorithm)

    def newsletter_copies(algorithm):
        """The worker's Signer on copies of one message that differ in a header only."""
        signer = MemorySigner((algorithm,))
        copies = [raw.replace(b"To: customer0@", f"To: reader{i}@".encode()) for i in range(2)]
        state = {"i": 0}

        def sign(_m):
            state["i"] ^= 1
            return signer.sign(copies[state["i"]])
        return sign

    rows = [
        ("Ed25519, wpbridge (cryptography)", ours("ed25519"), 2000),
        ("Ed25519, Signer, newsletter copies", newsletter_copies("ed25519"), 2000),
        ("Ed25519, dkimpy (PyNaCl)", with_dkimpy(b"ed25519-sha256", ed_seed), 500),
        ("RSA-2048, wpbridge (cryptography)", ours("rsa"), 500),
        ("RSA-2048, dkimpy (pure-Python RSA)", with_dkimpy(b"rsa-sha256", rsa_pem), 50),
        ("Ed25519 + RSA-2048, wpbridge", both, 500),
    ]
    for label, fn, n in rows:
        print(f"  {label:40} {per_message_us(fn, raw, runs, n):9.0f} us")


class MemorySigner:
    """The worker's signer with its keys held in memory (no database), same code path."""

    def __init__(self, algorithms: tuple[str, ...]):
        from wpbridge.auth import dkim

        ks = keys()
        self.signer = dkim.Signer(None, "")
        cached = tuple(dkim.SigningKey(DOMAIN, SELECTOR + a, dkim.ALGORITHMS[a], ks[a]) for a in algorithms)
        self.signer.keys = lambda site_id: {DOMAIN: cached}

    def sign(self, raw: bytes) -> bytes:
        return self.signer.sign(1, raw)


def fill_distinct(database_url: str, data_dir: Path, site_id: int, n: int, chunk: int = 2000) -> None:
    """Like bench._util.fill_queue, but every message is another order (its own number,
    subject, recipient and body), as transactional mail is."""
    import uuid
    from datetime import timedelta

    from sqlalchemy import insert

    from wpbridge import db, settings as settings_mod
    from wpbridge.auth.dkim import body_hash
    from wpbridge.ingest.message import from_json
    from wpbridge.models import Message, Recipient, utcnow

    engine = db.make_engine(settings_mod.Settings(data_dir=data_dir, database_url=database_url,
                                                  secret_key="x"))
    now = utcnow()
    done = 0
    while done < n:
        subs = [(uuid.uuid4().hex, from_json(message_5k(done + k), 10**7))
                for k in range(min(chunk, n - done))]
        with engine.begin() as conn:
            conn.execute(insert(Message.__table__), [{
                "id": mid, "site_id": site_id, "created_at": now, "expires_at": now + timedelta(days=4),
                "mail_from": sub.mail_from, "from_header": sub.from_header, "subject": sub.subject,
                "category": "transactional", "reasons": ["bench"], "context": {}, "size": len(sub.raw),
                "recipient_count": 1, "raw": sub.raw,
                "body_hash": body_hash(sub.raw)} for mid, sub in subs])  # as ingest stores it
            conn.execute(insert(Recipient.__table__), [{
                "message_id": mid, "site_id": site_id, "address": sub.recipients[0],
                "domain": "example.org", "lane": 0, "provider": "default", "state": "queued",
                "attempts": 0, "next_attempt_at": now, "updated_at": now} for mid, sub in subs])
        done += len(subs)
    engine.dispose()


def worker_signs() -> bool:
    """Whether the worker has its signing hook (``Worker.signer``)."""
    import inspect

    from wpbridge.worker import Worker

    return "self.signer" in inspect.getsource(Worker)


def relay_rate(n: int, algorithms: tuple[str, ...], where: str, args) -> tuple[float, float]:
    """(messages per second from the queue to smtp-sink, the worker's CPU milliseconds per
    message), one in-process worker. ``where``: ``worker`` (its own signer, keys in the
    database), ``run_once`` or ``threads``."""
    import wpbridge.worker as worker_mod
    from wpbridge import db, settings as settings_mod
    from wpbridge.auth import dkim
    from wpbridge.relay import Delivery
    from wpbridge.relay.providers import parse_provider

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        port = free_port()
        sink = smtp_sink(port)
        try:
            url = f"sqlite:///{tmp / 'wpbridge.db'}"
            add_site(bridge_env(tmp, database_url=url))
            fill_distinct(url, tmp, 1, n)
            s = settings_mod.Settings(
                data_dir=tmp, database_url=url, secret_key="bench",
                providers={"default": parse_provider("default", {"url": f"smtp://127.0.0.1:{port}"})},
                worker_batch=args.batch, worker_connections=args.connections)
            engine = db.make_engine(s)
            signer = MemorySigner(algorithms) if algorithms and where != "worker" else None
            cls = worker_mod.Worker
            if where == "worker":
                with db.make_sessionmaker(engine)() as session, session.begin():
                    for a in algorithms:
                        dkim.generate(session, s.secret_key, "shop.example.com", DOMAIN, a, SELECTOR + a)
            elif signer and where == "run_once":
                worker_mod.Delivery = lambda mid, sender, raw, rcpts, sign=None: Delivery(
                    mid, sender, signer.sign(raw), rcpts)
            elif signer:
                class ThreadSigning(worker_mod.Worker):
                    def _deliver(self, provider_name, delivery, *rest):
                        return super()._deliver(provider_name, dataclasses.replace(
                            delivery, raw=signer.sign(delivery.raw)), *rest)
                cls = ThreadSigning
            worker = cls(s, engine, name="bench")
            try:
                t0, cpu0 = time.perf_counter(), time.process_time()
                worker.run(idle_exit=True)
                elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                with engine.connect() as conn:
                    delivered = conn.exec_driver_sql(
                        "select count(*) from recipients where state = 'delivered'").scalar()
            finally:
                worker_mod.Delivery = Delivery
                engine.dispose()
            if delivered != n:
                raise RuntimeError(f"only {delivered} of {n} delivered")
        finally:
            sink.terminate()
            sink.wait(10)
    return n / elapsed, cpu / n * 1000


def relay(args) -> None:
    if not (shutil.which("smtp-sink") or Path("/usr/sbin/smtp-sink").exists()):
        print("smtp-sink not found: install postfix (see DESIGN.md, Machines) for the relay figures")
        return
    modes = [("unsigned", (), "run_once")]
    if worker_signs():
        modes += [("Ed25519, worker's signer", ("ed25519",), "worker"),
                  ("RSA-2048, worker's signer", ("rsa",), "worker"),
                  ("Ed25519 + RSA-2048, worker's signer", ("ed25519", "rsa"), "worker")]
    else:
        print("\n(the worker has no signing hook yet: only the wrapped placements are measured)")
    modes += [("Ed25519, wrapped in run_once", ("ed25519",), "run_once"),
              ("RSA-2048, wrapped in run_once", ("rsa",), "run_once"),
              ("Ed25519, wrapped in relay threads", ("ed25519",), "threads"),
              ("RSA-2048, wrapped in relay threads", ("rsa",), "threads")]
    # Interleaved, each round in another order, so that a busy phase of the machine does
    # not favour one mode.
    rates: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in modes}
    for i in range(args.runs):
        for label, algorithms, where in modes[i % len(modes):] + modes[:i % len(modes)]:
            rates[label].append(relay_rate(args.messages, algorithms, where, args))
    base = median(r for r, _ in rates["unsigned"])
    base_cpu = median(c for _, c in rates["unsigned"])
    print(f"\nRelay to smtp-sink on loopback, SQLite, {args.messages} queued 5 kB messages, one "
          f"in-process worker, {args.connections} connections, batches of {args.batch}; median of "
          f"{args.runs} runs. CPU: the worker process's CPU time per message; 'CPU ratio' is the "
          "throughput ratio where the worker's CPU is the limit (less disturbed by other load "
          "on the machine than the wall-clock rate)")
    print(f"  {'':38} {'msgs/s':>7}  {'ratio':>5}  {'CPU ms':>6}  {'CPU ratio':>9}  {'+CPU us':>7}")
    for label, _, _ in modes:
        rate, cpu = median(r for r, _ in rates[label]), median(c for _, c in rates[label])
        print(f"  {label:38} {rate:7.0f}  {rate / base:5.0%}  {cpu:6.3f}  {base_cpu / cpu:9.0%}  "
              f"{(cpu - base_cpu) * 1000:7.0f}   (msgs/s runs: {', '.join(f'{r:.0f}' for r, _ in rates[label])})")
    print("  '+CPU us': the worker's CPU per message above unsigned, i.e. what signing costs in "
          "the worker; for a ratio r the budget is (1/r - 1) x the unsigned CPU")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--skip-relay", action="store_true")
    args = ap.parse_args()
    signing_costs(max(args.runs, 5))
    if not args.skip_relay:
        relay(args)


if __name__ == "__main__":
    main()

"""Relay: queued 5 kB messages delivered to Postfix's smtp-sink on loopback, per second.

Baseline in the same run: Python's smtplib pushing the same message over reused
connections straight to the same sink, without any queue (the transport ceiling of this
machine for Python SMTP clients), with as many threads as the worker has connections.

    python bench/relay.py [--messages 20000] [--runs 3] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import median, message_5k, queued_bridge, start, wait_delivered  # noqa: E402


def baseline(port: int, n: int, threads: int) -> float:
    from wpbridge.ingest.message import from_json

    raw = from_json(message_5k(), 10**7).raw

    def push(count: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as conn:
            conn.ehlo()
            for i in range(count):
                conn.sendmail("shop@example.com", [f"customer{i}@example.org"], raw)

    start_t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(push, [n // threads] * threads))
    return (n // threads * threads) / (time.perf_counter() - start_t)


def one_run(n: int, args) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, queued_bridge(n, args, Path(tmp)) as (env, url, port):
        t0 = time.perf_counter()
        worker = start(["worker"], env)
        try:
            wait_delivered(url, n, worker)
            elapsed = time.perf_counter() - t0
        finally:
            worker.terminate()
            worker.wait(30)
        return n / elapsed, baseline(port, min(n, 10000), args.connections)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    runs = [one_run(args.messages, args) for _ in range(args.runs)]
    rate, base = median(r[0] for r in runs), median(r[1] for r in runs)
    db = "PostgreSQL" if args.database_url else "SQLite (WAL, synchronous=FULL)"
    print(f"Relay to smtp-sink on loopback, {db}, {args.messages} queued 5 kB messages, one worker "
          f"process, {args.connections} connections, batches of {args.batch}; median of {args.runs} runs "
          "(time includes the worker's start-up)")
    print(f"  wpbridge worker, queue -> sink     {rate:8.0f} msgs/s   (runs: {', '.join(f'{r[0]:.0f}' for r in runs)})")
    print(f"  baseline smtplib, no queue         {base:8.0f} msgs/s")
    print(f"  ratio                              {rate / base:8.2f}")


if __name__ == "__main__":
    main()

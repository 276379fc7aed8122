"""Queue scale: claim time per batch with 10,000 vs 1,000,000 messages queued, and the
worker's peak memory (RSS) with 1,000,000 queued.

Claim time: `queue.claim` of 200 rows followed by `queue.record` of their delivery, the
worker's own two statements, median over many batches. The worker's RSS is read from
/proc/<pid>/status (VmHWM) while it relays to smtp-sink on loopback.

    python bench/queue_scale.py [--large 1000000] [--small 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import add_site, bridge_env, fill_queue, free_port, median, smtp_sink, start  # noqa: E402


def claim_times(url: str, data_dir: Path, batches: int) -> list[float]:
    from wpbridge import db, queue, settings as settings_mod
    from wpbridge.models import utcnow
    from wpbridge.relay import Reply

    s = settings_mod.Settings(data_dir=data_dir, database_url=url, secret_key="x")
    engine = db.make_engine(s)
    policy = queue.RetryPolicy()
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        claimed = queue.claim(engine, "bench", 200, 300, utcnow())
        times.append(time.perf_counter() - t0)
        messages = queue.messages_for(engine, {c.message_id for c in claimed})
        queue.record(engine, "bench", [queue.Outcome(c, messages[c.message_id], Reply("delivered", 250, "250 ok"), 1)
                                       for c in claimed], policy, utcnow())
    engine.dispose()
    return times


def worker_rss(env: dict, seconds: float) -> int:
    port = free_port()
    sink = smtp_sink(port)
    worker = start(["worker"], {**env, "WPBRIDGE_PROVIDER": f"smtp://127.0.0.1:{port}"})
    peak = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status = Path(f"/proc/{worker.pid}/status").read_text()
            peak = max(peak, int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]))
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(30)
        sink.terminate()
    return peak // 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=1_000_000)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--rss-seconds", type=float, default=20)
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.small, args.large):
            d = Path(tmp) / str(n)
            d.mkdir()
            url = f"sqlite:///{d / 'wpbridge.db'}"
            env = bridge_env(d)
            add_site(env)
            t0 = time.perf_counter()
            fill_queue(url, d, 1, n)
            fill = time.perf_counter() - t0
            times = claim_times(url, d, args.batches)
            rss = worker_rss(env, args.rss_seconds) if n == args.large else None
            size = (d / "wpbridge.db").stat().st_size
            results[n] = (median(times) * 1000, rss, fill, size)
            print(f"  {n:>9,} queued: claim of 200 = {median(times) * 1000:6.2f} ms (median of {args.batches})"
                  f"; filled in {fill:.0f} s; database {size / 2**30:.1f} GiB"
                  + (f"; worker peak RSS {rss} MB" if rss else ""), flush=True)
    small, large = results[args.small][0], results[args.large][0]
    print(f"SQLite (WAL, synchronous=FULL): claim time ratio {args.large:,} vs {args.small:,} queued: "
          f"{large / small:.2f}x; worker peak RSS with {args.large:,} queued: {results[args.large][1]} MB")


if __name__ == "__main__":
    main()

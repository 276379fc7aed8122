"""What recording the status counters costs the relay (target: <= 5% of throughput).

The same run as bench/relay.py (queued 5 kB messages, one worker process, Postfix's
smtp-sink on loopback), twice per round: once as shipped, once in a worker whose
``wpbridge.status.metrics.RECORDING`` is off, so that no counter row is written. Rounds
alternate the order; the figures are medians over the rounds.

    python bench/counters_bench.py [--messages 10000] [--runs 5] [--database-url postgresql://...]

With --database-url, that database is emptied before each run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import count_delivered, median, queued_bridge, wait_delivered  # noqa: E402

WORKER = ("import sys; from wpbridge.status import metrics; metrics.RECORDING = sys.argv[1] == 'on'; "
          "from wpbridge.cli import main; main(['worker'])")


def one_run(n: int, recording: bool, args) -> float:
    with tempfile.TemporaryDirectory() as tmp, queued_bridge(n, args, Path(tmp)) as (env, url, _):
        worker = subprocess.Popen([sys.executable, "-c", WORKER, "on" if recording else "off"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # The clock starts at the first delivery: the worker's start-up is not relaying.
            while not (first := count_delivered(url)):
                time.sleep(0.01)
            t0 = time.perf_counter()
            wait_delivered(url, n, worker)
            rate = (n - first) / (time.perf_counter() - t0)
        finally:
            worker.terminate()
            worker.wait(30)
        rows = _stat_rows(url)
        assert (rows > 0) == recording, f"recording={recording} but {rows} counter rows"
    return rate


def _stat_rows(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        n = conn.exec_driver_sql("select count(*) from stats").scalar()
    engine.dispose()
    return n


def recording_ms(url: str, data_dir: Path, batch: int, rounds: int = 300) -> float:
    """Milliseconds that counting one batch adds to the worker's record transaction:
    ``batch`` Tally.add calls and the flush, less the same transaction without them."""
    from wpbridge import db, settings as settings_mod
    from wpbridge.models import utcnow
    from wpbridge.status.metrics import Tally

    s = settings_mod.Settings(data_dir=data_dir, database_url=url, secret_key="bench")
    db.upgrade(s)
    engine = db.make_engine(s)
    domains = ["gmail.com", "outlook.com", "yahoo.com", "web.de", "example.org"]
    addresses = [f"customer{i}@{domains[i % len(domains)]}" for i in range(batch)]
    with_counts, without = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        with engine.begin() as conn:
            tally = Tally()
            for a in addresses:
                tally.add(1, "transactional", "default", a.rpartition("@")[2], "delivered", 800)
            tally.flush(conn, utcnow())
        t1 = time.perf_counter()
        with engine.begin():
            pass
        without.append(time.perf_counter() - t1)
        with_counts.append(t1 - t0)
    engine.dispose()
    return (median(with_counts) - median(without)) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    on, off = [], []
    for i in range(args.runs):
        for recording in ((True, False) if i % 2 == 0 else (False, True)):
            (on if recording else off).append(one_run(args.messages, recording, args))
    db = "PostgreSQL" if args.database_url else "SQLite (WAL, synchronous=FULL)"
    print(f"Relay to smtp-sink on loopback, {db}, {args.messages} queued 5 kB messages, one worker, "
          f"{args.connections} connections, batches of {args.batch}; median of {args.runs} runs each")
    print(f"  counters recorded      {median(on):8.0f} msgs/s   (runs: {', '.join(f'{r:.0f}' for r in on)})")
    print(f"  counters off           {median(off):8.0f} msgs/s   (runs: {', '.join(f'{r:.0f}' for r in off)})")
    print(f"  cost of recording      {(1 - median(on) / median(off)) * 100:8.1f} %   (target <= 5 %; "
          "end to end, so within the spread of the runs)")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'wpbridge.db'}"
        ms = recording_ms(url, Path(tmp), args.batch)
    batch_ms = args.batch / median(off) * 1000
    print(f"  measured directly      {ms:8.2f} ms per batch of {args.batch} (Tally.add x {args.batch} + "
          f"one upsert), {ms / batch_ms * 100:.1f} % of a batch's {batch_ms:.0f} ms at the rate without counters")


if __name__ == "__main__":
    main()

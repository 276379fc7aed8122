"""Shaping: what a decision costs per message, and relay throughput with shaping on but not
binding against shaping off.

1. Decision cost: ``Shaper.plan`` for batches of 200 transactions, in process, against
   SQLite: with no limit configured (no database work), and with provider and destination
   rates, a connection limit and a daily limit configured far above the traffic (one
   reservation transaction per batch). Per message, median of the runs.
2. Throughput: queued 5 kB messages relayed by one worker process to Postfix's smtp-sink,
   once without limits and once with the limits of (1); median of the runs, and the ratio.

    python bench/shaping_bench.py [--messages 10000] [--runs 3] [--batches 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import (add_site, bridge_env, fill_queue, free_port, median,  # noqa: E402
                         smtp_sink, wait_delivered)

# Limits far above what one machine sends: every check and reservation runs, none binds.
NOT_BINDING = {
    "provider_rates": {"default": ["1000000/s", "100000000/day"]},
    "provider_connections": {"default": 64},
    "provider_messages_per_connection": {"default": 100000},
    "destination_rates": {"other": ["1000000/s"]},
}


def shaped(settings, **fields):
    """``settings`` with shaping fields (a subclass carries them until Settings has them)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(settings)}
    if set(fields) <= known:
        return settings.replace(**fields)
    extra = [(name, object, dataclasses.field(default=None)) for name in fields if name not in known]
    cls = dataclasses.make_dataclass("ShapedSettings", extra, bases=(type(settings),), frozen=True)
    return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}, **fields)


def worker_main() -> None:
    """The worker process: settings as ``wpbridge worker`` reads them, plus the shaping
    fields given as JSON in WPBRIDGE_BENCH_SHAPING."""
    from wpbridge import settings as settings_mod
    from wpbridge.worker import Worker

    s = shaped(settings_mod.ensure_secret_key(settings_mod.load()),
               **json.loads(os.environ.get("WPBRIDGE_BENCH_SHAPING") or "{}"))
    w = Worker(s)
    w.install_signal_handlers()
    w.run()


# -- 1. decision cost --------------------------------------------------------------------

def decision_cost(fields: dict, batches: int, tmp: Path) -> float:
    """Microseconds per message of Shaper.plan, over ``batches`` batches of 200."""
    from wpbridge import db, settings as settings_mod
    from wpbridge.queue import Claimed, Queued
    from wpbridge.relay import Delivery
    from wpbridge.route import route_for
    from wpbridge.shape import Job, Shaper

    s = shaped(settings_mod.Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'plan.db'}",
                                     secret_key="x"), **fields)
    db.upgrade(s)
    shaper = Shaper(s, "bench")
    route = route_for(s, "shop.example.com", "transactional")
    m = Queued("m", 1, "shop.example.com", "shop@example.com", b"", "transactional", None, None)

    def batch(start: int) -> list:
        jobs = []
        for i in range(start, start + 200):
            address = f"customer{i}@example.org"
            c = Claimed(i, "m", 1, address, "default", 0)
            jobs.append(Job([c], m, route, Delivery("m", m.mail_from, b"", ((i, address),)), "default",
                            shaper.config.destination(address)))
        return jobs

    work = [batch(i * 200) for i in range(batches)]
    shaper.plan(batch(10**7))  # first use: tables, caches
    t0 = time.perf_counter()
    for jobs in work:
        ready, held = shaper.plan(jobs)
        assert not held, f"a limit bound: {held[0].reason}"
    elapsed = time.perf_counter() - t0
    shaper.engine.dispose()
    return elapsed / (batches * 200) * 1e6


# -- 2. throughput -----------------------------------------------------------------------

def relay_rate(n: int, fields: dict, args) -> tuple[float, float]:
    """(messages per second, worker CPU microseconds per message). The CPU time is the
    steadier figure on a busy machine: other processes' load stretches the wall clock, not
    the worker's own work."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        port = free_port()
        sink = smtp_sink(port)
        try:
            url = f"sqlite:///{tmp / 'wpbridge.db'}"
            env = bridge_env(tmp, database_url=url, provider=f"smtp://127.0.0.1:{port}",
                             worker_batch=args.batch, worker_connections=args.connections)
            add_site(env)
            fill_queue(url, tmp, 1, n)
            env["WPBRIDGE_BENCH_SHAPING"] = json.dumps(fields)
            t0 = time.perf_counter()
            worker = subprocess.Popen([sys.executable, __file__, "--worker"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_delivered(url, n, worker)
                elapsed = time.perf_counter() - t0
            finally:
                worker.terminate()
                _, _, usage = os.wait4(worker.pid, 0)
                worker.returncode = 0
        finally:
            sink.terminate()
            sink.wait(10)
    return n / elapsed, (usage.ru_utime + usage.ru_stime) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batches", type=int, default=200, help="batches of 200 for the decision cost")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main()
        return

    costs = {"off": [], "on": []}
    for _ in range(args.runs):
        for name, fields in (("off", {}), ("on", NOT_BINDING)):
            with tempfile.TemporaryDirectory() as tmp:
                costs[name].append(decision_cost(fields, args.batches, Path(tmp)))
    print(f"Shaping decision (Shaper.plan), batches of 200, SQLite; median of {args.runs} runs of "
          f"{args.batches} batches")
    print(f"  no limits configured               {median(costs['off']):8.2f} us/message   "
          f"(runs: {', '.join(f'{c:.2f}' for c in costs['off'])})")
    print(f"  limits configured, not binding     {median(costs['on']):8.2f} us/message   "
          f"(runs: {', '.join(f'{c:.2f}' for c in costs['on'])})   target <= 100")

    runs = {"off": [], "on": []}
    for _ in range(args.runs):  # interleaved, so that a noisy moment hurts both alike
        for name, fields in (("off", {}), ("on", NOT_BINDING)):
            runs[name].append(relay_rate(args.messages, fields, args))
    rate = {k: median(r for r, _ in v) for k, v in runs.items()}
    cpu = {k: median(c for _, c in v) for k, v in runs.items()}
    print(f"Relay to smtp-sink, SQLite, {args.messages} queued 5 kB messages, one worker process, "
          f"{args.connections} connections, batches of {args.batch}; median of {args.runs} runs "
          "(time includes the worker's start-up)")
    for k, label in (("off", "shaping off (no limits)    "), ("on", "shaping on, not binding    ")):
        print(f"  {label}        {rate[k]:8.0f} msgs/s   {cpu[k]:6.0f} us CPU/msg   "
              f"(runs: {', '.join(f'{r:.0f}' for r, _ in runs[k])})")
    print(f"  throughput on/off                  {rate['on'] / rate['off']:8.2f}   target >= 0.90")
    print(f"  worker CPU per message on/off      {cpu['on'] / cpu['off']:8.2f}")


if __name__ == "__main__":
    main()

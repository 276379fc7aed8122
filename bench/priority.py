"""Priority isolation: receipts posted while a bulk backlog drains, accept -> provider 250.

A backlog of bulk recipients is queued, a worker drains it into Postfix's smtp-sink on
loopback, and meanwhile transactional messages are posted over the HTTP API one every
100 ms. Each receipt's latency is the time from its commit to the recorded 250 (Attempt.at
minus Message.created_at). Baseline in the same run: the same load with the bulk route put
into the transactional lane, i.e. one FIFO queue as a plain relay (Postfix) keeps it.

Next to the latencies: the bulk drain rate (bulk recipients delivered per second) while the
receipts flow, and over a window of the same length just before, without receipts, to show
the backlog keeps draining at full speed. A lanes run whose backlog ran dry is flagged (the
rate would then be too low); in the FIFO run the receipts always wait for the whole backlog.

    python bench/priority.py [--backlog 100000] [--receipts 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import (add_site, bridge_env, count_delivered, fill_queue, free_port, message_5k,  # noqa: E402
                         smtp_sink, start, wait_http)
from wpbridge.ingest.signing import sign_headers  # noqa: E402


def bulk_delivered(engine) -> tuple[float, int]:
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM recipients r JOIN messages m ON m.id = r.message_id "
                                 "WHERE r.state = 'delivered' AND m.category = 'bulk'").scalar()
    return time.monotonic(), n


def one_run(backlog: int, receipts: int, fifo: bool) -> tuple[list[float], float, float, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if fifo:
            (tmp / "wpbridge.toml").write_text('[routes.bulk]\nlane = "transactional"\n')
        port, http = free_port(), free_port()
        sink = smtp_sink(port)
        url = f"sqlite:///{tmp / 'wpbridge.db'}"
        env = bridge_env(tmp, provider=f"smtp://127.0.0.1:{port}")
        site = add_site(env)
        fill_queue(url, tmp, 1, backlog)
        engine = sa.create_engine(url)
        with engine.begin() as conn:  # the backlog is a newsletter: bulk category and lane
            lane = 0 if fifo else 2
            conn.exec_driver_sql(f"UPDATE recipients SET lane = {lane}")
            conn.exec_driver_sql("UPDATE messages SET category = 'bulk'")
        web = start(["web", "--http", f"127.0.0.1:{http}"], env)
        worker = start(["worker"], env)
        ids = []
        try:
            wait_http(f"http://127.0.0.1:{http}/healthz")
            while count_delivered(url) < min(2000, backlog // 10):  # the drain is under way
                time.sleep(0.1)
            t0, b0 = bulk_delivered(engine)
            time.sleep(receipts * 0.1)  # as long as the receipts take to post
            t1, b1 = bulk_delivered(engine)
            quiet_rate = (b1 - b0) / (t1 - t0)
            t2, b2 = bulk_delivered(engine)
            for i in range(receipts):
                body = json.dumps({**message_5k(10**6 + i), "subject": f"Receipt {i}"}).encode()
                h = sign_headers(site["key_id"], site["secret"], "POST", "/api/v1/messages", body)
                h["Content-Type"] = "application/json"
                r = requests.post(f"http://127.0.0.1:{http}/api/v1/messages", data=body, headers=h)
                r.raise_for_status()
                ids.append(r.json()["id"])
                time.sleep(0.1)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    rows = conn.exec_driver_sql(
                        "SELECT m.created_at, a.at FROM messages m JOIN recipients r ON r.message_id = m.id "
                        "JOIN attempts a ON a.recipient_id = r.id WHERE a.outcome = 'delivered' AND m.id IN (%s)"
                        % ",".join(f"'{i}'" for i in ids)).all()
                if len(rows) == len(ids):
                    break
                time.sleep(0.2)
            t3, b3 = bulk_delivered(engine)
            loaded_rate = (b3 - b2) / (t3 - t2)
        finally:
            worker.terminate(), web.terminate(), sink.terminate()
            worker.wait(30), web.wait(30)
        parse = lambda v: v if not isinstance(v, str) else __import__("datetime").datetime.fromisoformat(v)
        latencies = sorted((parse(a) - parse(c)).total_seconds() * 1000 for c, a in rows)
        return latencies, loaded_rate, quiet_rate, b3 >= backlog


def pct(xs, q):
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backlog", type=int, default=100_000)
    ap.add_argument("--receipts", type=int, default=50)
    args = ap.parse_args()
    print(f"Receipts posted every 100 ms while a {args.backlog:,}-recipient bulk backlog drains "
          "to smtp-sink (SQLite durable, one worker): accept -> provider 250; bulk drain rate "
          "while the receipts flow (and just before, without them)")
    for fifo in (False, True):
        lat, loaded, quiet, ran_dry = one_run(args.backlog, args.receipts, fifo)
        name = "one FIFO lane (plain relay)" if fifo else "wpbridge lanes"
        print(f"  {name:30s} n={len(lat):3d}  p50 {pct(lat, .5):9.0f} ms  p99 {pct(lat, .99):9.0f} ms"
              f"  max {lat[-1] if lat else float('nan'):9.0f} ms  bulk {loaded:6.0f} msg/s"
              f" ({quiet:.0f} msg/s without receipts, {loaded / quiet if quiet else float('nan'):.2f}x)"
              + ("" if not ran_dry else "  (receipts waited for the whole backlog)" if fifo
                 else "  BACKLOG RAN DRY: use a larger --backlog"), flush=True)


if __name__ == "__main__":
    main()

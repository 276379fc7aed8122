"""Latency of one signed request at a time (what a WordPress request waits for): POST
/api/v1/messages in the plugin's raw form against GET /api/v1/ping on the same server,
a new connection per request as PHP makes it. Median of several runs.

    python bench/ingest_latency.py [--requests 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import add_site, bridge_env, free_port, raw_5k, start, wait_http  # noqa: E402
from wpbridge.ingest.signing import sign_headers  # noqa: E402


def timed(base: str, site: dict, method: str, path: str, body: bytes = b"") -> float:
    h = sign_headers(site["key_id"], site["secret"], method, path, body)
    h["Content-Type"] = "application/json"
    t = time.perf_counter()
    r = requests.request(method, base + path, data=body or None, headers=h)
    r.raise_for_status()
    return (time.perf_counter() - t) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = bridge_env(Path(tmp))
        site = add_site(env)
        port = free_port()
        web = start(["web", "--http", f"127.0.0.1:{port}", "--workers", "1"], env)
        base = f"http://127.0.0.1:{port}"
        body = json.dumps(raw_5k()).encode()
        results = {"GET /api/v1/ping": [], "POST /api/v1/messages": []}
        try:
            wait_http(base + "/healthz")
            for _ in range(args.runs):
                for name in results:
                    method, path = name.split()
                    xs = sorted(timed(base, site, method, path, body if method == "POST" else b"")
                                for _ in range(args.requests))
                    results[name].append((statistics.median(xs), xs[int(len(xs) * 0.99)]))
        finally:
            web.terminate()
            web.wait(30)
    print(f"One request at a time, new connection each, {args.requests} requests, median of {args.runs} runs")
    for name, runs in results.items():
        print(f"  {name:24s} p50 {statistics.median(r[0] for r in runs):6.2f} ms"
              f"  p99 {statistics.median(r[1] for r in runs):6.2f} ms")


if __name__ == "__main__":
    main()

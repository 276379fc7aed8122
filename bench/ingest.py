"""HTTP ingest: accepted messages per second, durable (SQLite synchronous=FULL, or
PostgreSQL synchronous_commit=on), single-message POSTs and batches.

Load comes from wrk on loopback with pre-signed requests: the same body, signed ahead of the
run once per request with its own nonce (the bridge refuses a reused nonce), handed out by
wrk's Lua without signing work during the run (every POST without an Idempotency-Key is a
new message). Baseline in the
same run: GET /healthz on the same server (HTTP + gunicorn ceiling, no signature, no DB).

    python bench/ingest.py [--runs 3] [--seconds 10] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import (add_site, bridge_env, cpu_seconds, free_port, median, message_5k,  # noqa: E402
                         process_tree, raw_5k, start, wait_http)
from wpbridge.ingest.signing import sign_headers  # noqa: E402

LUA = """
wrk.method = "{method}"
wrk.body = {body}
{headers}
"""

# Answers by status, printed at the end ("status 401 12"), to say what a non-2xx was.
COUNT_LUA = """
responses = {}
function response(status, h, b) responses[status] = (responses[status] or 0) + 1 end
local threads = {}
function setup(thread) thread:set("tid", #threads); table.insert(threads, thread) end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("responses")) do io.write(string.format("status %d %d\\n", status, n)) end
  end
end
"""

# Each wrk thread takes every n-th pre-signed (nonce, signature) pair, so no pair is sent twice.
SIGNED_LUA = """
local signed = [[{signed}]]
local width, count = {width}, {count}
local n = 0
function request()
  local i = (tid + n * {threads}) % count
  n = n + 1
  local pair = string.sub(signed, i * width + 1, (i + 1) * width)
  wrk.headers["X-WPBridge-Nonce"] = string.sub(pair, 1, 32)
  wrk.headers["X-WPBridge-Signature"] = string.sub(pair, 33)
  return wrk.format()
end
"""
WRK_THREADS = 2


def presigned(site: dict, target: str, body: bytes, count: int) -> tuple[dict, str]:
    """Headers common to ``count`` signed requests, and the Lua handing out their nonces."""
    pairs, now = [], time.time()  # one timestamp: it is a header common to all of them
    for _ in range(count):
        h = sign_headers(site["key_id"], site["secret"], "POST", target, body, now=now)
        pairs.append(h.pop("X-WPBridge-Nonce") + h.pop("X-WPBridge-Signature"))
    return h, SIGNED_LUA.format(signed="".join(pairs), width=len(pairs[0]), count=count,
                                threads=WRK_THREADS)


def wrk(url: str, seconds: int, connections: int, method="GET", body=b"", headers=None,
        server: list[int] | None = None, lua: str = "") -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA.format(method=method, body=json.dumps(body.decode()),
                            headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())))
        fh.write(lua)
        fh.write(COUNT_LUA)
        script = fh.name
    cpu = cpu_seconds(server) if server else 0.0
    out = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(server) - cpu if server else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    to_ms = lambda m: float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))
    statuses: dict[int, int] = {}
    for code, n in re.findall(r"^status (\d+) (\d+)$", out, re.M):
        statuses[int(code)] = statuses.get(int(code), 0) + int(n)
    return {"rps": rps, "errors": int(non2xx.group(1)) if non2xx else 0, "statuses": statuses, "p50_ms": to_ms(p50),
            "p99_ms": to_ms(p99), "cpu_ms": 1000 * cpu / max(1, requests_done)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    ap.add_argument("--database-url")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        extra = {"database_url": args.database_url} if args.database_url else {}
        env = bridge_env(Path(tmp), **extra)
        site = add_site(env)
        port = free_port()
        web = start(["web", "--http", f"127.0.0.1:{port}", "--workers", str(args.workers)], env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(base + "/healthz")
            server = process_tree(web.pid)  # gunicorn's master and its worker processes
            one = json.dumps(message_5k()).encode()
            raw = json.dumps(raw_5k()).encode()
            batch = json.dumps({"messages": [message_5k(i) for i in range(args.batch)]}).encode()
            results = {"healthz": [], "single": [], "raw": [], "batch": []}
            # More signed requests than a run can send (a reused one would count as non-2xx).
            count = 6000 * args.seconds
            for _ in range(args.runs):
                results["healthz"].append(wrk(base + "/healthz", args.seconds, args.connections, server=server))
                h, lua = presigned(site, "/api/v1/messages", one, count)
                results["single"].append(wrk(base + "/api/v1/messages", args.seconds, args.connections,
                                             "POST", one, {**h, "Content-Type": "application/json"}, server, lua))
                h, lua = presigned(site, "/api/v1/messages", raw, count)
                results["raw"].append(wrk(base + "/api/v1/messages", args.seconds, args.connections,
                                          "POST", raw, {**h, "Content-Type": "application/json"}, server, lua))
                h, lua = presigned(site, "/api/v1/messages/batch", batch, count // 50)
                results["batch"].append(wrk(base + "/api/v1/messages/batch", args.seconds,
                                            max(2, args.connections // 4), "POST", batch,
                                            {**h, "Content-Type": "application/json"}, server, lua))
        finally:
            web.terminate()
            web.wait(30)
    db = "PostgreSQL" if args.database_url else "SQLite (WAL, synchronous=FULL)"
    print(f"HTTP ingest, {db}, {args.workers} gunicorn process(es) x threads, wrk -c{args.connections}, "
          f"{len(one)} B JSON per message, median of {args.runs} runs of {args.seconds} s")
    for name in results:
        for r in results[name]:
            if r["errors"]:
                print(f"  WARNING: {name}: {r['errors']} non-2xx answers in a run "
                      f"(by status: {r['statuses']})")
    healthz = median(r["rps"] for r in results["healthz"])
    single = median(r["rps"] for r in results["single"])
    raw_rate = median(r["rps"] for r in results["raw"])
    batch_msgs = median(r["rps"] for r in results["batch"]) * args.batch
    print(f"  baseline GET /healthz          {healthz:8.0f} req/s")
    print(f"  single-message POST            {single:8.0f} msgs/s  (p50 {median(r['p50_ms'] for r in results['single']):.1f} ms, "
          f"p99 {median(r['p99_ms'] for r in results['single']):.1f} ms)  ratio to baseline {single / healthz:.2f}")
    print(f"  single POST, raw RFC 5322      {raw_rate:8.0f} msgs/s  (p50 {median(r['p50_ms'] for r in results['raw']):.1f} ms, "
          f"p99 {median(r['p99_ms'] for r in results['raw']):.1f} ms)  (the plugin's form)")
    print(f"  batched POST ({args.batch}/request)      {batch_msgs:8.0f} msgs/s")
    cpu = {name: median(r["cpu_ms"] for r in results[name]) for name in results}
    print(f"  server CPU per request (gunicorn processes): /healthz {cpu['healthz']:.2f} ms, "
          f"single {cpu['single']:.2f} ms, raw {cpu['raw']:.2f} ms, batch of {args.batch} "
          f"{cpu['batch']:.1f} ms ({cpu['batch'] / args.batch:.2f} ms per message)")


if __name__ == "__main__":
    main()

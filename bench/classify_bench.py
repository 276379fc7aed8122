"""How long classification takes per message, over the labelled corpus.

    python bench/classify_bench.py [--runs N]

Each run classifies every corpus message once (context, headers, recipients from the
headers, and the raw body, as the bridge has them after ingest); the figure is the median of
the runs' mean time per message, and the slowest single message is shown too. Parsing the
.eml (the header parser the bridge's ingest uses, plus splitting off the body) is timed the
same way and shown on its own line: it is not part of classification. The corpus runs twice: as it is, and with every message padded
to at least 5 kB of body (neutral text, no marks) so the body heuristics scan a full 5 kB.

Target (issue 4): classification <= 0.2 ms per message.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wpbridge.classify import classify  # noqa: E402
from wpbridge.classify_cli import read_eml  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "classify" / "messages"
TARGET_MS = 0.2
FILLER = b"Thank you for reading. Nothing in this line is a link or a mark of any kind.\r\n"


def pad(raw: bytes, size: int = 5 * 1024) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    while len(body) < size:
        body = FILLER + body
    return head + sep + body


def timed(fn, items, runs: int) -> list[float]:
    """Mean milliseconds per item for each of ``runs`` passes over ``items``."""
    per_run = []
    for _ in range(runs):
        gc.disable()
        start = time.perf_counter_ns()
        for item in items:
            fn(item)
        elapsed = time.perf_counter_ns() - start
        gc.enable()
        per_run.append(elapsed / len(items) / 1e6)
    return per_run


def slowest(parsed: list, repeats: int = 7) -> float:
    """The slowest single message, each timed at its best of ``repeats`` (milliseconds)."""
    worst = 0.0
    for headers, context, body in parsed:
        best = min(_once(headers, context, body) for _ in range(repeats))
        worst = max(worst, best)
    return worst / 1e6


def _once(headers, context, body) -> int:
    start = time.perf_counter_ns()
    classify(headers, context, body=body)
    return time.perf_counter_ns() - start


def bench(label: str, raws: list[bytes], runs: int) -> float:
    parsed = [read_eml(raw) for raw in raws]
    parse = timed(read_eml, raws, runs)
    work = timed(lambda p: classify(p[0], p[1], body=p[2]), parsed, runs)
    sizes = sorted(len(r) for r in raws)
    median_ms = statistics.median(work)
    print(f"{label}: {len(raws)} messages, median size {statistics.median(sizes) / 1024:.1f} kB "
          f"(min {sizes[0] / 1024:.1f}, max {sizes[-1] / 1024:.1f})")
    print(f"  classify   {median_ms:.4f} ms/message  (median of {runs} runs; "
          f"fastest run {min(work):.4f}, slowest {max(work):.4f})")
    print(f"  slowest single message {slowest(parsed):.4f} ms (its best of 7)")
    print(f"  parse .eml {statistics.median(parse):.4f} ms/message  (not part of classification)")
    return median_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    raws = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    if not raws:
        raise SystemExit(f"no .eml files in {CORPUS}: run tests/corpus/classify/generate.py")
    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    worst = max(bench("corpus as is", raws, args.runs),
                bench("corpus, bodies padded to >= 5 kB", [pad(r) for r in raws], args.runs))
    verdict = "meets" if worst <= TARGET_MS else "MISSES"
    print(f"classification {worst:.4f} ms/message {verdict} the target of {TARGET_MS} ms")


if __name__ == "__main__":
    main()

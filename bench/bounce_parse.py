"""Bounce parsing throughput over the bounce corpus, on one core.

    python bench/bounce_parse.py [--runs N] [--corpus DIR]

Each run parses every message of ../shared/corpora/bounces/samples once, from bytes in
memory (reading the files is not timed), as the bounce listener will hand them over. The
process is pinned to one CPU; the figure is the median of the runs, in messages per second,
with the slowest single message of the last run.

Target (issue 6): >= 500 messages/s.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wpbridge.events.bounces import parse  # noqa: E402

# shared/corpora beside the checkout, or beside any parent (worktrees live one level deeper)
CORPUS = next((p / "shared" / "corpora" / "bounces" / "samples" for p in ROOT.parents
               if (p / "shared" / "corpora" / "bounces" / "samples").is_dir()),
              ROOT.parent / "shared" / "corpora" / "bounces" / "samples")
TARGET = 500


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args()
    paths = sorted(args.corpus.glob("*.eml"))
    if not paths:
        print(f"no .eml files in {args.corpus}", file=sys.stderr)
        return 1
    messages = [p.read_bytes() for p in paths]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    for raw in messages:  # warm up: regex compilation, imports on first use
        parse(raw)
    rates, slowest = [], (0.0, "")
    gc.disable()
    try:
        for _ in range(args.runs):
            start = time.perf_counter()
            for path, raw in zip(paths, messages, strict=True):
                t = time.perf_counter()
                parse(raw)
                slowest = max(slowest, (time.perf_counter() - t, path.name))
            rates.append(len(messages) / (time.perf_counter() - start))
            gc.collect()
    finally:
        gc.enable()

    rate = statistics.median(rates)
    print(f"python {platform.python_version()}, {len(messages)} messages, {args.runs} runs, one core")
    print(f"bounce parsing: {rate:,.0f} messages/s median "
          f"(min {min(rates):,.0f}, max {max(rates):,.0f}); target >= {TARGET}")
    print(f"slowest message: {slowest[1]} {slowest[0] * 1000:.2f} ms")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())

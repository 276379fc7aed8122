"""Another client's EHLO latency at the bounce listener while a 10 MB bounce is parsed.

    python bench/bounce_listener.py [--runs N] [--mb 10]

Starts ``wpbridge bounces listen`` as a user would (its own process, SQLite in a temporary
data directory), then per run: one client sends a 10 MB text bounce (a short report
followed by megabytes of returned text, the shape that made parsing take seconds) to a
valid VERP address, while a second client connects every 20 ms, says EHLO and times the
reply, until the bounce is answered. Two configurations run interleaved:

  capped   the defaults: parse the first WPBRIDGE_BOUNCE_PARSE_BYTES (1 MiB)
  full     WPBRIDGE_BOUNCE_PARSE_BYTES above the message size: the whole 10 MB is parsed

Figures: EHLO round trip (ms) of the second client, median and max over the runs, next to
the same figure with the listener idle; and how long the bounce took to be answered.
Target (issue 15): EHLO answered in under 100 ms while the bounce is parsed.
Wall-clock figures on a shared machine are noisy; compare within one run.
"""

from __future__ import annotations

import argparse
import platform
import smtplib
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import bridge_env, free_port, median, start, wpbridge  # noqa: E402
from wpbridge.events import verp  # noqa: E402

KEY, DOMAIN = "bench-secret-key", "bounces.example.com"
TARGET_MS = 100


def bounce(to: str, mb: int) -> bytes:
    head = (f"From: MAILER-DAEMON@mx.example.org\r\nTo: {to}\r\n"
            "Subject: Mail delivery failed: returning message to sender\r\n\r\n"
            "This message was created automatically by mail delivery software.\r\n\r\n"
            "A message that you sent could not be delivered to one or more of its recipients.\r\n\r\n"
            "  gone@example.org\r\n    host mx.example.org said: 550 5.1.1 <gone@example.org>: "
            "Recipient address rejected: User unknown\r\n\r\n"
            "------ This is a copy of the message, including all the headers. ------\r\n\r\n").encode()
    line = b"Lorem ipsum dolor sit amet, 550 consectetur <someone@example.net> adipiscing elit 4.2.2\r\n"
    return head + line * (mb * 1_000_000 // len(line))


def ehlo_ms(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()  # greeting
        t = time.perf_counter()
        s.sendall(b"EHLO probe.example\r\n")
        while (line := f.readline()) and line[3:4] == b"-":
            pass
        ms = (time.perf_counter() - t) * 1000
        s.sendall(b"QUIT\r\n")
        return ms


def one_run(port: int, to: str, data: bytes) -> tuple[list[float], float, str]:
    done, answer = threading.Event(), []

    def send():
        t = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as c:
            try:
                c.sendmail("", [to], data)
                answer.append("250")
            except smtplib.SMTPResponseException as exc:
                answer.append(f"{exc.smtp_code} {exc.smtp_error.decode()[:60]}")
        answer.append(time.perf_counter() - t)
        done.set()

    threading.Thread(target=send, daemon=True).start()
    probes = []
    while not done.is_set():
        probes.append(ehlo_ms(port))
        time.sleep(0.02)
    return probes, answer[1], answer[0]


def listener(tmp: Path, name: str, parse_bytes: int):
    port = free_port()
    env = bridge_env(tmp / name, secret_key=KEY, bounce_domains=DOMAIN, bounce_listen=f"127.0.0.1:{port}",
                     bounce_parse_bytes=parse_bytes, bounce_parse_timeout=120)
    wpbridge("db", "upgrade", env=env)
    proc = start(["bounces", "listen"], env)
    deadline = time.monotonic() + 30
    while True:
        try:
            ehlo_ms(port)
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the bounce listener did not come up")
            time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=int, default=10)
    args = ap.parse_args()
    data = None
    with tempfile.TemporaryDirectory() as tmp:
        procs, figures = {}, {}
        try:
            for name, parse_bytes in (("capped", 1024 * 1024), ("full", (args.mb + 1) * 1_000_000)):
                procs[name] = listener(Path(tmp), name, parse_bytes)
            to = verp.address(KEY, 1, DOMAIN)
            data = bounce(to, args.mb)
            idle = [ehlo_ms(procs["capped"][1]) for _ in range(20)]
            for _ in range(args.runs):
                for name, (_, port) in procs.items():
                    probes, took, answer = one_run(port, to, data)
                    f = figures.setdefault(name, {"probes": [], "took": [], "answers": set()})
                    f["probes"] += probes
                    f["took"].append(took)
                    f["answers"].add(answer)
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                proc.wait(10)
    print(f"bounce listener, {len(data) / 1e6:.1f} MB text bounce, {args.runs} run(s), "
          f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    print(f"  idle listener: EHLO median {median(idle):.1f} ms, max {max(idle):.1f} ms")
    for name, f in figures.items():
        p = f["probes"]
        print(f"  {name:6s}: EHLO during the bounce median {median(p):.1f} ms, max {max(p):.1f} ms "
              f"({len(p)} probes); bounce answered in {median(f['took']):.2f} s "
              f"({', '.join(sorted(f['answers']))}); target < {TARGET_MS} ms: "
              f"{'met' if max(p) < TARGET_MS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

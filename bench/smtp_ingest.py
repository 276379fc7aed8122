"""How many messages per second the SMTP door accepts durably, next to a bare aiosmtpd sink.

Postfix's ``smtp-source -s 10 -l 5000 -m N -d`` (10 parallel sessions, 5000-byte bodies, many
messages per connection) drives, in one run and interleaved, RUNS times each:

  wpbridge   the bridge's listener (wpbridge.ingest.smtp) in its test mode without TLS:
             loopback clients submit as one trusted site (``smtp_allow_plain_loopback`` and
             ``smtp_trusted_loopback_site``, both test-only: smtp-source cannot AUTH). SQLite in
             WAL mode with synchronous=FULL, as the embedded default runs: every 250 is
             committed. Afterwards the queue is checked to hold every message.
  wpbridge xN the same listener run as ``wpbridge smtpd --processes N`` (N processes sharing
             the port with SO_REUSEPORT; one Python process uses one core), same settings.
  sink       a bare aiosmtpd server whose handler answers 250 and stores nothing.

Both listen on 127.0.0.1 only, inside this process. Figures: messages per second, median of
the runs, and their ratio. Needs Postfix's smtp-source (apt-get install postfix, preseeded
with "No configuration"; no Postfix daemon is started).

Run: python bench/smtp_ingest.py [--messages N --runs N --processes N]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench._util import cpu_seconds, free_port, median, process_tree  # noqa: E402
from tests.test_smtp import smtp_settings  # noqa: E402
from wpbridge import db, settings as settings_mod, sites  # noqa: E402
from wpbridge.ingest.smtp import Listener  # noqa: E402
from wpbridge.models import Message  # noqa: E402

SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SITE, DOMAIN = "bench.example.com", "bench.example"


class NullHandler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def _cpu(pids: list[int]) -> float:
    """CPU seconds of this process, or of the processes ``pids`` (a listener run apart)."""
    if not pids:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    return cpu_seconds(pids)


def drive(port: int, messages: int, sessions: int, length: int,
          pids: list[int] | None = None) -> tuple[float, float]:
    """Run smtp-source against 127.0.0.1:port; return accepted messages per second and the
    CPU seconds the server under test (this process, or ``pids``) spent per message."""
    args = [SMTP_SOURCE, "-s", str(sessions), "-l", str(length), "-m", str(messages), "-d",
            "-f", f"shop@{DOMAIN}", "-t", "customer@example.org", "-M", DOMAIN,
            f"127.0.0.1:{port}"]
    cpu, start = _cpu(pids), time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    elapsed, cpu = time.perf_counter() - start, _cpu(pids) - cpu
    # smtp-source gives up on any reply it does not expect (no -A): exit 0 means all got 250.
    if out.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return messages / elapsed, cpu / messages


def wait_port(port: int, processes: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Until ``processes`` listeners accept on the port (each its own engine and socket)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"wpbridge smtpd exited with {proc.returncode}")
        if len(process_tree(proc.pid)) > processes:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(100).startswith(b"220"):
                        time.sleep(1.0)  # the other processes finish their start-up
                        return
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("wpbridge smtpd did not come up")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000, help="smtp-source -m per run")
    parser.add_argument("--sessions", type=int, default=10, help="smtp-source -s")
    parser.add_argument("--length", type=int, default=5000, help="smtp-source -l (body bytes)")
    parser.add_argument("--runs", type=int, default=3, help="runs per server; medians are printed")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2,
                        help="listener processes of the 'wpbridge xN' server (0: leave it out)")
    opts = parser.parse_args()
    if not os.access(SMTP_SOURCE, os.X_OK):
        print("cannot run: smtp-source is missing (apt-get install postfix, preseeded with "
              "'No configuration')", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    tmp = Path(tempfile.mkdtemp(prefix="wpbridge-smtp-bench-"))
    many = f"wpbridge x{opts.processes}"
    results: dict[str, list[tuple[float, float]]] = {"wpbridge": [], many: [], "sink": []}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)
        base = settings_mod.Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'wpbridge.db'}",
                                     secret_key="bench-secret-key")
        db.upgrade(base)
        engine = db.make_engine(base)
        stack.callback(engine.dispose)
        sessions = db.make_sessionmaker(engine)
        with sessions() as session, session.begin():
            sites.create(session, base.secret_key, SITE, [DOMAIN])
        settings = smtp_settings(base, smtp_allow_plain_loopback=True,
                                 smtp_trusted_loopback_site=SITE)
        bridge = stack.enter_context(Listener(settings, engine, starttls=("127.0.0.1", 0),
                                              implicit_tls=("127.0.0.1", 0)))
        sink = Controller(NullHandler(), hostname="127.0.0.1", port=free_port(),
                          server_hostname="sink")
        sink.start()
        stack.callback(sink.stop)
        ports = {"wpbridge": bridge.port, "sink": sink.port}
        pids: dict[str, list[int]] = {}
        if opts.processes > 1:
            ports[many] = free_port()
            env = dict(os.environ, WPBRIDGE_DATA=str(tmp), WPBRIDGE_DATABASE_URL=base.database_url,
                       WPBRIDGE_SECRET_KEY=base.secret_key, WPBRIDGE_SMTP_ALLOW_PLAIN_LOOPBACK="1",
                       WPBRIDGE_SMTP_TRUSTED_LOOPBACK_SITE=SITE)
            apart = subprocess.Popen(
                [sys.executable, "-m", "wpbridge", "smtpd", "--processes", str(opts.processes),
                 "--listen", f"127.0.0.1:{ports[many]}", "--tls-listen", f"127.0.0.1:{free_port()}"],
                env=env, stderr=subprocess.DEVNULL)
            stack.callback(apart.wait, 30)
            stack.callback(apart.terminate)
            wait_port(ports[many], opts.processes, apart)
            pids[many] = process_tree(apart.pid)
        else:
            del results[many]

        for run in range(opts.runs):
            for name, port in ports.items():
                rate, cpu = drive(port, opts.messages, opts.sessions, opts.length, pids.get(name))
                results[name].append((rate, cpu))
                print(f"  run {run + 1} {name:8s} {rate:8.0f} msgs/s  {cpu * 1e6:6.0f} us CPU/msg",
                      file=sys.stderr)
        with sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Message))

    expected = opts.runs * opts.messages * (len(results) - 1)
    print(f"SMTP ingest ({platform.machine()}, {os.cpu_count()} cores): smtp-source -s "
          f"{opts.sessions} -l {opts.length} -m {opts.messages} -d, median of {opts.runs} runs")
    print(f"{'server':52s} {'msgs/s':>8s} {'CPU us/msg':>11s}")
    labels = {"wpbridge": "wpbridge smtpd, test mode, SQLite durable",
              many: f"  the same, {opts.processes} processes (smtpd --processes)",
              "sink": "bare aiosmtpd sink, stores nothing"}
    rate = {}
    for name, label in labels.items():
        if name not in results:
            continue
        rate[name] = median(r[0] for r in results[name])
        print(f"{label:52s} {rate[name]:8.0f} {median(r[1] for r in results[name]) * 1e6:11.0f}")
    print(f"ratio wpbridge / sink: {rate['wpbridge'] / rate['sink']:.2f}"
          + (f"; {many} / sink: {rate[many] / rate['sink']:.2f}" if many in rate else ""))
    print(f"check: the queue holds {stored}/{expected} messages")
    return 0 if stored == expected else 1


if __name__ == "__main__":
    sys.exit(main())

"""What one wp_mail() call costs the WordPress request, measured inside a real WordPress.

Three paths, side by side in one run, each timed with microtime() around wp_mail() for
CALLS calls of a ~5 kB HTML order confirmation (after a short warm-up), RUNS times,
interleaved; the figures are the medians of the runs' p50 and p99:

  wpbridge    the plugin, one signed HTTP POST to the bridge on this host (``wpbridge
              serve``, SQLite, relaying to a loopback SMTP sink while the bench runs)
  smtp        stock wp_mail(), plugin inactive, PHPMailer SMTP to a loopback sink
  sendmail    stock wp_mail(), plugin inactive, PHP mail() through Postfix's sendmail
              (postdrop into a private queue; no Postfix daemon runs, nothing is
              delivered; skipped when Postfix is not installed)

Needs: php-cli, php-mysql, Debian's wordpress package, the MariaDB on 127.0.0.1:3306,
the project's Python environment. Run: python bench/wp_mail_bench.py [--calls N --runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.smtp_sink import Sink  # noqa: E402
from tests.wordpress import wp_harness as h  # noqa: E402

BENCH_PHP = Path(__file__).resolve().parent / "wp" / "bench.php"
SENDMAIL = Path("/usr/sbin/sendmail")
POSTDROP = Path("/usr/sbin/postdrop")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class PrivatePostfix:
    """A Postfix configuration and queue of our own in ``root``: Postfix's sendmail hands
    each message to postdrop, which files it in this maildrop. No master daemon runs, and
    every transport is "error": nothing can be delivered anywhere."""

    def __init__(self, root: Path):
        self.conf, self.queue = root / "conf", root / "queue"

    @staticmethod
    def unavailable() -> str | None:
        if not (SENDMAIL.exists() and POSTDROP.exists()):
            return "Postfix is not installed (apt-get install postfix, preseeded with 'No configuration')"
        if not os.access(SENDMAIL, os.X_OK) or subprocess.run(["getent", "group", "postdrop"],
                                                                capture_output=True).returncode:
            return "Postfix's sendmail or the postdrop group is missing"
        if os.geteuid() != 0:
            return "setting up a private Postfix queue needs root (its maildrop belongs to postfix:postdrop)"
        return None

    def setup(self) -> None:
        for sub in ("maildrop", "public"):
            (self.queue / sub).mkdir(parents=True)
        self.conf.mkdir(parents=True)
        deliver_nothing = "error:5.7.1 benchmark queue: delivers nothing"
        (self.conf / "main.cf").write_text("\n".join([
            "compatibility_level = 3.6",
            f"queue_directory = {self.queue}",
            f"data_directory = {self.queue.parent / 'data'}",
            "mail_owner = postfix", "setgid_group = postdrop",
            "myhostname = bench.localdomain", "mydestination =", "relayhost =",
            "inet_interfaces = loopback-only",
            f"default_transport = {deliver_nothing}", f"local_transport = {deliver_nothing}",
            f"relay_transport = {deliver_nothing}", ""]))
        shutil.copy("/etc/postfix/master.cf", self.conf / "master.cf")
        shutil.chown(self.queue / "maildrop", "postfix", "postdrop")
        shutil.chown(self.queue / "public", "postfix", "postdrop")
        os.chmod(self.queue / "maildrop", 0o1730)
        os.chmod(self.queue / "public", 0o710)
        # The pickup FIFO that a master would read: postdrop pokes it and moves on.
        os.mkfifo(self.queue / "public" / "pickup", 0o622)
        shutil.chown(self.queue / "public" / "pickup", "postfix", "postdrop")

    @property
    def sendmail_path(self) -> str:
        return f"{SENDMAIL} -C {self.conf} -t -i"

    def queued(self) -> int:
        return len(list((self.queue / "maildrop").iterdir()))


def run_php(wp: h.WordPress, calls: int, warmup: int, php_ini: dict[str, str] | None = None) -> dict:
    args = ["php"]
    for k, v in (php_ini or {}).items():
        args += ["-d", f"{k}={v}"]
    out = subprocess.run([*args, str(BENCH_PHP), str(wp.root), str(calls), str(warmup)],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode:
        raise RuntimeError(f"bench.php failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout[out.stdout.index("{"):])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed wp_mail() calls per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per path; medians are printed")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls before each run")
    opts = parser.parse_args()
    why = h.missing_requirements()
    if why:
        print(f"skipped: {why}")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="wpbridge-bench-"))
    results: dict[str, list[tuple[float, float]]] = {}
    notes: dict[str, str] = {}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)
        bridge_sink = stack.enter_context(Sink())
        stock_sink = stack.enter_context(Sink())
        bridge = h.Bridge(tmp / "bridge", f"smtp://127.0.0.1:{bridge_sink.port}")
        bridge.add_site("shop.example.com", "example.com")
        stack.callback(bridge.stop)
        bridge.start()
        wp = h.WordPress(tmp / "site")
        stack.callback(wp.drop_tables)
        wp.install(h.build_plugin_zip(tmp / "dist"), [h.PHP_DIR / "mu-plugins" / "wpbridge-test-mail.php"])

        postfix = PrivatePostfix(tmp / "postfix")
        skip = PrivatePostfix.unavailable()
        if skip is None:
            postfix.setup()
        else:
            notes["sendmail"] = f"skipped: {skip}"

        bridge_consts = {"WPBRIDGE_URL": bridge.url, "WPBRIDGE_KEY_ID": bridge.key_id,
                         "WPBRIDGE_SECRET": bridge.secret}
        paths = {
            "wpbridge": (True, bridge_consts, None),
            "smtp": (False, {"WPBRIDGE_TEST_SMTP_PORT": stock_sink.port}, None),
        }
        if skip is None:
            paths["sendmail"] = (False, {}, {"sendmail_path": postfix.sendmail_path})
        active = None
        for run in range(opts.runs):
            for name, (plugin, constants, ini) in paths.items():
                if active is not plugin:
                    wp.php("plugins.php", "activate" if plugin else "deactivate", h.PLUGIN)
                    active = plugin
                wp.set_constants(constants)
                data = run_php(wp, opts.calls, opts.warmup, ini)
                if data["false"] or data["spooled"]:
                    raise RuntimeError(f"{name}: wp_mail() returned false {data['false']} times, "
                                       f"{data['spooled']} messages were spooled")
                p50, p99 = percentile(data["ms"], 0.50), percentile(data["ms"], 0.99)
                results.setdefault(name, []).append((p50, p99))
                print(f"  run {run + 1} {name:9s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms", file=sys.stderr)
                notes.setdefault("bytes", f"{data['bytes'] / 1000:.1f} kB")

        # Every call really left: spool empty, the sinks and the private queue got them all.
        expected = opts.runs * (opts.calls + opts.warmup)
        deadline = time.monotonic() + 120
        while len(bridge_sink.received) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        checks = [f"bridge delivered {len(bridge_sink.received)}/{expected} to its sink",
                  f"stock SMTP sink got {len(stock_sink.received)}/{expected}"]
        if skip is None:
            checks.append(f"private Postfix maildrop holds {postfix.queued()}/{expected}")

    php_version = subprocess.run(["php", "-r", "echo PHP_VERSION;"], capture_output=True, text=True).stdout
    print(f"wp_mail() cost inside WordPress (PHP {php_version}, {platform.machine()}, "
          f"{os.cpu_count()} cores): {opts.calls} calls per run, {notes['bytes']} HTML order "
          f"confirmation, median of {opts.runs} runs")
    print(f"{'path':58s} {'p50 ms':>8s} {'p99 ms':>8s}")
    labels = {"wpbridge": "wpbridge plugin -> bridge on this host (HTTP, signed)",
              "smtp": "stock wp_mail, PHPMailer SMTP -> loopback sink",
              "sendmail": "stock wp_mail, PHP mail() -> Postfix sendmail"}
    for name, label in labels.items():
        if name not in results:
            print(f"{label:58s} {notes.get(name, 'skipped')}")
            continue
        p50 = statistics.median(r[0] for r in results[name])
        p99 = statistics.median(r[1] for r in results[name])
        print(f"{label:58s} {p50:8.2f} {p99:8.2f}")
    print("checks: " + "; ".join(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real WordPress, a real bridge and loopback SMTP sinks, for the plugin's end-to-end
tests and for bench/wp_mail_bench.py.

WordPress is one of the releases in wp_builds.py (Debian's 6.1.9 package, or 6.5.5 from
the npm registry) copied into a temporary folder with its own wp-config.php and table
prefix, installed from PHP CLI against the MariaDB on 127.0.0.1:3306 and served by
``php -S``. The plugin is installed from the zip that
wp-plugin/build-zip.sh builds. Test-only PHP lives in tests/wordpress/php/.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.smtp_sink import free_port
from tests.wordpress import wp_builds

ROOT = Path(__file__).resolve().parents[2]
PHP_DIR = Path(__file__).resolve().parent / "php"
PLUGIN = "wpbridge/wpbridge.php"

STOP_EDITING = "/* That's all, stop editing! Happy publishing. */"
DB_HOST = os.environ.get("WPBRIDGE_TEST_MYSQL_HOST", "127.0.0.1:3306")
DB_NAME = os.environ.get("WPBRIDGE_TEST_MYSQL_DB", "test")


def missing_requirements(release: str = "6.1") -> str | None:
    """Why WordPress ``release`` cannot run here, or None."""
    try:
        wp_builds.source(release)
    except wp_builds.Unavailable as exc:
        return str(exc)
    return None


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_process(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL, to the process group that ``proc`` leads (it was started with
    start_new_session): ``php -S`` workers and the bridge's children go with it."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # children may outlive the leader by a moment
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def sign(key_id: str, secret: str, method: str, target: str, body: bytes = b"") -> dict[str, str]:
    """The plugin's signature, written independently of both the plugin and the bridge: a
    fresh nonce on every request, signed after the timestamp."""
    ts = str(int(time.time()))
    nonce = os.urandom(16).hex()
    data = f"{key_id}\n{ts}\n{nonce}\n{method}\n{target}\n".encode() + body
    digest = hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
    return {"X-WPBridge-Key-Id": key_id, "X-WPBridge-Timestamp": ts, "X-WPBridge-Nonce": nonce,
            "X-WPBridge-Signature": "v1=" + digest}


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 60.0) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@dataclass
class Bridge:
    """``wpbridge serve`` in its own data folder, delivering to an SMTP sink.

    It can be stopped and started again on the same port and data (the spool tests).
    """

    data_dir: Path
    provider_url: str
    port: int = field(default_factory=free_port)
    # serve's SMTP listeners too: the defaults (2587, 2465) would clash with any other
    # bridge on this machine, and serve stops when a part cannot start.
    smtp_port: int = field(default_factory=free_port)
    smtp_tls_port: int = field(default_factory=free_port)
    python: str = sys.executable
    proc: subprocess.Popen | None = None
    key_id: str = ""
    secret: str = ""
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(WPBRIDGE_DATA=str(self.data_dir), WPBRIDGE_PROVIDER=self.provider_url,
                   WPBRIDGE_HTTP_PORT=str(self.port), WPBRIDGE_SMTP_PORT=str(self.smtp_port),
                   WPBRIDGE_SMTP_TLS_PORT=str(self.smtp_tls_port), WPBRIDGE_WORKER_POLL="0.1")
        return env

    def cli(self, *args: str) -> str:
        out = subprocess.run([self.python, "-m", "wpbridge", *args], env=self._env(),
                             capture_output=True, text=True, timeout=120)
        if out.returncode:
            raise RuntimeError(f"wpbridge {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
        return out.stdout

    def add_site(self, name: str, *domains: str) -> None:
        """Create the site the WordPress install signs as; keeps its credentials."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cli("db", "upgrade")
        args = ["site", "add", name, "--json"]
        for d in domains:
            args += ["--domain", d]
        creds = json.loads(self.cli(*args).strip().splitlines()[-1])
        self.key_id, self.secret = creds["key_id"], creds["secret"]

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.log_path = self.data_dir / "serve.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.python, "-m", "wpbridge", "serve", "--http", f"127.0.0.1:{self.port}"],
            env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, 60, self.proc)

    def stop(self) -> None:
        stop_process(self.proc, 30)
        self.proc = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the gunicorn child closes its socket last
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(0.05)
            except OSError:
                return

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict]:
        headers = sign(self.key_id, self.secret, method, path, body)
        if body:
            headers["Content-Type"] = "application/json"
        status, _, data = http(method, self.url + path, body or None, headers)
        return status, json.loads(data) if data else {}

    def message(self, message_id: str) -> dict:
        status, data = self.request("GET", f"/api/v1/messages/{message_id}")
        assert status == 200, (status, data)
        return data


class WordPress:
    """One WordPress site in ``root``, copied from ``source`` (a tree from wp_builds.source),
    its tables under a prefix of its own."""

    def __init__(self, root: Path, constants: dict[str, object] | None = None,
                 source: Path = wp_builds.DEBIAN_WORDPRESS):
        self.root = root
        self.source = source
        self.port = free_port()
        self.prefix = "wpb" + secrets.token_hex(4) + "_"
        self.token = secrets.token_hex(16)
        self.constants = dict(constants or {})
        self.server: subprocess.Popen | None = None
        self._log_read = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_php_errors(self) -> None:
        """Have WordPress log every PHP error, warning, notice and deprecation (WP_DEBUG)
        to a file next to the site, for plugin_complaints(); call before install()."""
        self.constants.update(WP_DEBUG=True, WP_DEBUG_DISPLAY=False,
                              WP_DEBUG_LOG=str(self.root.with_name(self.root.name + "-debug.log")))

    def plugin_complaints(self) -> list[str]:
        """The lines PHP logged from the plugin's own files since the last call."""
        path = Path(self.constants["WP_DEBUG_LOG"])
        if not path.exists():
            return []
        with path.open(errors="replace") as f:
            f.seek(self._log_read)
            text = f.read()
            self._log_read = f.tell()
        return [line for line in text.splitlines() if "/plugins/wpbridge/" in line]

    # -- set-up ------------------------------------------------------------------------

    def install(self, plugin_zip: Path | None, mu_plugins: list[Path],
                installer: tuple[str, ...] = ("install.php",)) -> None:
        """Copy WordPress, write wp-config.php, install the site, unpack the plugin (unless
        ``plugin_zip`` is None: a site that has never seen it)."""
        # A real copy (symlinks followed): wp-load.php resolves its own path, and Debian's
        # tree links to files elsewhere.
        shutil.copytree(self.source, self.root, symlinks=False)
        self.write_config()
        if plugin_zip is not None:
            with zipfile.ZipFile(plugin_zip) as zf:
                zf.extractall(self.root / "wp-content" / "plugins")
        mu_dir = self.root / "wp-content" / "mu-plugins"
        mu_dir.mkdir(exist_ok=True)
        for path in mu_plugins:
            shutil.copy(path, mu_dir / path.name)
        self.php(*installer)

    def write_config(self) -> None:
        salts = "\n".join(f"define( '{name}', '{secrets.token_hex(32)}' );" for name in (
            "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
            "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"))
        constants = {
            "DB_NAME": DB_NAME, "DB_USER": "root", "DB_PASSWORD": "", "DB_HOST": DB_HOST,
            "DB_CHARSET": "utf8mb4", "DB_COLLATE": "",
            "WP_HOME": self.url, "WP_SITEURL": self.url,
            "DISABLE_WP_CRON": True, "WP_HTTP_BLOCK_EXTERNAL": True,
            "WP_DEBUG": False, "WP_DEBUG_DISPLAY": False,
            "WPBRIDGE_TEST_TOKEN": self.token,
            **self.constants,
        }
        lines = ["<?php"]
        # A None value leaves the constant out (multisite must not pin WP_HOME).
        lines += [f"define( '{k}', {php_value(v)} );" for k, v in constants.items() if v is not None]
        lines += [salts, f"$table_prefix = '{self.prefix}';",
                  # The plugin's WPBRIDGE_* constants, which some tests change (set_constants).
                  "if ( is_file( __DIR__ . '/wpbridge-constants.php' ) ) { require __DIR__ . '/wpbridge-constants.php'; }",
                  STOP_EDITING,
                  "if ( ! defined( 'ABSPATH' ) ) { define( 'ABSPATH', __DIR__ . '/' ); }",
                  "require_once ABSPATH . 'wp-settings.php';", ""]
        (self.root / "wp-config.php").write_text("\n".join(lines))

    def add_to_config(self, text: str) -> None:
        """Paste ``text`` into wp-config.php where an admin would: above "stop editing"."""
        path = self.root / "wp-config.php"
        config = path.read_text()
        path.write_text(config.replace(STOP_EDITING, text.rstrip("\n") + "\n" + STOP_EDITING, 1))

    def set_constants(self, constants: dict[str, object]) -> None:
        """Define exactly these WPBRIDGE_* constants from the next request on."""
        lines = ["<?php"] + [f"define( '{k}', {php_value(v)} );" for k, v in constants.items()]
        path = self.root / "wpbridge-constants.php"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, path)

    @property
    def version(self) -> str:
        """``$wp_version``, e.g. "6.5.5"."""
        return wp_builds.version_of(self.root)

    # -- running -----------------------------------------------------------------------

    def php(self, script: str, *args: str, check: bool = True, env: dict | None = None) -> str:
        """Run tests/wordpress/php/<script> (or a path) against this site, from the CLI."""
        path = script if os.path.isabs(script) else str(PHP_DIR / script)
        out = subprocess.run(["php", "-d", "display_errors=stderr", path, str(self.root), *args],
                             capture_output=True, text=True, timeout=300,
                             env={**os.environ, **(env or {})})
        if check and out.returncode:
            raise RuntimeError(f"php {script} {' '.join(args)} failed ({out.returncode}):\n"
                               f"{out.stdout}\n{out.stderr}")
        return out.stdout

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """``wp <args>`` through tests/wordpress/php/wp-cli-shim.php (no WP-CLI here)."""
        return subprocess.run(["php", str(PHP_DIR / "wp-cli-shim.php"), str(self.root), *args],
                              capture_output=True, text=True, timeout=300)

    def serve(self) -> None:
        env = dict(os.environ, PHP_CLI_SERVER_WORKERS="2")
        self.server = subprocess.Popen(
            # revalidate_freq=0: a rewritten wpbridge-constants.php counts at once.
            ["php", "-d", "opcache.revalidate_freq=0", "-S", f"127.0.0.1:{self.port}", "-t", str(self.root)],
            cwd=self.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        wait_for_port(self.port, 20, self.server)

    def driver(self, action: str, payload: object = None) -> dict:
        """Call the test driver mu-plugin (php/mu-plugins/wpbridge-test-driver.php)."""
        body = json.dumps(payload if payload is not None else {}).encode()
        status, _, data = http("POST", f"{self.url}/?wpbridge_test={action}", body,
                               {"Content-Type": "application/json", "X-Test-Token": self.token})
        try:
            decoded = json.loads(data)
        except ValueError:
            raise AssertionError(f"driver {action}: HTTP {status}, not JSON:\n{data[:3000]!r}") from None
        assert status == 200, (status, decoded)
        return decoded

    def send(self, **spec) -> dict:
        """wp_mail() once inside WordPress; see the driver for the spec's keys."""
        return self.driver("send", spec)

    def activate(self, plugin: str = PLUGIN) -> None:
        self.driver("activate", {"plugin": plugin})

    def deactivate(self, plugin: str = PLUGIN) -> None:
        self.driver("deactivate", {"plugin": plugin})

    def stop(self) -> None:
        stop_process(self.server)
        self.server = None

    def drop_tables(self) -> None:
        self.php("drop-tables.php", self.prefix, DB_HOST, DB_NAME, check=False)


def php_value(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return json.dumps(value)


def build_plugin_zip(dest: Path) -> Path:
    """Run wp-plugin/build-zip.sh with its output in ``dest``."""
    out = subprocess.run(["sh", str(ROOT / "wp-plugin" / "build-zip.sh")], capture_output=True,
                         text=True, env={**os.environ, "WPBRIDGE_DIST": str(dest)}, check=True)
    return Path(out.stdout.strip().splitlines()[-1])

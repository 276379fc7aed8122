"""Session fixtures for the plugin's end-to-end tests, once per WordPress release
(Debian's 6.1.9 and 6.5.5 from the npm registry: test ids [wp6.1] and [wp6.5]): one real
WordPress (plugin installed from its zip and active), one real bridge, two loopback SMTP
sinks: one for the bridge's deliveries, one for stock WordPress's own SMTP sending.

Every test here uses ``wp_release`` (through ``wp_env`` or directly), so pytest runs all
of one release's tests, tears its site down, then the other's: one install per release
per session, one table prefix per site."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.smtp_sink import Received, Sink
from tests.wordpress import wp_builds, wp_harness as h

MU_PLUGINS = sorted(h.PHP_DIR.glob("mu-plugins/*.php"))
DOMAIN = "example.com"


@dataclass
class Env:
    wp: h.WordPress
    bridge: h.Bridge
    bridge_sink: Sink
    stock_sink: Sink

    def default_constants(self) -> dict:
        return {"WPBRIDGE_URL": self.bridge.url, "WPBRIDGE_KEY_ID": self.bridge.key_id,
                "WPBRIDGE_SECRET": self.bridge.secret}


def wait_received(sink: Sink, match, count: int = 1, timeout: float = 15.0) -> list[Received]:
    """The messages at ``sink`` for which ``match(received)`` holds, once there are ``count``."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in list(sink.received) if match(r)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def subject_is(subject: str):
    return lambda r: r.message["Subject"] == subject


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session", params=list(wp_builds.RELEASES), ids=lambda r: f"wp{r}")
def wp_release(request) -> Path:
    """The WordPress tree (to copy) of the release this test runs on."""
    try:
        tree = wp_builds.source(request.param)
    except wp_builds.Unavailable as exc:
        pytest.skip(f"WordPress {wp_builds.RELEASES[request.param]} cannot run here: {exc}")
    assert wp_builds.version_of(tree).startswith(request.param + "."), "the release it claims to be"
    return tree


@pytest.fixture(scope="session")
def wp_env(tmp_path_factory, wp_release):
    tmp = tmp_path_factory.mktemp("wordpress")
    with ExitStack() as stack:
        bridge_sink = stack.enter_context(Sink())
        stock_sink = stack.enter_context(Sink())
        bridge = h.Bridge(tmp / "bridge", f"smtp://127.0.0.1:{bridge_sink.port}")
        stack.callback(bridge.stop)
        wp = h.WordPress(tmp / "site", {"WPBRIDGE_TEST_SMTP_PORT": stock_sink.port}, wp_release)
        wp.log_php_errors()
        stack.callback(shutil.rmtree, wp.root, True)
        stack.callback(wp.drop_tables)
        # The bridge starts while WordPress installs: a few seconds each, mostly start-up.
        with ThreadPoolExecutor(1) as pool:
            started = pool.submit(lambda: (bridge.add_site("shop.example.com", DOMAIN), bridge.start()))
            wp.install(h.build_plugin_zip(tmp / "dist"), MU_PLUGINS)
            started.result()
        env = Env(wp, bridge, bridge_sink, stock_sink)
        wp.set_constants(env.default_constants())
        wp.php("plugins.php", "activate", h.PLUGIN)
        stack.callback(wp.stop)
        wp.serve()
        yield env
        complaints = wp.plugin_complaints()
        assert not complaints, f"PHP complained about the plugin on WordPress {wp.version}:\n" + "\n".join(complaints)


@pytest.fixture
def env(wp_env):
    """The session's set-up, put back to normal after each test: plugin active, default
    constants, bridge running, spool empty. PHP errors, warnings or notices from the
    plugin's files during the test fail it (at teardown)."""
    wp_env.wp.plugin_complaints()  # only this test's
    yield wp_env
    complaints = wp_env.wp.plugin_complaints()
    assert not complaints, "PHP complained about the plugin:\n" + "\n".join(complaints)
    wp_env.wp.set_constants(wp_env.default_constants())
    wp_env.bridge.start()
    state = wp_env.wp.driver("state")
    if h.PLUGIN not in state["active_plugins"]:
        wp_env.wp.activate()
    if state["spool"]:
        wp_env.wp.cli("wpbridge", "flush")


class HungServer:
    """Accepts TCP connections on loopback and never answers: a bridge that hangs."""

    def __init__(self):
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self):
        self.stopping.set()
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def hung_server():
    server = HungServer()
    yield server
    server.close()

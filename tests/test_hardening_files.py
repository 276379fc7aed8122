"""Finding 7 of issue 15: wpbridge.db, -wal and -shm were 0644 in a 0755 directory, so any
local user could read password-reset links and order mail. Every wpbridge process now
runs with umask 0o077 and makes an existing data directory private at start, with a
warning. Checked with real ``wpbridge`` processes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from tests.smtp_sink import free_port
from tests.test_processes import _up, wait_for


def _run(args, env, **kw):
    # As a user's shell would start it: the common umask 022.
    return subprocess.run([sys.executable, "-m", "wpbridge", *args], env=env, capture_output=True,
                          text=True, preexec_fn=lambda: os.umask(0o022), timeout=120, **kw)


def _open_modes(root) -> list[str]:
    """Every path under ``root`` (and root) that group or others may use."""
    return [f"{p} {stat.S_IMODE(p.lstat().st_mode):04o}" for p in [root, *root.rglob("*")]
            if stat.S_IMODE(p.lstat().st_mode) & 0o077]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_keeps_every_file_private(tmp_path, database_url):
    data = tmp_path / "data"
    env = dict(os.environ, WPBRIDGE_DATA=str(data))
    env.pop("WPBRIDGE_PROVIDER", None)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "wpbridge", "serve", "--http", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.umask(0o022))
    try:
        wait_for(lambda: _up(port), 60, "the HTTP API")
        sent = _run(["send-test", "--site", "localhost.localdomain", "--to", "you@example.org",
                     "--url", f"http://127.0.0.1:{port}"], env)
        assert sent.returncode == 0, sent.stderr
        wait_for(lambda: list((data / "outbox" / "new").glob("*")), 30, "the outbox")
        names = {p.name for p in data.iterdir()}
        assert {"wpbridge.db", "wpbridge.db-wal", "wpbridge.db-shm", "secret.key", "outbox"} <= names
        assert _open_modes(data) == []
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


@pytest.mark.parametrize("command", [["site", "list"], ["worker", "--once"]])
def test_an_open_data_directory_is_made_private_with_a_warning(tmp_path, database_url, command):
    data = tmp_path / "data"
    if "sqlite" in database_url:  # the embedded default: the database in the data directory
        database_url = f"sqlite:///{data / 'wpbridge.db'}"
    env = dict(os.environ, WPBRIDGE_DATA=str(data), WPBRIDGE_DATABASE_URL=database_url)
    env.pop("WPBRIDGE_PROVIDER", None)
    assert _run(["db", "upgrade"], env).returncode == 0
    assert _run(["site", "add", "shop.example.com", "--domain", "example.com"], env).returncode == 0
    (data / "outbox" / "new").mkdir(parents=True)
    (data / "outbox" / "new" / "1.mail").write_text("Subject: your password reset link\n\n...")
    for p in [data, *data.rglob("*")]:  # as an older bridge left them
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    assert _open_modes(data)

    out = _run(command, env)
    assert out.returncode == 0, out.stderr
    assert _open_modes(data) == []
    assert f"other local users could read {data} was 0755, now 0700" in out.stderr
    assert f"{data / 'secret.key'} was 0644, now 0600" in out.stderr
    if "sqlite" in database_url:
        assert f"{data / 'wpbridge.db'} was 0644, now 0600" in out.stderr

    again = _run(command, env)
    assert "other local users could read" not in again.stderr, "nothing left to fix, nothing said"

"""Every command of the installed ``wpbridge`` entry point, as a new user runs it: with
``--help``, and with its usual arguments on a fresh data directory and on one whose database
an older release made (revision 0012). None may print a traceback; a command that fails says
so in one line naming the problem and the fix."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
import sqlalchemy as sa

from tests.smtp_sink import free_port
from wpbridge import db, settings as settings_mod, sites
from wpbridge.cli import main
from wpbridge.models import utcnow

ENTRY = Path(sys.executable).with_name("wpbridge")
SECRET_KEY = "first-contact-test-key"
OLD_SITE = "old.example.net"

# The usual arguments of every command; {site} is a site of the data directory (none on a
# fresh one), {dir} a directory with the files the commands read. A new command fails
# test_every_command_has_usual_arguments until it is added here.
USUAL: dict[str, list[str]] = {
    "admin create-token": ["--name", "ops"],
    "admin list-tokens": [],
    "admin revoke-token": ["ops"],
    "admin site": ["{site}", "--contact", "owner@example.com"],
    "alerts check": ["--site", "{site}"],
    "bounces listen": [],
    "bounces parse": ["{dir}/dsn.eml"],
    "bounces poll": ["--once"],
    "bulk resume": ["--site", "{site}"],
    "bulk status": [],
    "classify": ["{dir}/order.eml"],
    "db upgrade": [],
    "dkim activate": ["--site", "{site}", "--domain", "example.com", "--selector", "s1", "--no-check"],
    "dkim generate": ["--site", "{site}", "--domain", "example.com"],
    "dkim list": ["--site", "{site}"],
    "dkim remove": ["--site", "{site}", "--domain", "example.com", "--selector", "s1", "--yes"],
    "dns check": ["example.com", "--nameserver", "127.0.0.1", "--port", "{closed}"],
    "outbox": [],
    "privacy erase": ["someone@example.org"],
    "privacy prune": ["--days", "30"],
    "providers": [],
    "report": ["--site", "{site}", "--period", "week"],
    "send-test": ["--site", "{site}", "--to", "you@example.org", "--url", "http://127.0.0.1:{closed}"],
    "serve": ["--site", "shop.example.com", "--domain", "example.com"],
    "site add": ["shop.example.com", "--domain", "example.com"],
    "site domains add": ["{site}", "news.example.com"],
    "site list": [],
    "site quota": ["{site}", "--daily", "5000"],
    "site remove": ["{site}", "--yes"],
    "site rotate-secret": ["{site}"],
    "site senders": ["{site}", "--from-policy", "rewrite"],
    "site smtp-credentials add": ["{site}", "--username", "mailpoet"],
    "site smtp-credentials list": ["{site}"],
    "site smtp-credentials remove": ["{site}", "mailpoet"],
    "smtpd": [],
    "suppressions add": ["--site", "{site}", "someone@example.org"],
    "suppressions export": ["--site", "{site}"],
    "suppressions import": ["--site", "{site}", "{dir}/list.csv"],
    "suppressions list": ["--site", "{site}"],
    "suppressions remove": ["--site", "{site}", "someone@example.org"],
    "web": [],
    "worker": ["--once"],
}
# Commands that run until stopped: started, given time to come up, then stopped with Ctrl-C.
DAEMONS = {"serve", "web", "smtpd", "bounces listen"}
# Those the usual arguments must carry through on a bridge with a site (the upgraded one).
# (The others need something the directory lacks: a token, key or login to remove, a DNS
# server, a running bridge, a bounce mailbox; they must still fail in one line.)
MUST_SUCCEED = set(USUAL) - {"admin revoke-token", "bounces poll", "dkim activate", "dkim remove",
                             "dns check", "send-test", "site smtp-credentials remove"}


def _walk(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix, group
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


COMMANDS = [" ".join(p) for p, c in _walk(main) if not isinstance(c, click.Group)]
EVERYTHING = [" ".join(p) for p, _ in _walk(main)]


@pytest.fixture(scope="module")
def entry() -> Path:
    assert ENTRY.exists(), f"{ENTRY} is missing: install with pip install -e '.[test]'"
    return ENTRY


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    (d / "order.eml").write_bytes(b"From: Shop <shop@example.com>\r\nTo: a@example.org\r\n"
                                  b"Subject: Your order #1001\r\n\r\nThanks for your order.\r\n")
    (d / "dsn.eml").write_bytes(
        b"From: MAILER-DAEMON@mx.example.org\r\nTo: bounce@example.com\r\nSubject: Undelivered\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        b"boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nNo such user.\r\n--b\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n--b--\r\n")
    (d / "list.csv").write_text("address,scope,reason\nsomeone@example.org,all,manual\n")
    return d


@pytest.fixture(scope="module")
def old_database(tmp_path_factory) -> Path:
    """A data directory whose database an older release made (revision 0012), with a site."""
    from alembic import command

    d = tmp_path_factory.mktemp("old")
    settings = settings_mod.Settings(data_dir=d, database_url=f"sqlite:///{d / 'wpbridge.db'}",
                                     secret_key=SECRET_KEY)
    command.upgrade(db.alembic_config(settings), "0012")
    engine = sa.create_engine(settings.database_url)
    with engine.begin() as conn:
        site_id = conn.execute(sa.text(
            "INSERT INTO sites (name, key_id, secret_enc, created_at) VALUES (:n, :k, :s, :t) "
            "RETURNING id"), {"n": OLD_SITE, "k": "wpb_0123456789abcdef", "t": utcnow(),
                              "s": sites.encrypt_secret(SECRET_KEY, "old-secret", "wpb_0123456789abcdef")}).scalar()
        conn.execute(sa.text("INSERT INTO site_domains (site_id, domain) VALUES (:i, 'example.com')"),
                     {"i": site_id})
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0012"
    with engine.connect() as conn:  # all into the main file, which is what gets copied
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return d / "wpbridge.db"


def _env(data: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WPBRIDGE_")}
    env.update(WPBRIDGE_DATA=str(data), WPBRIDGE_SECRET_KEY=SECRET_KEY,
               WPBRIDGE_HTTP_PORT=str(free_port()), WPBRIDGE_SMTP_PORT=str(free_port()),
               WPBRIDGE_SMTP_TLS_PORT=str(free_port()),
               WPBRIDGE_BOUNCE_DOMAINS="bounces.example.com",
               WPBRIDGE_BOUNCE_LISTEN=f"127.0.0.1:{free_port()}",
               WPBRIDGE_BOUNCE_MAILBOX=f"imap://bounces:secret@127.0.0.1:{free_port()}/INBOX",
               WPBRIDGE_DNS_RECHECK_INTERVAL="0", PYTHONUNBUFFERED="1")
    return env


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _run(entry: Path, args: list[str], env: dict, daemon: bool = False) -> tuple[int, str, str]:
    if not daemon:
        out = subprocess.run([str(entry), *args], env=env, capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL)
        return out.returncode, out.stdout, out.stderr
    port = int(env["WPBRIDGE_BOUNCE_LISTEN"].rpartition(":")[2] if args[:2] == ["bounces", "listen"]
               else env["WPBRIDGE_SMTP_PORT"] if args[:1] == ["smtpd"] else env["WPBRIDGE_HTTP_PORT"])
    proc = subprocess.Popen([str(entry), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not _port_open(port):
            time.sleep(0.2)
        up = proc.poll() is None
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert up, f"{' '.join(args)} did not come up:\n{stdout}\n{stderr}"
    return 0, stdout, stderr


def _check(what: str, code: int, stdout: str, stderr: str) -> None:
    both = stdout + stderr
    assert "Traceback" not in both, f"{what} printed a traceback:\n{both}"
    if code != 0:
        # One line that says what is wrong ("Error: ..." from click, or the command's own).
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        assert lines and len(lines[-1]) > 20, f"{what} failed without saying why:\n{both}"
        assert len([ln for ln in lines if ln.startswith("Error:")]) <= 1, both


def test_every_command_has_usual_arguments():
    assert sorted(USUAL) == sorted(COMMANDS), "add the new command's usual arguments to USUAL"


def test_every_command_answers_help(entry, tmp_path):
    env = _env(tmp_path / "help")

    def one(path: str):
        args = path.split() + ["--help"]
        return path, _run(entry, args, env)

    with ThreadPoolExecutor(4) as pool:
        for path, (code, stdout, stderr) in pool.map(one, EVERYTHING):
            _check(f"wpbridge {path} --help", code, stdout, stderr)
            assert code == 0 and "Usage: wpbridge" in stdout, (path, stdout, stderr)
    assert not (tmp_path / "help").exists(), "--help must not create a data directory"


def _usual(entry, inputs, data: Path, site: str, path: str):
    args = path.split() + [a.format(site=site, dir=inputs, closed=free_port()) for a in USUAL[path]]
    return path, _run(entry, args, _env(data), daemon=path in DAEMONS)


@pytest.mark.slow
@pytest.mark.parametrize("start", ["fresh", "upgraded"])
def test_every_command_on_a_new_user_s_data_directory(entry, inputs, old_database, tmp_path, start):
    """Each command on its own data directory: an empty one (nothing run before it, not even
    'serve'), or a copy of one an older release made."""
    def one(path: str):
        data = tmp_path / path.replace(" ", "_")
        data.mkdir()
        if start == "upgraded":
            shutil.copy(old_database, data / "wpbridge.db")
        return _usual(entry, inputs, data, OLD_SITE if start == "upgraded" else "shop.example.com", path)

    with ThreadPoolExecutor(4) as pool:
        results = dict(pool.map(one, COMMANDS))
    for path, (code, stdout, stderr) in sorted(results.items()):
        _check(f"wpbridge {path} ({start})", code, stdout, stderr)
        if start == "upgraded" and path in MUST_SUCCEED:
            assert code == 0, f"wpbridge {path} failed on an upgraded directory:\n{stdout}\n{stderr}"
    # What readme.txt's install steps and the README run first work on an empty directory.
    for path in ("site add", "site list", "db upgrade", "outbox", "providers", "bulk status",
                 "admin create-token", "serve", "worker", "classify", "privacy prune"):
        assert results[path][0] == 0, (path, results[path])
    assert "No sites yet. Create one with: wpbridge site add" in results["site list"][2] or start == "upgraded"
    serve_out = results["serve"][1] + results["serve"][2]
    assert "Site shop.example.com may send From: example.com and their subdomains" in serve_out
    assert "wpbridge site domains add shop.example.com DOMAIN" in serve_out
    if start == "upgraded":  # the older release's site came through the upgrade whole
        assert f"{OLD_SITE}\twpb_0123456789abcdef\texample.com" in results["site list"][1]
    if start == "fresh":
        assert "WPBRIDGE_KEY_ID" in serve_out
        assert "no site named shop.example.com; 'wpbridge site list'" in results["report"][2]


def test_an_unreachable_database_is_one_line(entry, tmp_path):
    env = _env(tmp_path / "pg")
    env["WPBRIDGE_DATABASE_URL"] = f"postgresql://wpbridge:hunter2@127.0.0.1:{free_port()}/nothing"
    code, stdout, stderr = _run(entry, ["site", "list"], env)
    _check("site list (no database)", code, stdout, stderr)
    assert code == 1 and "cannot use the database" in stderr and "hunter2" not in stderr
    assert "WPBRIDGE_DATABASE_URL" in stderr


def test_a_bad_setting_is_one_line(entry, tmp_path):
    env = _env(tmp_path / "bad")
    env["WPBRIDGE_HTTP_PORT"] = "eighty"
    code, stdout, stderr = _run(entry, ["site", "list"], env)
    _check("site list (bad setting)", code, stdout, stderr)
    assert code == 1 and "WPBRIDGE_HTTP_PORT" in stderr


def test_serve_takes_the_first_site_from_the_settings_too(entry, tmp_path):
    env = _env(tmp_path / "data")
    env.update(WPBRIDGE_FIRST_SITE="shop.example.com", WPBRIDGE_FIRST_SITE_DOMAINS="example.com,example.org")
    code, stdout, stderr = _run(entry, ["serve"], env, daemon=True)
    out = stdout + stderr
    _check("serve (first_site)", code, stdout, stderr)
    assert "Created the site shop.example.com." in out and "localhost.localdomain" not in out
    assert "may send From: example.com, example.org and their subdomains" in out
    # Started again, it finds the site and prints no new secret.
    code, stdout, stderr = _run(entry, ["serve", "--site", "shop.example.com", "--domain", "news.example.net"],
                                env, daemon=True)
    assert "WPBRIDGE_SECRET" not in stdout + stderr
    assert "example.com, example.org, news.example.net" in stdout + stderr

"""The SMTP door with real clients on loopback: smtplib and swaks over STARTTLS and implicit
TLS with AUTH; relay attempts without AUTH; smuggling sequences on a raw socket; a listener
killed in the middle of DATA."""

from __future__ import annotations

import base64
import os
import queue
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
import trustme

from tests.conftest import make_site
from tests.tools import needs_tool
from wpbridge.ingest.smtp import Listener, is_loopback, line_ending_problem
from wpbridge.models import Message, Recipient

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def smtp_settings(settings, **values):
    return settings.replace(**values)


@pytest.fixture(scope="session")
def ca():
    return trustme.CA()


@pytest.fixture
def tls_files(ca, tmp_path) -> dict:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    chain, key = tmp_path / "smtpd-chain.pem", tmp_path / "smtpd-key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    return {"smtp_tls_cert": str(chain), "smtp_tls_key": str(key)}


@pytest.fixture
def client_tls(ca) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


@contextmanager
def running(settings, engine, tls_files, **values):
    with Listener(smtp_settings(settings, **tls_files, **values), engine,
                  starttls=("127.0.0.1", 0), implicit_tls=("127.0.0.1", 0)) as listener:
        yield listener


@pytest.fixture
def listener(settings, engine, tls_files):
    with running(settings, engine, tls_files) as listener:
        yield listener


def connect(port: int) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=30)


def login(listener, site, client_tls) -> smtplib.SMTP:
    client = connect(listener.port)
    client.starttls(context=client_tls)
    client.login(site.key_id, site.secret)
    return client


def rfc5322(sender="Shop <shop@example.com>", to="alice@example.org", subject="Spring sale",
            extra=b"", body=b"Hello,\r\nour spring sale starts today.\r\n") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n".encode() + extra
            + b"\r\n" + body)


def send(client: smtplib.SMTP, raw: bytes, mail_from="shop@example.com",
         rcpts=("alice@example.org",)) -> tuple[int, str]:
    """One transaction with the low-level calls, so every reply is seen; returns DATA's."""
    code, text = client.mail(mail_from)
    assert code == 250, text
    for r in rcpts:
        code, text = client.rcpt(r)
        assert code == 250, text
    code, text = client.data(raw)
    return code, text.decode()


def queued_id(code: int, text: str) -> str:
    assert code == 250, text
    m = re.fullmatch(r"2\.0\.0 Queued as ([0-9a-f]{32})", text)
    assert m, text
    return m.group(1)


def assert_refused(reply: tuple[int, bytes | str], code: int, enhanced: str, *words: str) -> None:
    """A refusal with its code, enhanced status code and a readable reason naming ``words``."""
    got, text = reply
    text = text.decode() if isinstance(text, bytes) else text
    assert got == code, (got, text)
    assert text.startswith(enhanced + " "), text
    for w in words:
        assert w in text, text


def counts(app) -> tuple[int, int]:
    with app.extensions["wpbridge"].sessions() as s:
        return (s.scalar(sa.select(sa.func.count()).select_from(Message)),
                s.scalar(sa.select(sa.func.count()).select_from(Recipient)))


class Raw:
    """An SMTP client on a raw socket that sends bytes exactly as given."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> list[str]:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError(f"connection closed after {lines}")
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return lines

    def cmd(self, line: bytes) -> str:
        self.sock.sendall(line + b"\r\n")
        return self.reply()[-1]

    def rest(self) -> list[str]:
        """Every line until the server closes the connection."""
        return [line.decode().rstrip("\r\n") for line in self.file.readlines()]

    def starttls(self, ctx: ssl.SSLContext) -> None:
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")

    def login(self, ctx: ssl.SSLContext, site) -> None:
        assert self.cmd(b"EHLO raw.example").startswith("250 ")
        assert self.cmd(b"STARTTLS").startswith("220 ")
        self.starttls(ctx)
        assert self.cmd(b"EHLO raw.example").startswith("250 ")
        token = base64.b64encode(f"\0{site.key_id}\0{site.secret}".encode())
        assert self.cmd(b"AUTH PLAIN " + token).startswith("235 ")

    def close(self) -> None:
        self.sock.close()


# -- delivery --------------------------------------------------------------------------

def test_smtplib_starttls_auth_queues_the_message(app, site, listener, client_tls):
    client = connect(listener.port)
    code, _ = client.ehlo()
    assert code == 250
    for ext in ("size", "8bitmime", "pipelining", "enhancedstatuscodes", "smtputf8", "starttls"):
        assert client.has_extn(ext), ext
    assert not client.has_extn("auth"), "AUTH must not be offered before TLS"
    assert int(client.esmtp_features["size"]) == app.extensions["wpbridge"].settings.max_message_bytes
    client.starttls(context=client_tls)
    client.ehlo()
    assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
    assert not client.has_extn("starttls")
    client.login(site.key_id, site.secret)
    raw = rfc5322(extra=b"Bcc: hidden@example.net\r\nList-Unsubscribe: <https://example.com/u>\r\n",
                  body=b"Line one\r\n.leading dot\r\n")
    msg_id = queued_id(*send(client, raw, rcpts=("alice@example.org", "hidden@example.net")))
    client.quit()

    resp = site.get(f"/api/v1/messages/{msg_id}")
    assert resp.status_code == 200
    body = resp.json
    assert [r["address"] for r in body["recipients"]] == ["alice@example.org", "hidden@example.net"]
    assert body["status"] == "queued"
    assert body["category"] == "bulk"
    assert body["context"] == {"source": "smtp", "smtp_helo": "client.example"}
    with app.extensions["wpbridge"].sessions() as s:
        stored = s.scalar(sa.select(Message.raw).where(Message.id == msg_id))
    assert b"Bcc:" not in stored and b"hidden@" not in stored
    assert b"\r\n.leading dot\r\n" in stored
    assert b"Message-ID:" in stored and b"Date:" in stored


def test_a_large_message_is_parsed_apart_and_stored_whole(app, site, listener, client_tls):
    from wpbridge.ingest.smtp import IN_THREAD_ABOVE

    body = b"".join(b"line %06d of a large attachment-like body\r\n" % i
                    for i in range(IN_THREAD_ABOVE // 40 + 100))
    assert len(body) > IN_THREAD_ABOVE
    client = connect(listener.port)
    client.starttls(context=client_tls)
    client.login(site.key_id, site.secret)
    ids = [queued_id(*send(client, rfc5322(subject=f"big {i}", body=body))) for i in range(2)]
    small = queued_id(*send(client, rfc5322(subject="small")))
    client.quit()
    with app.extensions["wpbridge"].sessions() as s:
        stored = dict(s.execute(sa.select(Message.id, Message.raw).where(Message.id.in_(ids + [small]))).all())
    for mid in ids:
        assert stored[mid].endswith(body) and stored[mid].startswith(b"Received: ")
    assert len(stored[small]) < 2000


def test_implicit_tls_with_auth_login(app, site, listener, client_tls):
    client = smtplib.SMTP_SSL("127.0.0.1", listener.tls_port, local_hostname="client.example",
                              context=client_tls, timeout=30)
    client.ehlo()
    assert "LOGIN" in client.esmtp_features["auth"].split()
    assert not client.has_extn("starttls")
    client.user, client.password = site.key_id, site.secret
    code, text = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
    assert code == 235, text
    msg_id = queued_id(*send(client, rfc5322()))
    client.quit()
    assert site.get(f"/api/v1/messages/{msg_id}").json["recipients"][0]["address"] == "alice@example.org"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth(app, site, listener, ca, tmp_path, mechanism):
    swaks = needs_tool("swaks", "apt-get install swaks")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    out = subprocess.run(
        [swaks, "--server", "127.0.0.1", "--port", str(listener.port), "--tls", "--tls-verify",
         "--tls-ca-path", str(ca_file), "--auth", mechanism, "--auth-user", site.key_id,
         "--auth-password", site.secret, "--ehlo", "swaks.example", "--from", "news@example.com",
         "--to", "bob@example.org", "--header", "Subject: swaks test", "--body", "from swaks"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250-STARTTLS" in out.stdout and "235 2.7.0" in out.stdout
    m = re.search(r"<~ +250 2\.0\.0 Queued as ([0-9a-f]{32})", out.stdout)
    assert m, out.stdout
    body = site.get(f"/api/v1/messages/{m.group(1)}").json
    assert body["subject"] == "swaks test"
    assert body["context"]["smtp_helo"] == "swaks.example"


def test_parallel_sessions_each_get_their_own_commit(app, site, listener, client_tls):
    # Messages arriving together are committed in groups; each still gets its own 250 and row.
    n_sessions, per_session = 12, 5
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_sessions)

    def session(k: int):
        try:
            client = login(listener, site, client_tls)
            barrier.wait(30)
            for i in range(per_session):
                got = queued_id(*send(client, rfc5322(subject=f"s{k} m{i}"),
                                      rcpts=(f"r{k}-{i}@example.org",)))
                with lock:
                    ids.append(got)
            client.quit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(n_sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(ids)) == n_sessions * per_session
    assert counts(app) == (n_sessions * per_session, n_sessions * per_session)
    with app.extensions["wpbridge"].sessions() as s:
        assert set(s.scalars(sa.select(Message.id))) == set(ids)


def test_quota_is_shared_by_parallel_sessions(app, settings, listener, client_tls):
    quota_site = make_site(app, settings, name="quota.example.com", domains=("quota.example",),
                           hourly_quota=5)
    replies: list[tuple[int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(10)

    def session(k: int):
        client = login(listener, quota_site, client_tls)
        client.mail("news@quota.example")
        client.rcpt(f"r{k}@example.org")
        barrier.wait(30)
        reply = client.data(rfc5322(sender="news@quota.example"))
        with lock:
            replies.append((reply[0], reply[1].decode()))
        client.quit()

    threads = [threading.Thread(target=session, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [r for r in replies if r[0] == 250]
    refused = [r for r in replies if r[0] != 250]
    assert len(accepted) == 5 and len(refused) == 5, replies
    for reply in refused:
        assert_refused(reply, 450, "4.7.1", "quota", "quota.example.com", "try again")
    assert counts(app) == (5, 5)


def test_storage_failure_answers_451_and_stores_nothing(app, site, listener, client_tls, engine):
    client = login(listener, site, client_tls)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE recipients RENAME TO recipients_away")
    try:
        reply = send(client, rfc5322())
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE recipients_away RENAME TO recipients")
    assert_refused(reply, 451, "4.3.0", "not accepted", "try again later")
    for leak in ("recipients", "table", "relation", "Error", "sqlite", "psycopg"):
        assert leak not in reply[1]
    assert counts(app) == (0, 0)
    queued_id(*send(client, rfc5322()))
    client.quit()
    assert counts(app) == (1, 1)


def test_listener_killed_mid_data_stores_nothing(app, site, settings, tmp_path):
    data_dir = tmp_path / "smtpd"
    env = dict(os.environ, WPBRIDGE_DATA=str(data_dir), WPBRIDGE_DATABASE_URL=settings.database_url,
               WPBRIDGE_SECRET_KEY=settings.secret_key)
    proc = subprocess.Popen([sys.executable, "-m", "wpbridge.ingest.smtp", "--listen",
                             "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        port = _wait_ready(proc)
        # The generated self-signed certificate is its own trust anchor.
        ctx = ssl.create_default_context(cafile=str(data_dir / "smtpd-cert.pem"))
        client = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=30)
        client.starttls(context=ctx)
        client.login(site.key_id, site.secret)
        first = queued_id(*send(client, rfc5322(subject="complete")))

        assert client.mail("shop@example.com")[0] == 250
        assert client.rcpt("alice@example.org")[0] == 250
        assert client.docmd("DATA")[0] == 354
        client.sock.sendall(rfc5322(subject="cut off") + b"first part of the body\r\n" * 200)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        try:
            client.sock.sendall(b"the rest\r\n.\r\n")
            code, text = client.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            code, text = None, repr(exc)
        assert code != 250, text
    finally:
        proc.kill()
        proc.wait(30)
    with app.extensions["wpbridge"].sessions() as s:
        assert list(s.scalars(sa.select(Message.id))) == [first]
    assert counts(app) == (1, 1)


def _wait_ready(proc: subprocess.Popen) -> int:
    """The STARTTLS port from the listener's ready line; stderr keeps being drained."""
    lines: queue.Queue = queue.Queue()

    def drain():
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=120)
        except queue.Empty:
            raise AssertionError(f"the listener did not get ready: {''.join(seen)}") from None
        assert line is not None, f"the listener exited: {''.join(seen)}"
        seen.append(line)
        m = re.search(r"STARTTLS on 127\.0\.0\.1:(\d+)", line)
        if m:
            return int(m.group(1))


@sqlite_only
def test_sigterm_stops_the_listener_cleanly(app, site, settings, tmp_path):
    env = dict(os.environ, WPBRIDGE_DATA=str(tmp_path / "smtpd"),
               WPBRIDGE_DATABASE_URL=settings.database_url, WPBRIDGE_SECRET_KEY=settings.secret_key)
    proc = subprocess.Popen([sys.executable, "-m", "wpbridge.ingest.smtp", "--listen",
                             "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        port = _wait_ready(proc)
        client = connect(port)
        client.ehlo()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        proc.wait(30)


def test_several_listener_processes_share_the_port(app, site, settings, tmp_path):
    """smtpd --processes 2: two processes accept on one port (SO_REUSEPORT), every message is
    committed once, and SIGTERM stops them all."""
    data_dir = tmp_path / "smtpd"
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    env = dict(os.environ, WPBRIDGE_DATA=str(data_dir), WPBRIDGE_DATABASE_URL=settings.database_url,
               WPBRIDGE_SECRET_KEY=settings.secret_key)
    proc = subprocess.Popen([sys.executable, "-m", "wpbridge", "smtpd", "--processes", "2",
                             "--listen", f"127.0.0.1:{ports[0]}", "--tls-listen", f"127.0.0.1:{ports[1]}"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_ready(proc) == ports[0]
        ctx = ssl.create_default_context(cafile=str(data_dir / "smtpd-cert.pem"))
        ids = []
        for i in range(40):
            client = None
            for _ in range(100):  # until both processes listen
                try:
                    client = smtplib.SMTP("127.0.0.1", ports[0], local_hostname="client.example", timeout=30)
                    break
                except OSError:
                    threading.Event().wait(0.1)
            client.starttls(context=ctx)
            client.login(site.key_id, site.secret)
            ids.append(queued_id(*send(client, rfc5322(subject=f"message {i}"))))
            client.quit()
        out = subprocess.run([needs_tool("pgrep", "apt-get install procps"), "-P", str(proc.pid)], capture_output=True, text=True).stdout
        assert len(out.split()) == 2, out
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        proc.wait(30)
    assert len(set(ids)) == 40
    with app.extensions["wpbridge"].sessions() as s:
        assert set(s.scalars(sa.select(Message.id))) == set(ids)
    assert counts(app) == (40, 40)


# -- refusals --------------------------------------------------------------------------

# (MAIL FROM argument, RCPT TO argument): DSBL-style tries at an open relay.
RELAY_TRIES = [
    ("<shop@example.com>", "<victim@example.net>"),
    ("<>", "<victim@example.net>"),
    ("<shop@example.com>", '<"victim@example.net">'),
    ("<shop@example.com>", '<"victim@example.net"@shop.example.com>'),
    ("<shop@example.com>", "<victim%example.net@shop.example.com>"),
    ("<shop@example.com>", "<example.net!victim@shop.example.com>"),
    ("<shop@example.com>", "<example.net!victim>"),
    ("<shop@example.com>", "<victim@[127.0.0.1]>"),
    ("<shop@[127.0.0.1]>", '<"victim@example.net"@[127.0.0.1]>'),
    ("<shop@example.com>", "<@shop.example.com:victim@example.net>"),
    ("<postmaster>", "<victim@example.net>"),
]


@sqlite_only
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
@pytest.mark.parametrize("mail_from,rcpt", RELAY_TRIES)
def test_no_relay_without_auth(app, site, listener, client_tls, tls, mail_from, rcpt):
    raw = Raw(listener.port)
    assert raw.cmd(b"EHLO relay.example").startswith("250 ")
    if tls:
        assert raw.cmd(b"STARTTLS").startswith("220 ")
        raw.starttls(client_tls)
        assert raw.cmd(b"EHLO relay.example").startswith("250 ")
    mail = raw.cmd(b"MAIL FROM:" + mail_from.encode())
    assert re.match(r"(530 5\.7\.0|553 5\.1\.\d|501 5\.5\.\d) ", mail), mail
    rcpt_reply = raw.cmd(b"RCPT TO:" + rcpt.encode())
    assert rcpt_reply[:1] == "5", rcpt_reply
    data = raw.cmd(b"DATA")
    assert data[:1] == "5", data
    # A client that ignores the refusals and sends the message anyway gets nothing through.
    raw.sock.sendall(rfc5322(to="victim@example.net") + b".\r\nQUIT\r\n")
    rest = raw.rest()
    assert not [line for line in rest if line.startswith(("250 2.0.0 Queued", "354"))], rest
    raw.close()
    assert counts(app) == (0, 0)


@sqlite_only
@pytest.mark.parametrize("command", [b"AUTH PLAIN {plain}", b"AUTH LOGIN"])
def test_auth_before_starttls_is_refused(app, site, listener, command):
    raw = Raw(listener.port)
    ehlo = raw.cmd(b"EHLO raw.example")
    assert ehlo.startswith("250 ")
    plain = base64.b64encode(f"\0{site.key_id}\0{site.secret}".encode())
    reply = raw.cmd(command.replace(b"{plain}", plain))
    assert_refused((int(reply[:3]), reply[4:]), 538, "5.7.11", "STARTTLS")
    mail = raw.cmd(b"MAIL FROM:<shop@example.com>")
    assert mail.startswith("530 5.7.0 "), mail
    raw.close()


@sqlite_only
def test_wrong_credentials_are_refused(site, listener, client_tls):
    for user, password in ((site.key_id, site.secret + "x"), ("wpb_0000000000000000", site.secret)):
        client = connect(listener.port)
        client.starttls(context=client_tls)
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login(user, password)
        assert_refused((err.value.smtp_code, err.value.smtp_error), 535, "5.7.8", "key id")
        client.quit()


@sqlite_only
def test_foreign_sender_domain_is_refused(app, settings, listener, client_tls):
    site = make_site(app, settings, from_policy="refuse")  # rewrite: see tests/test_from_policy.py
    client = login(listener, site, client_tls)
    assert_refused(client.mail("shop@evil.example"), 550, "5.7.1", "evil.example",
                   "shop.example.com", "wpbridge site domains add")
    assert_refused(client.docmd("MAIL", "FROM:<>"), 550, "5.7.1", "null sender")
    # The envelope is the site's own, the From header is not.
    reply = send(client, rfc5322(sender="Bank <security@bank.example>"))
    assert_refused(reply, 550, "5.7.1", "bank.example", "example.com")
    client.quit()
    assert counts(app) == (0, 0)


@sqlite_only
def test_oversize_is_refused(app, site, settings, engine, tls_files, client_tls):
    limit = 4000
    with running(settings.replace(max_message_bytes=limit), engine, tls_files) as listener:
        client = login(listener, site, client_tls)
        assert int(client.esmtp_features["size"]) == limit
        assert_refused(client.docmd("MAIL", f"FROM:<shop@example.com> SIZE={limit + 1}"),
                       552, "5.3.4", str(limit))
        assert client.docmd("RSET")[0] == 250
        big = rfc5322(body=(b"x" * 70 + b"\r\n") * 80)
        assert_refused(send(client, big), 552, "5.3.4", str(limit))
        queued_id(*send(client, rfc5322()))
        client.quit()
    assert counts(app) == (1, 1)


@sqlite_only
def test_too_many_recipients(app, site, settings, engine, tls_files, client_tls):
    with running(settings, engine, tls_files, smtp_max_recipients=3) as listener:
        client = login(listener, site, client_tls)
        assert client.mail("shop@example.com")[0] == 250
        for i in range(3):
            assert client.rcpt(f"r{i}@example.org")[0] == 250
        assert_refused(client.rcpt("r3@example.org"), 452, "4.5.3", "at most 3")
        code, text = client.data(rfc5322())
        msg_id = queued_id(code, text.decode())
        client.quit()
    assert len(site.get(f"/api/v1/messages/{msg_id}").json["recipients"]) == 3


@sqlite_only
def test_bad_recipient_address(site, listener, client_tls):
    client = login(listener, site, client_tls)
    assert client.mail("shop@example.com")[0] == 250
    assert_refused(client.docmd("RCPT", "TO:<victim@[127.0.0.1]>"), 553, "5.1.3", "not a valid")
    assert_refused(client.docmd("RCPT", 'TO:<"victim@example.net"@example.org>'), 553, "5.1.3")
    client.quit()


SMUGGLING = {
    "bare LF": (b"\n", "bare LF"),
    "bare CR": (b"\r", "bare CR"),
    "LF.CRLF": (b"\n.\r\n", "end-of-data"),
    "LF.LF": (b"\n.\n", "end-of-data"),
    "CR.CR": (b"\r.\r", "end-of-data"),
    "CRLF.LF": (b"\r\n.\n", "bare LF"),
}


def _smuggling_payload(sequence: bytes) -> bytes:
    return (rfc5322(subject="first", body=b"first") + sequence
            + b"MAIL FROM:<shop@example.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
            + b"From: shop@example.com\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")


@sqlite_only
@pytest.mark.parametrize("name", list(SMUGGLING))
def test_smuggling_sequences_are_refused(app, site, listener, client_tls, name):
    sequence, reason = SMUGGLING[name]
    raw = Raw(listener.port)
    raw.login(client_tls, site)
    assert raw.cmd(b"MAIL FROM:<shop@example.com>").startswith("250 ")
    assert raw.cmd(b"RCPT TO:<alice@example.org>").startswith("250 ")
    assert raw.cmd(b"DATA").startswith("354 ")
    raw.sock.sendall(_smuggling_payload(sequence))
    reply = raw.reply()
    assert len(reply) == 1 and reply[0].startswith("550 5.6.0 "), reply
    assert reason in reply[0]
    # Nothing after the fake end was taken for commands: the next answers are NOOP's and QUIT's.
    raw.sock.sendall(b"NOOP\r\nQUIT\r\n")
    assert raw.rest() == ["250 2.0.0 OK", "221 2.0.0 Bye"]
    raw.close()
    assert counts(app) == (0, 0)


@sqlite_only
def test_line_endings_normalised_when_configured(app, site, settings, engine, tls_files, client_tls):
    with running(settings, engine, tls_files, smtp_normalise_line_endings=True) as listener:
        raw = Raw(listener.port)
        raw.login(client_tls, site)
        raw.cmd(b"MAIL FROM:<shop@example.com>")
        raw.cmd(b"RCPT TO:<alice@example.org>")
        raw.cmd(b"DATA")
        raw.sock.sendall(_smuggling_payload(b"\n.\n"))
        [reply] = raw.reply()
        msg_id = queued_id(int(reply[:3]), reply[4:])
        raw.close()
    with app.extensions["wpbridge"].sessions() as s:
        stored = s.scalar(sa.select(Message.raw).where(Message.id == msg_id))
    assert line_ending_problem(stored) is None
    # The would-be second message is body text of the first, for its one recipient.
    assert b"RCPT TO:<victim@example.net>" in stored
    assert counts(app) == (1, 1)


@sqlite_only
def test_commands_pipelined_before_starttls_are_discarded(site, listener, client_tls):
    raw = Raw(listener.port)
    raw.sock.sendall(b"EHLO raw.example\r\nSTARTTLS\r\nNOOP\r\nRSET\r\nMAIL FROM:<shop@example.com>\r\n")
    assert raw.reply()[-1].startswith("250 ")
    assert raw.reply() == ["220 2.0.0 Ready to start TLS"]
    raw.starttls(client_tls)
    # Had the injected commands survived, their answers would come first.
    raw.sock.sendall(b"EHLO raw.example\r\n")
    ehlo = raw.reply()
    assert ehlo[0].startswith("250-") and ehlo[-1] == "250 HELP", ehlo
    raw.sock.sendall(b"NOOP\r\nQUIT\r\n")
    assert raw.rest() == ["250 2.0.0 OK", "221 2.0.0 Bye"]
    raw.close()


@sqlite_only
def test_every_refusal_has_an_enhanced_code(site, listener, client_tls):
    # aiosmtpd's own refusals too, reworded by the listener.
    raw = Raw(listener.port)
    replies = [raw.cmd(b"MAIL FROM:<shop@example.com>"), raw.cmd(b"FROBNICATE")]
    raw.login(client_tls, site)
    replies += [raw.cmd(line) for line in (
        b"DATA", b"RCPT TO:<alice@example.org>", b"MAIL FROM:<shop@example.com> FOO=BAR",
        b"MAIL FROM:<shop@example.com> SIZE=x", b"MAIL FROM:<shop@example.com>",
        b"MAIL FROM:<shop@example.com>", b"RCPT TO:<not an address>", b"EXPN staff",
        b"AUTH PLAIN AGEAYg==", b"STARTTLS now", b"RSET extra", b"QUIT now")]
    raw.close()
    assert len(replies) == 14
    for reply in replies:
        if reply.startswith("250 "):
            continue
        assert re.match(r"[45]\d\d [45]\.\d{1,3}\.\d{1,3} [A-Z]\w", reply), reply


@sqlite_only
def test_plain_auth_from_loopback_when_enabled(app, site, settings, engine, tls_files):
    with running(settings, engine, tls_files, smtp_allow_plain_loopback=True) as listener:
        client = connect(listener.port)
        client.ehlo()
        assert client.has_extn("auth")
        client.login(site.key_id, site.secret)
        queued_id(*send(client, rfc5322()))
        client.quit()
    assert counts(app) == (1, 1)


@sqlite_only
def test_trusted_loopback_site_submits_without_auth(app, settings, engine, tls_files):
    site = make_site(app, settings, from_policy="refuse")
    with running(settings, engine, tls_files, smtp_trusted_loopback_site=site.name) as listener:
        client = connect(listener.port)
        client.ehlo()
        queued_id(*send(client, rfc5322()))
        # Still only from the site's own domains.
        assert_refused(client.mail("shop@evil.example"), 550, "5.7.1", "evil.example")
        client.quit()
    assert counts(app) == (1, 1)


@pytest.mark.parametrize("peer,expected", [
    (("127.0.0.1", 1), True), (("127.8.9.10", 1), True), (("::1", 1, 0, 0), True),
    (("::ffff:127.0.0.1", 1, 0, 0), True), (("10.0.0.1", 1), False), (("192.168.1.2", 1), False),
    (("2001:db8::1", 1, 0, 0), False), (("::ffff:10.0.0.1", 1, 0, 0), False), (None, False),
])
def test_loopback_table(peer, expected):
    assert is_loopback(peer) is expected


@pytest.mark.parametrize("data,problem", [
    (b"a\r\nb\r\n", None),
    (b"a\r\n.\r\nb\r\n", None),  # an unstuffed "..": a dot line inside CRLF lines is fine
    (b"a\nb\r\n", "bare LF"),
    (b"a\rb\r\n", "bare CR"),
    (b"a\n.\nb\r\n", "end-of-data"),
    (b"a\n.\r\nb\r\n", "end-of-data"),
    (b"a\r.\rb\r\n", "end-of-data"),
])
def test_line_ending_table(data, problem):
    found = line_ending_problem(data)
    assert (found is None) if problem is None else (problem in found)

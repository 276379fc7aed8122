"""SMTP logins of their own per site (stored hashed), the brake on password guessing, and the
Received trace header, with smtplib over STARTTLS against the real listener on loopback."""

from __future__ import annotations

import json
import re
import smtplib

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import make_site
from tests.test_relay import drain, provider_settings
from tests.test_smtp import (ca, client_tls, connect, counts, queued_id, rfc5322,  # noqa: F401
                             running, send, sqlite_only, tls_files, assert_refused)
from wpbridge import sites
from wpbridge.cli import main
from wpbridge.models import Message
from wpbridge.sites import Directory, PasswordChecks, check_password, hash_password
from wpbridge.worker import Worker


@pytest.fixture
def cli(settings, monkeypatch):
    """``wpbridge ...`` on the tests' database, as an operator runs it."""
    monkeypatch.setenv("WPBRIDGE_DATA", str(settings.data_dir))
    monkeypatch.setenv("WPBRIDGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("WPBRIDGE_SECRET_KEY", settings.secret_key)
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output
    return run


def add_login(cli, site_name: str, *extra) -> tuple[str, str]:
    out = json.loads(cli("site", "smtp-credentials", "add", site_name, *extra, "--json"))
    return out["username"], out["password"]


def smtp_login(port: int, client_tls, username: str, password: str,
               source: str = "127.0.0.1") -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=30,
                          source_address=(source, 0))
    client.starttls(context=client_tls)
    client.login(username, password)
    return client


def auth_plain(client: smtplib.SMTP, username: str, password: str) -> tuple[int, bytes]:
    """One AUTH PLAIN command (smtplib's login() would try LOGIN as well after a failure)."""
    client.user, client.password = username, password
    try:
        return client.auth("PLAIN", client.auth_plain)
    except smtplib.SMTPAuthenticationError as exc:
        return exc.smtp_code, exc.smtp_error


@pytest.fixture
def two_sites(app, settings):
    return (make_site(app, settings),
            make_site(app, settings, name="other.example.net", domains=("example.net",)))


def test_cli_login_queues_for_its_site_only(app, settings, engine, tls_files, client_tls, cli, two_sites):
    shop, other = two_sites
    username, password = add_login(cli, shop.name)
    assert username.startswith("smtp_") and len(password) >= 32
    named, _ = add_login(cli, shop.name, "--username", "mailpoet@shop")
    assert named == "mailpoet@shop"
    assert "taken" in cli("site", "smtp-credentials", "add", other.name, "--username", named, ok=False)
    assert "wpb_" in cli("site", "smtp-credentials", "add", shop.name, "--username", "wpb_x", ok=False)
    listed = [json.loads(line) for line in
              cli("site", "smtp-credentials", "list", shop.name, "--json").splitlines()]
    assert sorted(r["username"] for r in listed) == sorted([username, named])
    assert password not in cli("site", "smtp-credentials", "list", shop.name)
    assert cli("site", "smtp-credentials", "list", other.name) == ""
    with app.extensions["wpbridge"].sessions() as s:
        stored = {c.username: c.password_hash for c in sites.smtp_credentials(s, shop.name)}
    assert password not in stored[username] and stored[username].startswith("scrypt$")

    with running(settings, engine, tls_files) as listener:
        client = smtp_login(listener.port, client_tls, username, password)
        msg_id = queued_id(*send(client, rfc5322()))
        client.quit()
    assert shop.get(f"/api/v1/messages/{msg_id}").status_code == 200
    assert other.get(f"/api/v1/messages/{msg_id}").status_code == 404

    assert "no SMTP user" in cli("site", "smtp-credentials", "remove", other.name, username, ok=False)
    cli("site", "smtp-credentials", "remove", shop.name, username)
    assert [json.loads(line)["username"] for line in
            cli("site", "smtp-credentials", "list", shop.name, "--json").splitlines()] == [named]


@sqlite_only
def test_wrong_password_or_user_is_refused(settings, engine, tls_files, client_tls, cli, two_sites):
    shop, _ = two_sites
    username, password = add_login(cli, shop.name)
    with running(settings, engine, tls_files) as listener:
        for user, pw in ((username, password + "x"), (username, ""), ("smtp_nobody", password),
                         (username.upper(), password)):
            client = connect(listener.port)
            client.starttls(context=client_tls)
            with pytest.raises(smtplib.SMTPAuthenticationError) as err:
                client.login(user, pw)
            assert_refused((err.value.smtp_code, err.value.smtp_error), 535, "5.7.8",
                           "smtp-credentials")
            with pytest.raises(smtplib.SMTPSenderRefused):
                client.sendmail("shop@example.com", ["alice@example.org"], rfc5322())
            client.quit()


@sqlite_only
def test_a_login_sends_only_from_its_own_sites_domains(app, settings, engine, tls_files, client_tls,
                                                      cli, two_sites):
    shop, other = two_sites
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        sites.set_senders(session, shop.name, "refuse")  # under rewrite: tests/test_from_policy.py
    username, password = add_login(cli, shop.name)
    with running(settings, engine, tls_files) as listener:
        client = smtp_login(listener.port, client_tls, username, password)
        assert_refused(client.mail("news@example.net"), 550, "5.7.1", "example.net", shop.name)
        assert client.rset()[0] == 250
        reply = send(client, rfc5322(sender="Other <news@example.net>"))
        assert_refused(reply, 550, "5.7.1", "example.net", shop.name)
        client.quit()
    assert counts(app) == (0, 0)


@sqlite_only
def test_repeated_failures_lock_out_that_address_only(app, settings, engine, tls_files, client_tls,
                                                      cli, two_sites):
    shop, _ = two_sites
    username, password = add_login(cli, shop.name)
    with running(settings, engine, tls_files, smtp_auth_max_failures=3) as listener:
        # Successes do not count towards the limit.
        for _ in range(5):
            smtp_login(listener.port, client_tls, username, password).quit()
        client = connect(listener.port)
        client.starttls(context=client_tls)
        client.ehlo()
        for _ in range(2):
            assert auth_plain(client, username, "guess")[0] == 535
        assert auth_plain(client, shop.key_id, "guess")[0] == 535  # key ids count too
        # The fourth try is refused before the password is looked at, even the right one.
        code, text = auth_plain(client, username, password)
        assert_refused((code, text), 421, "4.7.0", "Too many failed authentication attempts", "try again in")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
        client = connect(listener.port)
        client.starttls(context=client_tls)
        client.ehlo()
        assert auth_plain(client, shop.key_id, shop.secret)[0] == 421

        # Another client address is not affected.
        client = smtp_login(listener.port, client_tls, username, password, source="127.0.0.2")
        queued_id(*send(client, rfc5322()))
        client.quit()
    assert counts(app) == (1, 1)


@pytest.mark.parametrize("how", ["smtp login", "key id"])
def test_received_header_reaches_the_provider_without_the_login(
        app, settings, engine, tls_files, client_tls, cli, sink, how):
    shop = make_site(app, settings)
    username, password = add_login(cli, shop.name) if how == "smtp login" else (shop.key_id, shop.secret)
    worker = Worker(provider_settings(settings, f"smtp://127.0.0.1:{sink.port}"), engine, name="w")
    try:
        with running(settings, engine, tls_files, smtp_hostname="mx.bridge.example") as listener:
            client = smtp_login(listener.port, client_tls, username, password)
            one = queued_id(*send(client, rfc5322(subject="one")))
            two = queued_id(*send(client, rfc5322(subject="two"),
                                  rcpts=("alice@example.org", "bob@example.org")))
            client.quit()
        drain(worker, lambda: len(sink.received) == 2)
    finally:
        worker.close()
    by_subject = {r.message["Subject"]: r.data for r in sink.received}
    for subject, msg_id in (("one", one), ("two", two)):
        with app.extensions["wpbridge"].sessions() as s:
            stored = s.scalar(sa.select(Message.raw).where(Message.id == msg_id))
        assert stored.startswith(b"Received: from client.example "), stored[:200]
        head = by_subject[subject].partition(b"\r\n\r\n")[0] + b"\r\n"
        [received] = re.findall(rb"^Received: (.*?)\r\n(?![ \t])", head, re.MULTILINE | re.DOTALL)
        received = " ".join(received.decode().split())
        assert re.fullmatch(
            rf"from client\.example \(\[127\.0\.0\.1\]\) by mx\.bridge\.example \(wpbridge\) with "
            rf"ESMTPSA id {msg_id}(?: for <alice@example\.org>)?; \w{{3}}, \d\d \w{{3}} \d{{4}} "
            rf"\d\d:\d\d:\d\d \+0000", received), received
        # The recipient is named only when it is the message's one recipient.
        assert ("for <alice@example.org>" in received) == (subject == "one"), received
        for secret in (username, password, shop.key_id, shop.secret):
            assert secret.encode() not in by_subject[subject]


def test_removed_login_stops_working(app, settings, two_sites):
    shop, _ = two_sites
    sessions = app.extensions["wpbridge"].sessions
    directory = Directory(sessions, settings.secret_key, ttl=0)
    with sessions() as s, s.begin():
        cred, password = sites.add_smtp_credential(s, shop.name, "news@shop")
    site = directory.by_smtp_login("news@shop", password.encode())
    assert site is not None and site.name == shop.name and site.domains == {"example.com"}
    assert directory.by_smtp_login("news@shop", b"wrong") is None
    with sessions() as s, s.begin():
        sites.remove_smtp_credential(s, shop.name, "news@shop")
    # The earlier success is remembered, but no longer matches anything stored.
    assert directory.by_smtp_login("news@shop", password.encode()) is None
    with sessions() as s, s.begin():
        _, again = sites.add_smtp_credential(s, shop.name, "news@shop")
    assert directory.by_smtp_login("news@shop", password.encode()) is None
    assert directory.by_smtp_login("news@shop", again.encode()) is not None


def test_password_hashes():
    stored = hash_password("correct horse")
    assert stored != hash_password("correct horse")  # salted
    assert check_password(b"correct horse", stored)
    assert not check_password(b"correct hors", stored)
    checks = PasswordChecks()
    assert checks.check("u", b"correct horse", stored)
    assert checks.check("u", b"correct horse", stored)  # from memory
    assert not checks.check("u", b"Correct horse", stored)
    assert not checks.check("v", b"correct horse", hash_password("other"))

"""Property (issue 15): for any SMTP session built from random commands and data, the SMTP
submission listener (wpbridge/ingest/smtp.py) and the bounce listener
(wpbridge/events/inbound.py), each a real server on loopback, answer every command and
stay up. ``bench/fuzz.py`` runs the same for longer; here the example counts fit CI."""

from __future__ import annotations

import os
import smtplib
import socket
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from tests.conftest import make_site
from tests.smtp_sink import free_port
from tests.test_smtp import running, tls_files, ca  # noqa: F401 - fixtures
from wpbridge.app import create_app
from wpbridge.events import verp
from wpbridge.events.inbound import start_listener

BOUNCE_DOMAIN = "bounces.example.com"
EXAMPLES = int(os.environ.get("WPBRIDGE_PROPERTY_EXAMPLES", "60"))  # more for a long run
VERBS = ["HELO", "EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP", "VRFY", "EXPN", "HELP",
         "AUTH PLAIN", "AUTH LOGIN", "AUTH CRAM-MD5", "BDAT", "STARTTLS", "QUIT", "", "mail from:",
         "MAIL FROM: ", "RCPT TO: ", "XCLIENT", "ETRN"]
# Addresses that take the listeners further than noise: the bridge's own site, valid VERP
# addresses, and shapes receivers argue about.
ADDRESSES = ["<shop@example.com>", "<alice@example.org>", "<>", "<@relay.example:a@b.example>",
             "<\"quoted local\"@example.org>", "<jörg@example.com>", "<a%b@example.org>",
             "<alice@example.org> SIZE=100", "<shop@example.com> BODY=8BITMIME SMTPUTF8",
             "<" + verp.address("test-secret-key", 1, BOUNCE_DOMAIN) + ">",
             "<" + verp.address("test-secret-key", 2, BOUNCE_DOMAIN) + ">"]
_NO_EOL = st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_TEXT = st.text(max_size=80).map(lambda t: t.replace("\r", "").replace("\n", "").encode("utf-8", "surrogatepass"))
ARGS = st.one_of(st.sampled_from(ADDRESSES).map(str.encode), _NO_EOL, _TEXT,
                 st.integers(400, 1200).map(lambda n: b"x" * n), st.just(b""))
RANDOM = st.tuples(st.sampled_from(VERBS), ARGS).map(lambda c: [c])
# A plausible transaction with random parts, so sessions reach DATA and the handlers.
TRANSACTION = st.tuples(
    st.sampled_from(ADDRESSES[:3]).map(lambda a: ("MAIL FROM:", a.encode())),
    st.lists(st.sampled_from(ADDRESSES).map(lambda a: ("RCPT TO:", a.encode())), min_size=1, max_size=3),
    st.just(("DATA", b""))).map(lambda t: [t[0], *t[1], t[2]])
COMMANDS = st.tuples(st.sampled_from([[("EHLO", b"client.example")], [("HELO", b"client.example")], []]),
                     st.lists(st.one_of(RANDOM, TRANSACTION), min_size=1, max_size=8)) \
    .map(lambda t: t[0] + [c for group in t[1] for c in group])
HEADERS = [b"From: Shop <shop@example.com>", b"To: alice@example.org", b"Subject: hello",
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=B", b"--B",
           b"Final-Recipient: rfc822; alice@example.org", b"Status: 5.1.1", b"Action: failed", b"",
           b".", b"..", b"From: a@b, c@d", b"\x00\x0b\x1c"]
VALID = [b"From: Shop <shop@example.com>", b"To: alice@example.org", b"Subject: Spring sale", b"",
         b"Hello,", b"our spring sale starts today."]
BODY = st.one_of(st.lists(st.one_of(st.sampled_from(HEADERS), _NO_EOL, _TEXT), max_size=30),
                 st.lists(st.one_of(st.sampled_from(HEADERS), _NO_EOL, _TEXT), max_size=5).map(lambda x: VALID + x))


class Closed(Exception):
    """The server closed the connection."""


def _reply(f) -> int:
    """One whole reply (all its lines); its code."""
    while True:
        line = f.readline(4096)
        if not line:
            raise Closed
        assert len(line) >= 4 and line[:3].isdigit() and line[3:4] in (b" ", b"-", b"\r", b"\n"), line
        if line[3:4] != b"-":
            return int(line[:3])


def _session(port: int, commands, bodies) -> list[tuple[bytes, int]]:
    """Play one session; every line sent must get an answer. Returns what was answered."""
    answered = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        f = sock.makefile("rb")
        assert _reply(f) == 220
        bodies = iter(bodies)
        for verb, arg in commands:
            line = verb.encode() + ((b" " if verb and not verb.endswith(":") else b"") + arg if arg else b"")
            sock.sendall(line + b"\r\n")
            try:
                code = _reply(f)
            except Closed:
                raise AssertionError(f"no answer to {line[:200]!r} after {answered}") from None
            answered.append((line[:60], code))
            if code == 354:  # DATA: the body, dot-stuffed as a client does
                lines = next(bodies, [b"Subject: x", b"", b"hi"])
                sock.sendall(b"".join((b"." + x if x.startswith(b".") else x) + b"\r\n" for x in lines)
                             + b".\r\n")
                answered.append((b"<data>", _reply(f)))
            if code in (221, 421) or (verb == "STARTTLS" and code == 220):
                break  # the server ends the session, or wants a TLS handshake now
    return answered


def _stays_up(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.ehlo("probe.example")[0] == 250
        assert client.noop()[0] == 250


@contextmanager
def _bounce_listener(settings, engine):
    s = settings.replace(bounce_domains=(BOUNCE_DOMAIN,), bounce_parse_timeout=20)
    port = free_port()
    listener = start_listener(engine, s, "127.0.0.1", port)
    try:
        yield port
    finally:
        listener.stop()


@pytest.fixture
def submission_port(settings, engine, tls_files):  # noqa: F811
    app = create_app(settings, engine)
    site = make_site(app, settings)
    with running(settings, engine, tls_files, smtp_allow_plain_loopback=True,
                 smtp_trusted_loopback_site=site.name) as listener:
        yield listener.port


@pytest.fixture
def bounce_port(settings, engine):
    with _bounce_listener(settings, engine) as port:
        yield port


_PROPERTY = hsettings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@_PROPERTY
@given(commands=COMMANDS, bodies=st.lists(BODY, max_size=3))
def test_submission_listener_answers_every_command(submission_port, commands, bodies):
    _session(submission_port, commands, bodies)
    _stays_up(submission_port)


@_PROPERTY
@given(commands=COMMANDS, bodies=st.lists(BODY, max_size=3))
def test_bounce_listener_answers_every_command(bounce_port, commands, bodies):
    _session(bounce_port, commands, bodies)
    _stays_up(bounce_port)



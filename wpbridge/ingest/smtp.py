"""The SMTP door: submission for newsletter plugins (MailPoet, Mailster) and anything else
that only speaks SMTP. ``wpbridge smtpd`` runs it alone; ``wpbridge serve`` starts it too.

Two listeners on one event loop: STARTTLS (587 in production, 127.0.0.1:2587 by default)
and implicit TLS (465; 127.0.0.1:2465). A site logs in with AUTH PLAIN or LOGIN, only over
TLS: with its key id as user name and its secret as password, or with one of its separate SMTP
logins (``wpbridge site smtp-credentials add``). After the door, a message takes exactly the
path of the HTTP door (:func:`wpbridge.ingest.accept.accept`), with a ``Received:`` trace
header on top (RFC 5321 section 4.4; it names neither the login nor the site).

Replies (every refusal has an enhanced status code and says what to do):

:530 5.7.0: MAIL, RCPT or DATA without AUTH: nothing is relayed for anyone unauthenticated
:538 5.7.11: AUTH before TLS
:535 5.7.8: wrong key id or secret, or wrong SMTP user name or password
:421 4.7.0: AUTH from an address with ``smtp_auth_max_failures`` failed attempts in the last
    ``smtp_auth_failure_window`` seconds; the connection is closed
:550 5.7.1: envelope sender or From header not of the site's sending domains
:553 5.1.x: an address that is not one
:452 4.5.3: more recipients than ``smtp_max_recipients`` (the accepted ones still go)
:552 5.3.4: larger than ``max_message_bytes`` (advertised as SIZE)
:550 5.6.0: bare CR or LF in DATA, or an end-of-data other than CRLF.CRLF (SMTP smuggling),
    unless ``smtp_normalise_line_endings``; or a message without From or header separator
:450 4.7.1: the site's hourly or daily quota is used up
:451 4.3.0: storage failed; nothing was accepted
:250 2.0.0: only once the message is committed to the queue ("Queued as <id>")

Settings (see wpbridge/settings.py): ``smtp_host``, ``smtp_port``,
``smtp_tls_port``, ``smtp_hostname``, ``smtp_tls_cert``, ``smtp_tls_key``,
``smtp_max_recipients``, ``smtp_normalise_line_endings``, ``smtp_auth_max_failures``,
``smtp_auth_failure_window``, and two that are for tests and
benchmarks on one machine only: ``smtp_allow_plain_loopback`` (AUTH without TLS from
loopback) and ``smtp_trusted_loopback_site`` (loopback clients may submit without AUTH, as
this site).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import weakref
from base64 import b64decode
from binascii import Error as Base64Error
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Callable

import click
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, syntax
from sqlalchemy.exc import SQLAlchemyError

from wpbridge import db, settings as settings_mod, sites as sites_mod
from wpbridge.ingest.accept import GroupCommit, Item, QuotaExceeded, StorageError, prepare
from wpbridge.ingest.message import InvalidInput, check_address, from_raw, sender_syntax
from wpbridge.ingest.sender import envelope_refusal
from wpbridge.sites import Directory, SiteAuth

log = logging.getLogger(__name__)

# AUTH checks (a database lookup, maybe a scrypt hash) and the parsing of large messages
# that may run at the same time, off the event loop. Messages are committed by the
# Committer thread, not here.
AUTH_THREADS = 8
IN_THREAD_ABOVE = 256 * 1024  # messages larger than this are parsed off the event loop

AUTH_REQUIRED = ("530 5.7.0 Authentication required: log in with AUTH (user name: the site's "
                 "key id, password: its secret) after STARTTLS")
STORAGE_FAILED = ("451 4.3.0 Temporary storage failure: the message was not accepted; "
                  "try again later")
INTERNAL_ERROR = "451 4.3.0 Temporary server error: nothing was accepted; try again later"


def _peer_ip(peer) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(peer[0])
    except (TypeError, ValueError, IndexError):
        return None
    return getattr(ip, "ipv4_mapped", None) or ip


def is_loopback(peer) -> bool:
    """Whether an asyncio peer address (host, port, ...) is this machine's loopback."""
    ip = _peer_ip(peer)
    return ip is not None and ip.is_loopback


class AuthFailures:
    """Failed AUTH attempts per client address (an IPv6 client by its /64) in a sliding window.

    Kept in this process's memory, not in the database: a password-guessing flood must not
    turn into writes to the database every door shares, and each listener sees every attempt
    made on its own connections. With several listeners a client gets at most ``limit`` tries
    per window at each, still a bound; a restart forgets, which is fine for a brake on guessing
    (the log keeps the record). A success neither counts nor resets the count: a client with
    one site's login must not be able to go on guessing another's.
    """

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque] = {}

    @staticmethod
    def _client(peer) -> str:
        ip = _peer_ip(peer)
        if ip is None:
            return str(peer)
        if ip.version == 6:
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def retry_after(self, peer) -> int | None:
        """Seconds until ``peer`` may try again, or None when it may now."""
        times = self._failures.get(self._client(peer))
        if self.limit <= 0 or not times or len(times) < self.limit:
            return None
        wait = times[-self.limit] + self.window - time.monotonic()
        return max(1, int(wait) + 1) if wait > 0 else None

    def failed(self, peer) -> None:
        now = time.monotonic()
        if len(self._failures) > 100_000:  # forget the clients whose failures have all expired
            self._failures = {k: t for k, t in self._failures.items() if t[-1] > now - self.window}
        times = self._failures.setdefault(self._client(peer), deque(maxlen=max(self.limit, 1)))
        times.append(now)


_BARE_CR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_FAKE_END = re.compile(rb"(?:\r(?!\n)|(?<!\r)\n)\.(?:\r\n|\r|\n)")


def line_ending_problem(data: bytes) -> str | None:
    """What is wrong with the line endings of DATA as received, or None if all are CRLF.

    aiosmtpd ends DATA only at CRLF.CRLF but hands bare CR and LF to the handler: a server
    further down the line may read ``<LF>.<LF>`` as the end and a second message after it.
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\r") == crlf == data.count(b"\n"):  # the common case, without a regex
        return None
    if _FAKE_END.search(data):
        return ("it contains an end-of-data sequence other than <CR><LF>.<CR><LF> (such as "
                "<LF>.<LF>), which could smuggle a second message past other servers")
    which = "LF" if _BARE_CR_LF.search(data).group() == b"\n" else "CR"
    return f"it contains a bare {which}; every line must end with <CR><LF>"


def _invalid_reply(exc: InvalidInput) -> str:
    if exc.code == "too_large":
        code = "552 5.3.4"
    elif exc.code in ("sender_domain", "invalid_sender"):
        code = "550 5.7.1"
    else:
        code = "550 5.6.0"
    return f"{code} {exc.message}; {exc.fix}"


@functools.lru_cache(maxsize=1024)
def _checked_sender(address: str) -> tuple[str, str | None]:
    # A sender repeats on every message of a newsletter: validate it once.
    try:
        return check_address(address, "MAIL FROM"), None
    except InvalidInput as exc:
        return address, exc.message


def _sender_reply(site: SiteAuth, address: str) -> str | None:
    """MAIL FROM's refusal, or None. A site's own address must be valid; a foreign one is
    refused here only under from_policy refuse (under rewrite it is replaced after DATA, by
    the same check as the HTTP door's, ingest/sender.py)."""
    if not address:
        return (f"550 5.7.1 site {site.name}: the null sender <> is not accepted for submission; "
                f"send from an address of this site's sending domains ({', '.join(sorted(site.domains))})")
    if site.sender_allowed(address):
        address, problem = _checked_sender(address)
        return f"553 5.1.7 Bad sender address: {problem}" if problem else None
    try:
        sender_syntax(address, "MAIL FROM")
    except InvalidInput as exc:
        return f"553 5.1.7 Bad sender address: {exc.message}"
    refusal = envelope_refusal(site, address)
    return f"550 5.7.1 {refusal.message}; {refusal.fix}" if refusal else None


class Committer:
    """The thread that commits what the event loop hands over: the loop queues prepared
    messages (:meth:`GroupCommit.submit_nowait`) and awaits their futures; this thread leads
    group-commit rounds until nothing is pending. One thread hop per round, not per message."""

    def __init__(self, group: GroupCommit):
        self.group = group
        self.work = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="smtpd-commit", daemon=True)
        self.thread.start()

    def submit(self, site: SiteAuth, prepared: list):
        future = self.group.submit_nowait(site, prepared)
        self.work.set()
        return future

    def _run(self) -> None:
        while not self.stopping:
            self.work.wait()
            self.work.clear()
            try:
                self.group.commit_pending()
            except Exception:  # noqa: BLE001 - the futures carry the error; keep committing
                log.exception("smtpd: a commit round failed unexpectedly")

    def stop(self) -> None:
        self.stopping = True
        self.work.set()
        self.thread.join(5)


class SubmissionHandler:
    """aiosmtpd handler: authentication, relay policy, limits, and the commit before 250.

    Refusals are return values; the session's site is ``session.auth_data`` after AUTH.
    aiosmtpd offers every ``auth_*`` method of the handler as a mechanism: only PLAIN and
    LOGIN may be named so.
    """

    def __init__(self, settings, engine, directory: Directory, trusted_site: SiteAuth | None = None):
        self.settings, self.engine = settings, engine
        self.directory, self.trusted_site = directory, trusted_site
        self.max_recipients = int(settings.smtp_max_recipients)
        self.normalise = bool(settings.smtp_normalise_line_endings)
        self.plain_loopback = bool(settings.smtp_allow_plain_loopback)
        self.lockout = AuthFailures(int(settings.smtp_auth_max_failures),
                                    float(settings.smtp_auth_failure_window))
        self.hostname = _hostname(settings)
        self.executor = ThreadPoolExecutor(AUTH_THREADS, thread_name_prefix="smtpd-auth")
        self.committer = Committer(GroupCommit.of(engine, settings))
        self.committing = 0

    def site(self, session) -> SiteAuth | None:
        if session.authenticated:
            return session.auth_data
        if self.trusted_site is not None and is_loopback(session.peer):
            return self.trusted_site
        return None

    def may_authenticate(self, server, session) -> bool:
        return _tls_active(server) or (self.plain_loopback and is_loopback(session.peer))

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        lines = [r for r in responses[:-1]
                 if not r.startswith("250-AUTH") or self.may_authenticate(server, session)]
        return lines + ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250 HELP"]

    async def auth_PLAIN(self, server, args):
        if await self._locked_out(server):
            return AuthResult(success=False, handled=True)
        if not self.may_authenticate(server, server.session):
            return await _refuse_auth(server)
        if len(args) == 1:
            blob = await server.challenge_auth("")
            if blob is MISSING:  # challenge_auth has answered already
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = b64decode(args[1], validate=True)
            except (Base64Error, ValueError):
                return AuthResult(success=False, handled=False,
                                  message="501 5.5.2 Cannot decode the base64 credentials")
        parts = blob.split(b"\0")
        if len(parts) != 3 or (parts[0] and parts[0] != parts[1]):
            return AuthResult(success=False, handled=False, message=(
                "501 5.5.2 AUTH PLAIN expects \\0<key id>\\0<secret> (base64)"))
        return await self._check(server, parts[1], parts[2])

    async def auth_LOGIN(self, server, args):
        if await self._locked_out(server):
            return AuthResult(success=False, handled=True)
        if not self.may_authenticate(server, server.session):
            return await _refuse_auth(server)
        if len(args) == 1:
            login = await server.challenge_auth("Username:")
        else:
            try:
                login = b64decode(args[1], validate=True)
            except (Base64Error, ValueError):
                return AuthResult(success=False, handled=False,
                                  message="501 5.5.2 Cannot decode the base64 user name")
        if login is MISSING:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth("Password:")
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        return await self._check(server, login, password)

    async def _locked_out(self, server) -> bool:
        wait = self.lockout.retry_after(server.session.peer)
        if wait is None:
            return False
        await server.push(f"421 4.7.0 Too many failed authentication attempts from your address: "
                          f"try again in {wait} s, with the right user name and password")
        server.transport.close()
        return True

    async def _check(self, server, login: bytes, password: bytes) -> AuthResult:
        username = login.decode("utf-8", "replace")
        try:
            site = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._site_for_login, username, password)
        except SQLAlchemyError:
            log.exception("smtpd: cannot look up the SMTP user %.64r", username)
            return AuthResult(success=False, handled=False, message=(
                "454 4.7.0 Temporary authentication failure: the bridge cannot read its "
                "database; try again later"))
        if site is None:
            self.lockout.failed(server.session.peer)
            log.info("smtpd: failed AUTH for user %.64r from %s", username, server.session.peer)
            if self.lockout.retry_after(server.session.peer):
                log.warning("smtpd: %s has made too many failed AUTH attempts; refusing its "
                            "AUTH for a while", server.session.peer[0])
            return AuthResult(success=False, handled=False, message=(
                "535 5.7.8 Authentication credentials invalid: the user name is the site's key "
                "id and the password its secret ('wpbridge site list' shows the key ids), or an "
                "SMTP login made with 'wpbridge site smtp-credentials add'"))
        return AuthResult(success=True, auth_data=site)

    def _site_for_login(self, username: str, password: bytes) -> SiteAuth | None:
        if not username.startswith("wpb_"):  # key ids have it; SMTP user names may not
            return self.directory.by_smtp_login(username, password)
        site = self.directory.by_key_id(username)
        # Compare even for an unknown key id, so that the answer takes the same time.
        expected = site.secret.encode() if site else b"\0" * 43
        return site if hmac.compare_digest(expected, password) and site is not None else None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        site = self.site(session)
        if site is None:
            return AUTH_REQUIRED
        if address == "<>":  # how aiosmtpd hands over the null sender
            address = ""
        refusal = _sender_reply(site, address)
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.site(session) is None:
            return AUTH_REQUIRED
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return (f"452 4.5.3 Too many recipients: at most {self.max_recipients} per message; "
                    "send to the others in another message")
        try:
            address = check_address(address, "RCPT TO")
        except InvalidInput as exc:
            return f"553 5.1.3 Bad recipient address: {exc.message}"
        if address.lower() not in (a.lower() for a in envelope.rcpt_tos):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session, envelope):
        site = self.site(session)
        if site is None:
            return AUTH_REQUIRED
        problem = line_ending_problem(envelope.original_content)
        if problem and not self.normalise:
            return (f"550 5.6.0 Message refused: {problem}; send CRLF line endings (or ask the "
                    "bridge's operator to set smtp_normalise_line_endings)")
        self.committing += 1
        try:
            # Parsing and classifying happen here on the loop (about 0.1 ms for 5 kB; a large
            # message in a thread, not to hold up the other sessions); the commit happens in
            # the committer thread, one transaction for every message that arrived meanwhile.
            args = (site, envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                    {"source": "smtp", "smtp_helo": session.host_name}, self._trace(server, session))
            if len(envelope.original_content) > IN_THREAD_ABOVE:
                prepared = await asyncio.get_running_loop().run_in_executor(
                    self.executor, self._prepare, *args)
            else:
                prepared = self._prepare(*args)
            [done] = await asyncio.wrap_future(self.committer.submit(site, prepared))
        except InvalidInput as exc:
            return _invalid_reply(exc)
        except QuotaExceeded as exc:
            return (f"450 4.7.1 {exc}; try again in {exc.retry_after} s, or raise the quota with "
                    f"'wpbridge site quota {site.name}'")
        except StorageError as exc:
            log.error("smtpd: %s", exc)
            return STORAGE_FAILED
        finally:
            self.committing -= 1
        log.debug("smtpd: queued %s for site %s (%d recipients)", done.id, site.name, done.recipients)
        return f"250 2.0.0 Queued as {done.id}"

    def _prepare(self, site: SiteAuth, mail_from: str, rcpts: list[str], data: bytes,
                 context: dict, trace: str) -> list:
        sub = from_raw(mail_from, rcpts, data, self.settings.max_message_bytes, context)
        sub.raw = received_header(trace, sub.id, sub.recipients) + sub.raw
        return prepare(self.settings, site, [Item(sub)])

    def _trace(self, server, session) -> str:
        """The session's part of the Received header: from (HELO name, IP literal), by, with."""
        helo = session.host_name or ""
        if not _HELO.fullmatch(helo):
            helo = "unknown"
        ip = _peer_ip(session.peer)
        literal = "unknown" if ip is None else f"[IPv6:{ip}]" if ip.version == 6 else f"[{ip}]"
        if session.extended_smtp:  # RFC 3848: S for TLS, A for AUTH
            protocol = ("ESMTP" + ("S" if _tls_active(server) else "")
                        + ("A" if session.authenticated else ""))
        else:
            protocol = "SMTP"
        return f"from {helo} ({literal})\r\n\tby {self.hostname} (wpbridge) with {protocol}"

    async def handle_exception(self, error: Exception) -> str:
        log.exception("smtpd: unexpected error in an SMTP session", exc_info=error)
        return INTERNAL_ERROR


_HELO = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")


def received_header(trace: str, msg_id: str, rcpts: list[str]) -> bytes:
    """The ``Received:`` line for one accepted message (RFC 5321 section 4.4): the recipient
    only when there is one (more would tell each recipient who else got it), then the date."""
    one = f"\r\n\tfor <{rcpts[0]}>" if len(rcpts) == 1 and rcpts[0].isascii() else ""
    date = format_datetime(datetime.now(timezone.utc))
    return f"Received: {trace}\r\n\tid {msg_id}{one};\r\n\t{date}\r\n".encode("utf-8")


async def _refuse_auth(server) -> AuthResult:
    await server.push("538 5.7.11 Encryption required for requested authentication mechanism: "
                      "send STARTTLS first, or use the implicit-TLS port")
    return AuthResult(success=False, handled=True)


def _tls_active(server) -> bool:
    # Set both after STARTTLS and on the implicit-TLS listener (aiosmtpd counts only STARTTLS).
    return server.transport is not None and server.transport.get_extra_info("ssl_object") is not None


_REPLY = re.compile(r"^([245]\d\d)([ -])(.*)$", re.DOTALL)
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}(?: |$)")
_ENHANCED_FOR = {"500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4",
                 "530": "5.7.0", "552": "5.3.4", "553": "5.1.3", "554": "5.7.0", "555": "5.5.4",
                 "454": "4.7.0", "421": "4.3.0"}


class _SMTPServer(SMTP):
    """aiosmtpd's protocol with the bridge's reply rules: every reply but the greeting and
    the HELO/EHLO lines carries an enhanced status code (RFC 2034), aiosmtpd's terse
    replies are reworded to say what to do, and a reply is always one line."""

    _raw_replies = False

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str):
        self._raw_replies = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._raw_replies = False

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str):
        self._raw_replies = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._raw_replies = False

    async def push(self, status):
        if isinstance(status, str):
            status = self._house_reply(status).encode("utf-8", "replace")
        await super().push(status)

    def _house_reply(self, status: str) -> str:
        status = status.replace("\r", " ").replace("\n", " ")[:510]
        m = _REPLY.match(status)
        if self._raw_replies or not m:
            return status
        code, sep, text = m.groups()
        if _ENHANCED.match(text) or (code == "220" and text != "Ready to start TLS"):
            return status
        if code == "552":
            text = (f"Message too big: the limit is {self.data_size_limit} bytes (see SIZE in the "
                    "EHLO reply); send smaller attachments")
        elif text.startswith("Line too long"):
            text = ("Line too long: a line of the message is longer than 998 characters; encode "
                    "the body with quoted-printable or base64")
        text = text.removeprefix("Error: ")
        return f"{code}{sep}{_ENHANCED_FOR.get(code, code[0] + '.0.0')} {text[:1].upper()}{text[1:]}"


class _QuietDeprecation(logging.Filter):
    # aiosmtpd 1.4 logs this at WARNING on every successful AUTH, from its own code.
    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietDeprecation())


def tls_context(settings) -> tuple[ssl.SSLContext, Path]:
    """The listeners' TLS context and the certificate it uses.

    With neither ``smtp_tls_cert`` nor ``smtp_tls_key`` set, a self-signed pair is made once in
    the data directory, with a warning: clients must then trust it explicitly.
    """
    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    if bool(cert) != bool(key):
        raise settings_mod.SettingsError(
            "smtp_tls_cert and smtp_tls_key go together: set both (PEM files), or neither for a "
            "generated self-signed certificate")
    if cert:
        cert, key = Path(cert), Path(key)
    else:
        cert, key = settings.data_dir / "smtpd-cert.pem", settings.data_dir / "smtpd-key.pem"
        if not (cert.exists() and key.exists()):
            _self_signed(cert, key, _hostname(settings))
        log.warning("smtpd: no smtp_tls_cert/smtp_tls_key configured: using the self-signed "
                    "certificate %s; mail clients must be told to trust it. Set "
                    "WPBRIDGE_SMTP_TLS_CERT and WPBRIDGE_SMTP_TLS_KEY for a real one.", cert)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise settings_mod.SettingsError(
            f"smtp_tls_cert/smtp_tls_key: cannot load {cert} with {key} ({exc}); give a PEM "
            "certificate chain and its private key") from None
    return context, cert


def _hostname(settings) -> str:
    return settings.smtp_hostname or socket.gethostname() or "localhost"


def _self_signed(cert_path: Path, key_path: Path, hostname: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64])])
    now = datetime.now(timezone.utc)
    names = [x509.DNSName(n) for n in dict.fromkeys([hostname, "localhost"])]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            # Its own trust anchor: clients can load it as the CA file.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    for path, data, mode in (
            (key_path, key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()), 0o600),
            (cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)):
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)


class Listener:
    """The STARTTLS and implicit-TLS listeners on one event loop.

    ``start()``/``stop()`` (or ``with``) run it in a thread, for tests and benchmarks;
    ``run()`` runs it in this thread until SIGTERM or SIGINT (``wpbridge smtpd``). A port of 0
    picks a free one; ``port`` and ``tls_port`` tell which after the start.

    :raise SettingsError: unusable TLS files, or an unknown ``smtp_trusted_loopback_site``.
    """

    def __init__(self, settings, engine=None, *, starttls: tuple[str, int] | None = None,
                 implicit_tls: tuple[str, int] | None = None, reuse_port: bool = False):
        self.settings = settings
        self.reuse_port = reuse_port
        self.engine = engine or db.make_engine(settings)
        self.sessions = db.make_sessionmaker(self.engine)
        host = settings.smtp_host
        self.starttls = starttls or (host, int(settings.smtp_port))
        self.implicit_tls = implicit_tls or (host, int(settings.smtp_tls_port))
        self.hostname = _hostname(settings)
        self.tls, self.cert_path = tls_context(settings)
        directory = Directory(self.sessions, settings.secret_key)
        self.handler = SubmissionHandler(settings, self.engine, directory,
                                         self._trusted_site(directory))
        if self.handler.plain_loopback:
            log.warning("smtpd: smtp_allow_plain_loopback is on: AUTH without TLS from loopback "
                        "(a test setting; turn it off in production)")
        self.port = self.tls_port = 0
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: weakref.WeakSet = weakref.WeakSet()
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _trusted_site(self, directory: Directory) -> SiteAuth | None:
        name = self.settings.smtp_trusted_loopback_site
        if not name:
            return None
        with self.sessions() as session:
            try:
                key_id = sites_mod.get(session, name).key_id
            except sites_mod.SiteError as exc:
                raise settings_mod.SettingsError(f"smtp_trusted_loopback_site: {exc}") from None
        log.warning("smtpd: smtp_trusted_loopback_site is set: loopback clients submit WITHOUT "
                    "AUTH as site %s (for benchmarks and tests only; never in production)", name)
        return directory.by_key_id(key_id)

    def _factory(self, implicit: bool):
        def make() -> SMTP:
            server = _SMTPServer(
                self.handler, hostname=self.hostname, ident="wpbridge ESMTP",
                tls_context=None if implicit else self.tls,
                data_size_limit=self.settings.max_message_bytes, enable_SMTPUTF8=True,
                # AUTH and relay rules are the handler's: it knows the implicit-TLS socket is
                # encrypted (aiosmtpd does not) and may let a test site in on loopback.
                auth_required=False, auth_require_tls=False, loop=self._loop)
            self._connections.add(server)
            return server
        return make

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        for (host, port), implicit in ((self.starttls, False), (self.implicit_tls, True)):
            server = await self._loop.create_server(self._factory(implicit), host, port,
                                                    ssl=self.tls if implicit else None,
                                                    reuse_port=self.reuse_port or None)
            self._servers.append(server)
            bound = server.sockets[0].getsockname()[1]
            if implicit:
                self.tls_port = bound
            else:
                self.port = bound

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        # Answer what is being committed, then end the sessions still open.
        deadline = self._loop.time() + float(self.settings.smtp_timeout)
        while self.handler.committing and self._loop.time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # time for their replies to go out
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.close()
        await asyncio.sleep(0)
        self.handler.executor.shutdown(wait=False)
        self.handler.committer.stop()

    async def _main(self, ready: Callable[[], None], signals: bool) -> None:
        try:
            await self._open()
            if signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self._loop.add_signal_handler(sig, self._stopping.set)
            ready()
            await self._stopping.wait()
        finally:
            await self._close()

    def run(self, ready: Callable[[], None] = lambda: None) -> None:
        """Serve in this thread until SIGTERM or SIGINT; ``ready`` is called once bound."""
        asyncio.run(self._main(ready, signals=True))

    def start(self) -> "Listener":
        started = threading.Event()
        failure: list[BaseException] = []

        def target():
            try:
                asyncio.run(self._main(started.set, signals=False))
            except BaseException as exc:  # noqa: BLE001 - handed to start()'s caller
                failure.append(exc)
                started.set()

        self._thread = threading.Thread(target=target, name="smtpd", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "Listener":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _bind(value: str | None, default: tuple[str, int]) -> tuple[str, int]:
    if not value:
        return default
    host, _, port = value.rpartition(":")
    try:
        return host or default[0], int(port)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:2587") from None


def run_processes(count: int, build: Callable[[], Listener]) -> int:
    """Run ``count`` listener processes on the same ports (SO_REUSEPORT: the kernel spreads
    new connections over them). One Python process uses one core; this is how one host's
    listener uses all of its cores, as Postfix runs many smtpd processes. Each process opens
    its own database connections after the fork. SIGTERM/SIGINT go to every process; each
    finishes the messages it is committing. Returns the worst exit status."""
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the child: its own listener, engine and event loop
            status = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                build().run()
                status = 0
            except BaseException:  # noqa: BLE001 - reported, then the child exits
                log.exception("smtpd: a listener process failed")
            finally:
                logging.shutdown()
                os._exit(status)
        children.append(pid)

    def forward(signum, _frame):
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status) & 0xFF)
    return worst


@click.command("smtpd")
@click.option("--listen", metavar="HOST:PORT",
              help="STARTTLS submission (default 127.0.0.1:2587; 587 in production).")
@click.option("--tls-listen", metavar="HOST:PORT",
              help="Implicit-TLS submission (default 127.0.0.1:2465; 465 in production).")
@click.option("--processes", type=int, metavar="N",
              help="Listener processes sharing the ports (default: smtp_processes, 1).")
def smtpd_command(listen: str | None, tls_listen: str | None, processes: int | None) -> None:
    """Run only the SMTP submission listener; many may run against one PostgreSQL.

    Sites log in with AUTH PLAIN or LOGIN after TLS: user name = the site's key id,
    password = its secret (or a login from 'wpbridge site smtp-credentials add').
    """
    try:
        settings = settings_mod.ensure_secret_key(settings_mod.load())
        host = settings.smtp_host
        starttls = _bind(listen, (host, int(settings.smtp_port)))
        implicit = _bind(tls_listen, (host, int(settings.smtp_tls_port)))
        count = processes if processes is not None else int(settings.smtp_processes)
        if count < 1:
            raise settings_mod.SettingsError(f"--processes / smtp_processes must be at least 1, not {count}")
        if count > 1 and 0 in (starttls[1], implicit[1]):
            raise settings_mod.SettingsError("several listener processes need fixed ports, not 0")
        _, cert_path = tls_context(settings)  # a generated certificate exists before any fork
    except settings_mod.SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # aiosmtpd logs every command line at INFO.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    built: list[Listener] = []

    def ready():
        port, tls_port = (built[0].port, built[0].tls_port) if built else (starttls[1], implicit[1])
        click.echo(f"SMTP submission listening: STARTTLS on {starttls[0]}:{port}, implicit "
                   f"TLS on {implicit[0]}:{tls_port} (certificate {cert_path}; {count} process"
                   f"{'es' if count > 1 else ''}). Ctrl-C stops it.", err=True)

    def build() -> Listener:
        built.append(Listener(settings, starttls=starttls, implicit_tls=implicit,
                              reuse_port=count > 1))
        return built[-1]

    try:
        if count == 1:
            build().run(ready)
        else:
            ready()
            sys.exit(run_processes(count, build))
    except settings_mod.SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}; is another smtpd running, or the port "
                                   "taken? (--listen / --tls-listen choose others)") from None


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    smtpd_command()

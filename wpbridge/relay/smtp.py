"""SMTP relay: STARTTLS or implicit TLS, AUTH, connections reused across messages.

Certificates are verified by default (``tls_verify``; ``ca_file`` adds a private CA). Each
recipient's RCPT reply is kept, so one refused address does not fail the others.

Timeouts, as Postfix's smtp client has them: ``smtp_connect_timeout`` for the TCP connect,
``smtp_timeout`` for each command's reply (greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA),
``smtp_data_done_timeout`` for sending the content and the reply after the final dot, and
``smtp_transaction_timeout`` for the whole transaction (connect included). A socket timeout
bounds one read only, so a provider that trickles one byte a second never trips it: a
watchdog thread shuts the socket of a transaction past its deadline, which wakes the
blocked read, and the transaction ends as a temporary failure that says so.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import select
import smtplib
import socket
import ssl
import threading
import time
import weakref

from wpbridge.relay import INTERRUPTED, PERMANENT, SHUTDOWN, TEMPORARY, Delivery, Reply
from wpbridge.relay.providers import ProviderConfig

# A connection is closed and opened anew after this many messages (providers cap it).
MESSAGES_PER_CONNECTION = 500


def tls_context(settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _Cut(Exception):
    """The transaction was cut off (deadline or shutdown); ``SMTPRelay.cut`` says why."""


class _Client(smtplib.SMTP):
    opener = None  # SMTPRelay._open: a connect that the watchdog and a shutdown can stop

    def _get_socket(self, host, port, timeout):
        return self.opener(host, port)


class _ClientSSL(smtplib.SMTP_SSL, _Client):
    adopt = None  # TLS wraps the socket into a new object: the relay must shut that one

    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        self.adopt(sock)
        return sock


class SMTPRelay:
    def __init__(self, provider: ProviderConfig, settings):
        self.provider = provider
        self.connect_timeout = settings.smtp_connect_timeout
        self.command_timeout = settings.smtp_timeout
        self.data_done_timeout = settings.smtp_data_done_timeout
        self.transaction_timeout = settings.smtp_transaction_timeout
        self.context = tls_context(settings) if provider.tls != "none" else None
        self.conn: smtplib.SMTP | None = None
        self.sent_on_conn = 0
        self.sock: socket.socket | None = None
        self.deadline: float | None = None  # time.monotonic(); None between transactions
        self.phase = "connect"
        self.cut: Reply | None = None
        _watch(self)

    # -- deadline ------------------------------------------------------------------------

    def _expired(self) -> None:
        """Called by the watchdog past the deadline."""
        self._cut_off(Reply(TEMPORARY, None, f"provider {self.provider.name} did not finish the "
                            f"transaction within {self.transaction_timeout:g} s (cut off waiting "
                            f"for the reply to {self.phase})", self.phase))

    def abort(self) -> None:
        """Cut off the transaction in flight, if any, from another thread (worker shutdown)."""
        self._cut_off(Reply(TEMPORARY, None, INTERRUPTED, SHUTDOWN))

    def _cut_off(self, reply: Reply) -> None:
        if self.deadline is None or self.cut is not None:
            return
        self.cut = reply
        sock = self.sock
        if sock is not None:
            try:  # the plain socket's shutdown: it wakes a read blocked in another thread
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def _timeout(self, phase: str, limit: float) -> None:
        """Enter a phase: its socket timeout is its own limit or what is left of the deadline."""
        self.phase = phase
        left = self.deadline - time.monotonic()
        if self.cut is not None or left <= 0:
            raise _Cut()
        if self.conn is not None and self.conn.sock is not None:
            self.conn.sock.settimeout(min(limit, left))

    def _open(self, host: str, port: int) -> socket.socket:
        """TCP connect in short waits, so the deadline and a shutdown can stop it too."""
        error: OSError = OSError(f"{host} has no address")
        for family, kind, proto, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                rc = sock.connect_ex(address)
                ends = time.monotonic() + min(self.connect_timeout, self.deadline - time.monotonic())
                while rc in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
                    left = ends - time.monotonic()
                    if self.cut is not None:
                        raise _Cut()
                    if left <= 0:
                        raise TimeoutError(f"no connection to {host}:{port} within "
                                           f"{self.connect_timeout:g} s")
                    if select.select([], [sock], [], min(0.2, left))[1]:
                        rc = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if rc:
                    raise OSError(rc, os.strerror(rc))
                sock.setblocking(True)
                sock.settimeout(self.command_timeout)
                self.sock, self.phase = sock, "greeting"
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    # -- connection ----------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        p = self.provider
        self.phase = "connect"
        if p.tls == "implicit":
            conn = _ClientSSL(local_hostname=p.helo, timeout=self.command_timeout, context=self.context)
        else:
            conn = _Client(local_hostname=p.helo, timeout=self.command_timeout)
        conn.opener = self._open
        conn._host = p.host  # what STARTTLS and implicit TLS check the certificate against
        conn.adopt = lambda sock: setattr(self, "sock", sock)
        try:
            self.conn = conn  # _timeout() sets its socket's timeout
            code, msg = conn.connect(p.host, p.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, msg)
            self._timeout("EHLO", self.command_timeout)
            conn.ehlo()
            if p.tls == "starttls":
                self._timeout("STARTTLS", self.command_timeout)
                conn.starttls(context=self.context)
                self.sock = conn.sock
                self._timeout("EHLO", self.command_timeout)
                conn.ehlo()
            if p.username:
                self._timeout("AUTH", self.command_timeout)
                conn.login(p.username, p.password or "")
        except BaseException:
            self.conn = None
            conn.close()
            raise
        self.sock = conn.sock
        self.sent_on_conn = 0
        return conn

    def close(self) -> None:
        if self.conn is not None:
            own = self.deadline is None  # between transactions: QUIT gets a deadline of its own
            if own:
                self.deadline = time.monotonic() + self.command_timeout
            try:
                self._timeout("QUIT", self.command_timeout)
                self.conn.quit()
            except (smtplib.SMTPException, OSError, _Cut):
                self.conn.close()
            finally:
                if own:
                    self.deadline = None
            self.conn = None
        self.sock = None

    def probe(self) -> Reply | None:
        """Connect, EHLO, STARTTLS, AUTH and QUIT, carrying no message: None when the provider
        took all of it, else the temporary failure it gave."""
        self.close()
        replies = self._run(None)
        self.close()
        return replies

    def send(self, delivery: Delivery) -> dict[int, Reply]:
        """Send one transaction; a reused connection that turns out dead is replaced once."""
        return self._run(delivery)

    def _run(self, delivery: Delivery | None):
        self.cut = None
        self.deadline = time.monotonic() + self.transaction_timeout
        try:
            return self._send(delivery)
        finally:
            self.deadline = None
            if self.cut is not None and self.conn is not None:
                self.conn.close()  # cut off: the connection is in an unknown state
                self.conn, self.sock = None, None

    def _send(self, delivery: Delivery | None):
        if self.conn is not None and self.sent_on_conn >= MESSAGES_PER_CONNECTION:
            self.close()
        reused = self.conn is not None
        if not reused:
            try:
                self.conn = self._connect()
            except smtplib.SMTPResponseException as exc:
                # Refused greeting, STARTTLS or login: the bridge's or the provider's
                # trouble, not the recipient's. Retry later, keep the provider's words.
                text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
                    else str(exc.smtp_error)
                return self._all(delivery, Reply(TEMPORARY, exc.smtp_code,
                                                  f"{exc.smtp_code} {text} (while connecting to "
                                                  f"{self.provider.host})", "connect"))
            except (smtplib.SMTPException, OSError, _Cut) as exc:
                return self._all(delivery, self._failure(exc))
        if delivery is None:
            return None
        try:
            return self._transaction(self.conn, delivery)
        except smtplib.SMTPServerDisconnected as exc:
            self.conn = None
            if reused and self.cut is None and not getattr(exc, "after_data", False):
                return self._send(delivery)  # the provider had closed an idle connection
            return self._all(delivery, self._failure(exc))
        except smtplib.SMTPResponseException as exc:
            self.close()
            return self._all(delivery, Reply.from_smtp(exc.smtp_code, exc.smtp_error, self.phase))
        except (smtplib.SMTPException, OSError, _Cut) as exc:
            self.close()
            return self._all(delivery, self._failure(exc))

    def _failure(self, exc: BaseException) -> Reply:
        if self.cut is not None:
            return self.cut
        if isinstance(exc, TimeoutError) and self.phase != "connect":
            return Reply(TEMPORARY, None, f"provider {self.provider.name} did not answer {self.phase} "
                         "in time (smtp_timeout / smtp_data_done_timeout)", self.phase)
        return Reply.network(exc)

    def _without_smtputf8(self, delivery: Delivery) -> dict[int, Reply]:
        """The recipients that cannot go to a server without SMTPUTF8, each with the reason."""
        if not delivery.mail_from.isascii():
            reply = _smtputf8_refusal(delivery.mail_from, self.provider.host)
            return {rid: reply for rid, _ in delivery.recipients}
        return {rid: _smtputf8_refusal(a, self.provider.host)
                for rid, a in delivery.recipients if not a.isascii()}

    @staticmethod
    def _all(delivery: Delivery | None, reply: Reply):
        if delivery is None:
            return reply
        return {rid: reply for rid, _ in delivery.recipients}

    def _transaction(self, conn: smtplib.SMTP, delivery: Delivery) -> dict[int, Reply]:
        options = []
        if _needs_smtputf8(delivery):
            if conn.has_extn("smtputf8"):
                options.append("SMTPUTF8")
            else:  # RFC 6531: such an address cannot be sent without it; never a crash
                refused = self._without_smtputf8(delivery)
                if len(refused) == len(delivery.recipients) or not delivery.mail_from.isascii():
                    return self._all(delivery, next(iter(refused.values())))
                rest = tuple((rid, a) for rid, a in delivery.recipients if rid not in refused)
                return {**refused,
                        **self._transaction(conn, dataclasses.replace(delivery, recipients=rest))}
        if conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        self._timeout("MAIL FROM", self.command_timeout)
        code, text = conn.mail(delivery.mail_from, options)
        if code != 250:
            conn.rset()
            return self._all(delivery, Reply.from_smtp(code, text, "MAIL FROM"))
        replies: dict[int, Reply] = {}
        accepted = []
        for rid, address in delivery.recipients:
            self._timeout("RCPT TO", self.command_timeout)
            code, text = conn.rcpt(address)
            if code in (250, 251):
                accepted.append(rid)
            else:
                replies[rid] = Reply.from_smtp(code, text, "RCPT TO")
        if not accepted:
            self._timeout("RSET", self.command_timeout)
            conn.rset()
            return replies
        self._timeout("DATA", self.command_timeout)
        code, text = conn.docmd("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, text)
        content = smtplib._quote_periods(delivery.raw)  # smtplib.SMTP.data, with its own timeout
        if content[-2:] != b"\r\n":
            content += b"\r\n"
        self._timeout("end of DATA", self.data_done_timeout)
        try:
            conn.send(content + b".\r\n")
            code, text = conn.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            exc.after_data = True  # the provider may have taken it: no silent resend here
            raise
        self.sent_on_conn += 1
        reply = Reply.from_smtp(code, text, "DATA")
        for rid in accepted:
            replies[rid] = reply
        return replies


def _smtputf8_refusal(address: str, host: str) -> Reply:
    return Reply(PERMANENT, None, f"{host} does not offer SMTPUTF8, which an internationalised "
                 f"address such as {address} needs (RFC 6531); send through a provider that "
                 "offers it, or use an ASCII address", "MAIL FROM")


def _needs_smtputf8(delivery: Delivery) -> bool:
    return not delivery.mail_from.isascii() or any(not a.isascii() for _, a in delivery.recipients)


_RELAYS: "weakref.WeakSet[SMTPRelay]" = weakref.WeakSet()
_RELAYS_LOCK = threading.Lock()
_WATCHDOG: list[threading.Thread] = []


def _watch(relay: SMTPRelay) -> None:
    with _RELAYS_LOCK:
        _RELAYS.add(relay)
        if not _WATCHDOG or not _WATCHDOG[0].is_alive():
            _WATCHDOG[:] = [threading.Thread(target=_watchdog, name="smtp-deadlines", daemon=True)]
            _WATCHDOG[0].start()


def _watchdog() -> None:
    """Every 0.2 s: cut off the transactions past their deadline (one thread for every relay,
    instead of a timer per transaction)."""
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        with _RELAYS_LOCK:
            relays = list(_RELAYS)
        for relay in relays:
            deadline = relay.deadline
            if deadline is not None and now > deadline:
                relay._expired()

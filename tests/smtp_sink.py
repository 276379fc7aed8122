"""A real SMTP server on loopback (aiosmtpd) that plays the provider in tests.

It records every transaction it accepts, and its answers can be scripted per recipient
and per try, so tests can make a provider say 421, 550 or 250.
"""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self):
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    # address -> list of replies used one per RCPT try (then "250 OK")
    rcpt_script: dict[str, list[str]] = field(default_factory=dict)
    data_script: list[str] = field(default_factory=list)
    data_delay: float = 0.0
    rcpt_tries: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_data: Callable[[Received], None] | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_tries[address] += 1
            script = self.rcpt_script.get(address)
            reply = script.pop(0) if script else None
        if reply and not reply.startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            import asyncio

            await asyncio.sleep(self.data_delay)
        with self.lock:
            reply = self.data_script.pop(0) if self.data_script else "250 2.0.0 queued"
            if reply.startswith("250"):
                item = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
                self.received.append(item)
                if self.on_data:
                    self.on_data(item)
        return reply


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """``with Sink() as sink: ... sink.port, sink.handler.received``"""

    def __init__(self, tls_context: ssl.SSLContext | None = None, auth: tuple[str, str] | None = None,
                 smtputf8: bool = False):
        self.handler = Handler()
        kwargs = {"enable_SMTPUTF8": smtputf8}
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if auth is not None:
            def _auth(server, session, envelope, mechanism, data):
                ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == auth
                return AuthResult(success=ok)
            kwargs.update(authenticator=_auth, auth_required=True, auth_require_tls=True)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     server_hostname="localhost", **kwargs)

    def __enter__(self) -> "Sink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

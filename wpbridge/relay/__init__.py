"""relay: hand one message to a provider and sort every recipient's reply where it arrives.

Each provider kind is a small class with ``send(delivery) -> {recipient id: Reply}`` and
``close()``; :func:`open_relay` picks the class from the provider's configuration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Protocol

DELIVERED, TEMPORARY, PERMANENT = "delivered", "temporary", "permanent"
INTERRUPTED = "interrupted at shutdown; may have been delivered"
SHUTDOWN = "shutdown"  # the Reply.command of a transaction cut off by the worker's shutdown


@dataclass(frozen=True)
class Delivery:
    """One SMTP transaction: a message and the recipients it goes to through one provider."""

    message_id: str
    mail_from: str
    raw: bytes
    recipients: tuple[tuple[int, str], ...]  # (recipient row id, address)
    # Signs ``raw`` when called (wpbridge.auth.dkim.Signer.sign_later): the relay thread does
    # the private-key work, off the worker's main thread. None: ``raw`` is final.
    sign: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)

    def signed(self) -> "Delivery":
        return self if self.sign is None else dataclasses.replace(self, raw=self.sign(), sign=None)


@dataclass(frozen=True)
class Reply:
    outcome: str  # DELIVERED, TEMPORARY or PERMANENT
    code: int | None  # the SMTP reply code; None for network faults
    text: str
    # The SMTP command answered ("connect", "MAIL FROM", "RCPT TO", "DATA"): an "unknown
    # user" at RCPT is about the recipient, after DATA it is the recipient's filter.
    command: str | None = None

    @classmethod
    def from_smtp(cls, code: int, text: bytes | str, command: str | None = None) -> "Reply":
        """2xx delivered; 4xx temporary; 5xx (and anything odd) permanent."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = f"{code} {text}".strip()
        if 200 <= code < 300:
            return cls(DELIVERED, code, text, command)
        if 400 <= code < 500:
            return cls(TEMPORARY, code, text, command)
        return cls(PERMANENT, code, text, command)

    @classmethod
    def network(cls, exc: BaseException) -> "Reply":
        return cls(TEMPORARY, None, f"{type(exc).__name__}: {exc}"[:500])


class Relay(Protocol):
    def send(self, delivery: Delivery) -> dict[int, Reply]: ...

    def close(self) -> None: ...


def open_relay(provider, settings) -> Relay:
    if provider.kind == "outbox":
        from wpbridge.relay.outbox import OutboxRelay

        return OutboxRelay(settings.outbox_dir)
    from wpbridge.relay.smtp import SMTPRelay

    return SMTPRelay(provider, settings)

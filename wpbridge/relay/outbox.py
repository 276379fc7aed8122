"""The local capture outbox: with no provider configured, mail is "delivered" into a Maildir
under ``<data>/outbox`` so the embedded default works without sending anything anywhere.
"""

from __future__ import annotations

import mailbox
from pathlib import Path

from wpbridge.relay import DELIVERED, Delivery, Reply


class OutboxRelay:
    def __init__(self, directory: Path):
        self.maildir = mailbox.Maildir(directory, create=True)

    def send(self, delivery: Delivery) -> dict[int, Reply]:
        envelope = (f"Return-Path: <{delivery.mail_from}>\r\n"
                    + "".join(f"X-WPBridge-Rcpt-To: <{a}>\r\n" for _, a in delivery.recipients)
                    + f"X-WPBridge-Message-Id: {delivery.message_id}\r\n").encode()
        key = self.maildir.add(envelope + delivery.raw)
        reply = Reply(DELIVERED, 250, f"250 captured in the local outbox as {key}")
        return {rid: reply for rid, _ in delivery.recipients}

    def probe(self) -> None:
        return None  # a directory is always up

    def abort(self) -> None:
        pass  # a Maildir write is not cut off

    def close(self) -> None:
        pass


def listing(directory: Path) -> list[dict]:
    """What the outbox holds, newest first (``wpbridge outbox``)."""
    if not (directory / "new").exists():
        return []
    rows = []
    for key, msg in mailbox.Maildir(directory, create=False).items():
        rows.append({"key": key, "captured": msg.get_date(), "from": msg.get("From", ""),
                     "to": [a.strip("<>") for a in msg.get_all("X-WPBridge-Rcpt-To", [])],
                     "subject": str(msg.get("Subject", "")),
                     "message_id": msg.get("X-WPBridge-Message-Id", "")})
    return sorted(rows, key=lambda r: r["captured"], reverse=True)

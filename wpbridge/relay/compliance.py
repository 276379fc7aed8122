"""Bulk-sender rules (Gmail, Yahoo, Microsoft): one-click unsubscribe on every bulk message.

For bulk mail without its own List-Unsubscribe, the bridge adds, per recipient,
``List-Unsubscribe: <https://bridge/u/TOKEN>, <mailto:unsubscribe+...@bounce domain>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), and a ``List-Id`` when
missing (RFC 2919). A sender's own List-Unsubscribe is kept as it is.
"""

from __future__ import annotations

import re

_HEADER = re.compile(rb"^([!-9;-~]+):", re.MULTILINE)
# The trace fields on top (RFC 5321 4.4: Received lines stay first), with folded lines.
_TRACE = re.compile(rb"(?:(?:Received|Return-Path):[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*",
                    re.IGNORECASE)


def header_names(raw: bytes) -> set[bytes]:
    head = raw.partition(b"\r\n\r\n")[0]
    return {m.group(1).lower() for m in _HEADER.finditer(head)}


def needs_unsubscribe(raw: bytes) -> bool:
    return b"list-unsubscribe" not in header_names(raw)


def add_list_headers(raw: bytes, url: str, list_id: str, mailto: str | None = None) -> bytes:
    """Add the list headers on top, below the trace fields. ``mailto`` is the address the bounce
    listener acts on; without one (no bounce domain configured) the header carries the https
    one-click URL only."""
    targets = f"<{url}>" + (f",\r\n <mailto:{mailto}?subject=unsubscribe>" if mailto else "")
    extra = (f"List-Unsubscribe: {targets}\r\n"
             "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    if b"list-id" not in header_names(raw):
        extra += f"List-Id: <{list_id}>\r\n"
    at = _TRACE.match(raw).end()
    return raw[:at] + extra.encode() + raw[at:]

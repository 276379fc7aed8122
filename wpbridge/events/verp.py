"""VERP return paths: ``b+<recipient id>-<signature>@<bounce domain>``.

A bounce that comes back to such an address names the recipient row it is about, whatever
the bounce's own format says, and the signature keeps forged bounces from suppressing
anybody (RFC 3834/3464 senders keep the envelope sender as it was).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_LOCAL = re.compile(r"^b\+([0-9a-z]{1,13})-([a-z2-7]{10})$")


def _mac(secret_key: str, rid: int) -> str:
    digest = hmac.new(secret_key.encode(), f"verp:{rid}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:10].lower()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def address(secret_key: str, rid: int, domain: str) -> str:
    return f"b+{_base36(rid)}-{_mac(secret_key, rid)}@{domain}"


def recipient_id(secret_key: str, addr: str, domains: frozenset[str]) -> int | None:
    """The recipient row id of a VERP address at one of ``domains``, or None if the address
    is not one of ours (unknown domain, malformed, or a forged signature)."""
    local, _, domain = addr.lower().rpartition("@")
    m = _LOCAL.match(local)
    if domain not in domains or not m:
        return None
    rid = int(m.group(1), 36)
    return rid if hmac.compare_digest(m.group(2), _mac(secret_key, rid)) else None

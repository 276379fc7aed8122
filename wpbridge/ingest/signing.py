"""Request signatures: HMAC-SHA256 over key id, timestamp, nonce, method, target and raw body.

    X-WPBridge-Key-Id:    wpb_0123456789abcdef
    X-WPBridge-Timestamp: 1764275400
    X-WPBridge-Nonce:     3f9c0a4e5b6d7e8f9a0b1c2d3e4f5a6b   (POST, PUT, DELETE; optional on GET)
    X-WPBridge-Signature: v1=<hex HMAC-SHA256(secret,
                              key_id \\n ts \\n [nonce \\n] METHOD \\n target \\n body)>

``target`` is the request path plus ``?query`` when one is sent. Method and target are
signed too, so a signed body cannot be replayed against another endpoint. The nonce line
is in the signed string exactly when the nonce header is sent (a GET without one signs as
before). A nonce is 16 to 64 characters of ``[A-Za-z0-9_-]``, so it can never be read as a
method: the two forms of the string cannot be mistaken for each other. The bridge remembers
each nonce for the timestamp window and refuses a request whose nonce it has seen.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

KEY_HEADER = "X-WPBridge-Key-Id"
TS_HEADER = "X-WPBridge-Timestamp"
SIG_HEADER = "X-WPBridge-Signature"
NONCE_HEADER = "X-WPBridge-Nonce"
# Methods that change something: their requests must carry a nonce (replay protection).
NONCE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class SignatureError(Exception):
    """The request's signature is missing, malformed, stale or wrong (HTTP 401)."""

    def __init__(self, code: str, message: str, fix: str):
        super().__init__(message)
        self.code, self.message, self.fix = code, message, fix


def signature(secret: str, key_id: str, timestamp: str, method: str, target: str, body: bytes,
              nonce: str | None = None) -> str:
    nonce_line = f"{nonce}\n" if nonce else ""
    prefix = f"{key_id}\n{timestamp}\n{nonce_line}{method.upper()}\n{target}\n".encode()
    return "v1=" + hmac.new(secret.encode(), prefix + body, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def sign_headers(key_id: str, secret: str, method: str, target: str, body: bytes,
                 now: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """The headers a client sends (used by the CLI, the benches and the tests): a fresh
    nonce for a method that changes something, unless ``nonce`` is given."""
    ts = str(int(time.time() if now is None else now))
    if nonce is None and method.upper() in NONCE_METHODS:
        nonce = new_nonce()
    headers = {KEY_HEADER: key_id, TS_HEADER: ts,
               SIG_HEADER: signature(secret, key_id, ts, method, target, body, nonce)}
    if nonce:
        headers[NONCE_HEADER] = nonce
    return headers


def check_nonce(raw: str | None, method: str) -> str | None:
    """The request's nonce (None for a GET without one).

    :raise SignatureError: a method that changes something sent none, or it is malformed.
    """
    if raw is None:
        if method.upper() in NONCE_METHODS:
            raise SignatureError(
                "missing_nonce", f"the {NONCE_HEADER} header is missing ({method.upper()} "
                "requests must carry a new nonce each, against replays)",
                "update the wpbridge plugin (or your client): send a random "
                f"{NONCE_HEADER} (16-64 characters of A-Z a-z 0-9 _ -) with every request "
                "and sign it (see the README, 'Signing requests')")
        return None
    if not _NONCE.fullmatch(raw):
        raise SignatureError(
            "bad_nonce", f"{NONCE_HEADER} must be 16 to 64 characters of A-Z a-z 0-9 _ -",
            "send a random value per request, e.g. 32 hex digits")
    return raw


def check_timestamp(raw: str | None, window: int, now: float | None = None) -> None:
    if not raw:
        raise SignatureError("missing_signature", f"the {TS_HEADER} header is missing",
                             "sign every request (see the README, 'Signing requests')")
    try:
        ts = int(raw)
    except ValueError:
        raise SignatureError("bad_timestamp", f"{TS_HEADER} must be Unix seconds, got {raw[:40]!r}",
                             "send the current time as an integer") from None
    skew = (time.time() if now is None else now) - ts
    if abs(skew) > window:
        raise SignatureError("stale_signature",
                             f"the request timestamp is {int(skew)} s away from the bridge's clock "
                             f"(window {window} s)",
                             "sync the clock (NTP) on the sending host and sign just before sending")


def verify(secret: str, key_id: str, timestamp: str, method: str, target: str, body: bytes,
           given: str | None, nonce: str | None = None) -> None:
    if not given:
        raise SignatureError("missing_signature", f"the {SIG_HEADER} header is missing",
                             "sign every request (see the README, 'Signing requests')")
    expected = signature(secret, key_id, timestamp, method, target, body, nonce)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise SignatureError("bad_signature", "the request signature does not match",
                             "check the key id and secret (wp-config WPBRIDGE_KEY_ID / "
                             "WPBRIDGE_SECRET) and sign the exact bytes sent")

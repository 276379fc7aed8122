"""Request signatures: HMAC-SHA256 over key id, timestamp, method, target and raw body.

    X-WPBridge-Key-Id:    wpb_0123456789abcdef
    X-WPBridge-Timestamp: 1764275400
    X-WPBridge-Signature: v1=<hex HMAC-SHA256(secret, key_id \\n ts \\n METHOD \\n target \\n body)>

``target`` is the request path plus ``?query`` when one is sent. Method and target are
signed too, so a signed body cannot be replayed against another endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import time

KEY_HEADER = "X-WPBridge-Key-Id"
TS_HEADER = "X-WPBridge-Timestamp"
SIG_HEADER = "X-WPBridge-Signature"


class SignatureError(Exception):
    """The request's signature is missing, malformed, stale or wrong (HTTP 401)."""

    def __init__(self, code: str, message: str, fix: str):
        super().__init__(message)
        self.code, self.message, self.fix = code, message, fix


def signature(secret: str, key_id: str, timestamp: str, method: str, target: str, body: bytes) -> str:
    prefix = f"{key_id}\n{timestamp}\n{method.upper()}\n{target}\n".encode()
    return "v1=" + hmac.new(secret.encode(), prefix + body, hashlib.sha256).hexdigest()


def sign_headers(key_id: str, secret: str, method: str, target: str, body: bytes,
                 now: float | None = None) -> dict[str, str]:
    """The three headers a client sends (used by the CLI and the tests)."""
    ts = str(int(time.time() if now is None else now))
    return {KEY_HEADER: key_id, TS_HEADER: ts,
            SIG_HEADER: signature(secret, key_id, ts, method, target, body)}


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
           given: str | None) -> None:
    if not given:
        raise SignatureError("missing_signature", f"the {SIG_HEADER} header is missing",
                             "sign every request (see the README, 'Signing requests')")
    expected = signature(secret, key_id, timestamp, method, target, body)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise SignatureError("bad_signature", "the request signature does not match",
                             "check the key id and secret (wp-config WPBRIDGE_KEY_ID / "
                             "WPBRIDGE_SECRET) and sign the exact bytes sent")

"""Mailgun webhooks (JSON: ``{"signature": {...}, "event-data": {...}}``).

The signature is HMAC-SHA256 over ``timestamp + token`` with the domain's webhook signing
key (the site's ``mailgun_signing_key``). It does not cover the event data, so a captured
signature could carry other events: a token is accepted once only.
"""

from __future__ import annotations

import hashlib
import hmac

from wpbridge.events import Group, Reason
from wpbridge.events.webhooks import (BRIDGE_ID_KEY, UNSUBSCRIBE, ByText, Nonce, Provider, Ref,
                                      Reject, Verdict, bridge_id, outcome)

# event -> verdict; "failed" is read by severity and reason below. Opens, clicks,
# "accepted" and "stored" are no outcome.
EVENTS: dict[str, Verdict] = {
    "delivered": Reason.DELIVERED,
    "complained": Reason.COMPLAINT,
    "unsubscribed": UNSUBSCRIBE,
}

# "failed" with severity "permanent", by reason. Mailgun retries temporary failures itself
# and reports the end as permanent, so "temporary" is a deferral, not an outcome.
PERMANENT: dict[str, Verdict] = {
    "bounce": ByText(Reason.USER_UNKNOWN),
    "generic": ByText(Reason.USER_UNKNOWN),
    # Mailgun did not try: the address is on one of its lists.
    "suppress-bounce": Reason.USER_UNKNOWN,
    "suppress-complaint": Reason.COMPLAINT,
    "suppress-unsubscribe": UNSUBSCRIBE,
    "old": Reason.EXPIRED,                              # gave up after retrying
    "espblock": ByText(Reason.BLOCKED, group=Group.BLOCK),
}
PERMANENT_OTHER = ByText(Reason.OTHER)


def verdict(data: dict) -> Verdict:
    if data.get("event") == "failed":
        if data.get("severity") != "permanent":
            return None
        return PERMANENT.get(str(data.get("reason") or ""), PERMANENT_OTHER)
    return EVENTS.get(data.get("event"))


class Mailgun(Provider):
    name = "mailgun"
    config_keys = ("mailgun_signing_key",)

    def verify(self, post):
        body = post.json
        signed = body.get("signature") if isinstance(body, dict) else None
        if not isinstance(signed, dict) or not all(signed.get(k) for k in ("timestamp", "token", "signature")):
            raise Reject(401, "unsigned request: the body has no signature object")
        timestamp, token = str(signed["timestamp"]), str(signed["token"])
        try:
            stamp = int(timestamp)
        except ValueError:
            raise Reject(403, "signature.timestamp is not a Unix time") from None
        post.check_fresh(stamp, self.max_age)
        expected = hmac.new(post.config["mailgun_signing_key"].encode(),
                            (timestamp + token).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), str(signed["signature"]).encode()):
            raise Reject(403, "the signature does not verify with this site's mailgun_signing_key")
        return Nonce("mailgun " + token, stamp + self.max_age)

    def items(self, post):
        data = post.json.get("event-data")
        if not isinstance(data, dict):
            raise Reject(400, "the body has no event-data object")
        status = data.get("delivery-status") or {}
        code = status.get("code")
        message = data.get("message") or {}
        yield outcome(
            data.get("recipient"), verdict(data),
            text=status.get("message") or status.get("description") or "",
            # Mailgun's own codes (605: "not delivering to previously bounced address") are
            # no SMTP replies.
            code=code if isinstance(code, int) and 200 <= code < 600 else None,
            status=status.get("enhanced-code") or status.get("bounce-code") or None,
            ref=Ref(bridge_id=bridge_id((data.get("user-variables") or {}).get(BRIDGE_ID_KEY)),
                    message_id=(message.get("headers") or {}).get("message-id")),
            raw=post.body.decode("utf-8", "replace"))


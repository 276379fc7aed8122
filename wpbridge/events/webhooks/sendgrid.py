"""SendGrid's signed Event Webhook.

SendGrid signs ``timestamp + body`` with ECDSA (P-256, SHA-256) and sends the base64 DER
signature and the timestamp in headers; the site's ``sendgrid_public_key`` is the
verification key SendGrid shows under Mail Settings (base64 DER, or PEM). Events come in
batches (a JSON array); each keeps its own JSON object as its raw payload.
"""

from __future__ import annotations

import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wpbridge.events import Group, Reason
from wpbridge.events.webhooks import (BRIDGE_ID_KEY, UNSUBSCRIBE, ByText, Nonce, Provider, Ref,
                                      Reject, Verdict, b64, bridge_id, digest, outcome)

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"

# event -> verdict. Deferrals are retried by SendGrid and end as "delivered" or "bounce";
# processed, open, click and group_resubscribe are no outcome either.
EVENTS: dict[str, Verdict] = {
    "delivered": Reason.DELIVERED,
    "spamreport": Reason.COMPLAINT,
    "unsubscribe": UNSUBSCRIBE,
    "group_unsubscribe": UNSUBSCRIBE,
}

# "bounce" events by their type: "bounce" is the receiving server refusing the recipient for
# good (its words say why); "blocked" is SendGrid's word for a refusal of the sender.
BOUNCE_TYPES: dict[str, Verdict] = {
    "bounce": ByText(Reason.USER_UNKNOWN),
    "blocked": ByText(Reason.BLOCKED, group=Group.BLOCK),
}

# "dropped" events by their reason (lower case): SendGrid did not try, mostly because the
# address is on one of its own lists. Other reasons are about the sender's account.
DROPPED: dict[str, Verdict] = {
    "bounced address": Reason.USER_UNKNOWN,
    "invalid": Reason.USER_UNKNOWN,
    "spam reporting address": Reason.COMPLAINT,
    "unsubscribed address": UNSUBSCRIBE,
    "invalid smtpapi header": Reason.PROTOCOL,
    "spam content": Reason.SPAM_DETECTED,
    "recipient list over package quota": Reason.POLICY,
}
DROPPED_OTHER = Reason.POLICY


def verdict(event: dict) -> Verdict:
    kind = event.get("event")
    if kind == "bounce":
        return BOUNCE_TYPES.get(str(event.get("type") or "bounce"), BOUNCE_TYPES["bounce"])
    if kind == "dropped":
        return DROPPED.get(str(event.get("reason") or "").strip().lower(), DROPPED_OTHER)
    return EVENTS.get(kind)


class SendGrid(Provider):
    name = "sendgrid"
    config_keys = ("sendgrid_public_key",)

    def verify(self, post):
        signature, timestamp = post.headers.get(SIGNATURE), post.headers.get(TIMESTAMP)
        if not signature or not timestamp:
            raise Reject(401, f"unsigned request: turn on the Signed Event Webhook in SendGrid "
                              f"(Mail Settings) so that requests carry {SIGNATURE}")
        key = _public_key(post.config["sendgrid_public_key"])
        try:
            stamp = int(timestamp)
        except ValueError:
            raise Reject(403, f"{TIMESTAMP} is not a Unix time") from None
        post.check_fresh(stamp, self.max_age)
        try:
            key.verify(b64(signature), timestamp.encode() + post.body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise Reject(403, "the signature does not verify with this site's "
                              "sendgrid_public_key") from None
        # ECDSA signatures can be altered and stay valid: remember what was signed instead.
        return Nonce("sendgrid " + digest(timestamp.encode(), post.body), stamp + self.max_age)

    def items(self, post):
        events = post.json
        if not isinstance(events, list):
            raise Reject(400, "expected a JSON array of events")
        for event in events:
            if not isinstance(event, dict):
                continue
            # SendGrid's "status" is only the class of the reply code ("5.0.0" for 500):
            # the reply text carries the real numbers.
            yield outcome(event.get("email"), verdict(event),
                          text=event.get("reason") or event.get("response") or "",
                          ref=Ref(provider_id=str(event.get("sg_message_id") or "").split(".")[0] or None,
                                  bridge_id=bridge_id(event.get(BRIDGE_ID_KEY)),
                                  message_id=event.get("smtp-id") or None),
                          raw=json.dumps(event, ensure_ascii=False))


def _public_key(text: str) -> ec.EllipticCurvePublicKey:
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(b64(text))
    except ValueError:
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Reject(500, "sendgrid_public_key is not an ECDSA public key: copy the verification "
                          "key from SendGrid's Mail Settings > Signed Event Webhook")
    return key

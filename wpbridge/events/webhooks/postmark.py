"""Postmark webhooks, authenticated with HTTP basic auth (the webhook URL is set in Postmark
as ``https://<postmark_user>:<postmark_password>@bridge.example.com/webhooks/postmark/<site>``;
serve it over TLS). Basic auth signs nothing, so a replayed request cannot be told apart.
"""

from __future__ import annotations

import hashlib
import hmac

from wpbridge.events import Group, Reason
from wpbridge.events.webhooks import (BRIDGE_ID_KEY, UNSUBSCRIBE, ByText, Provider, Ref, Reject,
                                      Suppress, Verdict, bridge_id, outcome)

CHALLENGE = {"WWW-Authenticate": 'Basic realm="wpbridge webhooks"'}

# Bounce "Type" -> verdict. Transient is a delay notice (Postmark keeps trying); Subscribe,
# OpenRelayTest and InboundError are no outcome for the recipient.
BOUNCES: dict[str, Verdict] = {
    "HardBounce": ByText(Reason.USER_UNKNOWN),
    "BadEmailAddress": Reason.USER_UNKNOWN,
    "SoftBounce": ByText(Reason.OTHER, permanent=False),
    "Unknown": ByText(Reason.OTHER, permanent=False),
    "DnsError": ByText(Reason.NETWORK_ERROR, permanent=False),
    "SpamNotification": Reason.SPAM_DETECTED,
    "VirusNotification": Reason.VIRUS,
    "Blocked": ByText(Reason.BLOCKED, group=Group.BLOCK),
    "DMARCPolicy": Reason.AUTHENTICATION,
    "SMTPApiError": Reason.PROTOCOL,
    "Unconfirmed": Reason.SENDER_REJECTED,
    "TemplateRenderingFailed": Reason.CONTENT,
    "ManuallyDeactivated": Reason.POLICY,
    "AutoResponder": Reason.AUTOREPLY,
    "AddressChange": Reason.AUTOREPLY,
    "ChallengeVerification": Reason.AUTOREPLY,
    "SpamComplaint": Reason.COMPLAINT,
    "Unsubscribe": UNSUBSCRIBE,
}

# SubscriptionChange with SuppressSending: Postmark's suppression list changed, and ours
# follows it. Its bounces and complaints come as events through their own webhooks, so
# they are mirrored here without a second event. Reactivations are left to the operator.
SUPPRESSIONS: dict[str, Verdict] = {
    "HardBounce": Suppress("all", "hard_bounce"),
    "SpamComplaint": Suppress("bulk", "complaint"),
    "ManualSuppression": UNSUBSCRIBE,
}


class Postmark(Provider):
    name = "postmark"
    config_keys = ("postmark_user", "postmark_password")

    def verify(self, post):
        auth = post.authorization
        if auth is None or auth.type != "basic":
            raise Reject(401, "no basic auth: put postmark_user and postmark_password in the "
                              "webhook URL set in Postmark", CHALLENGE)
        # Compared as digests, both always, so the time taken tells nothing.
        user = _same(auth.username or "", post.config["postmark_user"])
        password = _same(auth.password or "", post.config["postmark_password"])
        if not (user & password):
            raise Reject(401, "wrong user or password", CHALLENGE)
        return None

    def items(self, post):
        record = post.json
        if not isinstance(record, dict):
            raise Reject(400, "expected a JSON object")
        kind = record.get("RecordType")
        metadata = record.get("Metadata") if isinstance(record.get("Metadata"), dict) else {}
        ref = Ref(provider_id=record.get("MessageID"), bridge_id=bridge_id(metadata.get(BRIDGE_ID_KEY)))
        raw = post.body.decode("utf-8", "replace")
        if kind == "Bounce":
            yield outcome(record.get("Email"), BOUNCES.get(record.get("Type")),
                          text=record.get("Details") or "", ref=ref, raw=raw)
        elif kind == "SpamComplaint":
            yield outcome(record.get("Email"), Reason.COMPLAINT, text=record.get("Details") or "",
                          ref=ref, raw=raw)
        elif kind == "SubscriptionChange" and record.get("SuppressSending") is True:
            yield outcome(record.get("Recipient"), SUPPRESSIONS.get(record.get("SuppressionReason")),
                          ref=ref, raw=raw)
        elif kind == "Delivery":
            yield outcome(record.get("Recipient"), Reason.DELIVERED, text=record.get("Details") or "",
                          ref=ref, raw=raw)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(),
                               hashlib.sha256(expected.encode()).digest())

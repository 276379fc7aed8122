"""Amazon SES notifications, delivered by an SNS topic subscribed over HTTPS.

Every SNS message is signed (``SignatureVersion`` 1: SHA1withRSA, 2: SHA256withRSA) over
the canonical string the SNS documentation defines, with the certificate at
``SigningCertURL``; that URL must be ``https://sns.<region>.amazonaws.com/...pem`` and is
fetched over verified TLS (the trust in the certificate is the trust in that host). The
``TopicArn`` must be the site's ``ses_topic_arn``. A ``SubscriptionConfirmation`` is
answered by fetching its ``SubscribeURL`` (same host rule). Raw message delivery must be off:
an unsigned SES notification is refused.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wpbridge.events import Reason
from wpbridge.events.webhooks import (BRIDGE_ID_HEADER, BRIDGE_ID_KEY, ByText, FetchError, Nonce,
                                      Provider, Ref, Reject, Verdict, b64, bridge_id, outcome)

# The fields each message type signs, in this order ("Subject" only when present).
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                "TopicArn", "Type"),
}
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com")

# (bounceType, bounceSubType) -> verdict. SES tells "remove the address" for every
# permanent bounce; our word for a dead address with no better reason is user_unknown.
BOUNCES: dict[tuple[str, str], Verdict] = {
    ("Permanent", "General"): ByText(Reason.USER_UNKNOWN),
    ("Permanent", "NoEmail"): Reason.USER_UNKNOWN,
    ("Permanent", "Suppressed"): Reason.USER_UNKNOWN,      # SES's list of recent hard bounces
    # The sender's own SES list, for a bounce or a complaint SES does not name.
    ("Permanent", "OnAccountSuppressionList"): Reason.POLICY,
    ("Transient", "General"): ByText(Reason.OTHER, permanent=False),
    ("Transient", "MailboxFull"): Reason.MAILBOX_FULL,
    ("Transient", "MessageTooLarge"): Reason.TOO_BIG,
    ("Transient", "ContentRejected"): Reason.CONTENT,
    ("Transient", "AttachmentRejected"): Reason.VIRUS,
    ("Undetermined", "Undetermined"): ByText(Reason.OTHER, permanent=False),
}
BOUNCE_TYPES: dict[str, Verdict] = {
    "Permanent": ByText(Reason.USER_UNKNOWN),
    "Transient": ByText(Reason.OTHER, permanent=False),
}
BOUNCE_OTHER = ByText(Reason.OTHER, permanent=False)
# Complaint feedback types that are no complaint.
NOT_COMPLAINTS = frozenset({"not-spam"})


def sns_url(url, *, certificate: bool) -> bool:
    """Whether ``url`` is an SNS endpoint: ``https://sns.<region>.amazonaws.com``, no port,
    no user; a ``.pem`` path for certificates, a ``ConfirmSubscription`` query otherwise."""
    if not isinstance(url, str) or not url.isascii() or re.search(r"[\s\\@]", url):
        return False
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port out of range, such as :99999
        return False
    if parts.scheme != "https" or not SNS_HOST.fullmatch(parts.hostname or "") or \
            port is not None or parts.fragment:
        return False
    if certificate:
        return parts.path.endswith(".pem") and not parts.query
    return parts.path == "/" and parse_qs(parts.query).get("Action") == ["ConfirmSubscription"]


class SES(Provider):
    name = "ses"
    config_keys = ("ses_topic_arn",)
    # SNS retries an HTTPS delivery for at most an hour, keeping the message's timestamp.
    max_age = 3600.0 + 600.0

    def verify(self, post):
        msg = post.json
        kind = msg.get("Type") if isinstance(msg, dict) else None
        if kind not in SIGNED:
            raise Reject(401, "not a signed SNS message (is raw message delivery on? turn it off)")
        if msg.get("TopicArn") != post.config["ses_topic_arn"]:
            raise Reject(403, f"topic {msg.get('TopicArn')!r} is not this site's ses_topic_arn")
        if any(not isinstance(msg.get(k), str) for k in SIGNED[kind] if k != "Subject") or \
                not isinstance(msg.get("Subject", ""), str):
            raise Reject(403, "a signed field is missing or not a string")
        algorithm = HASHES.get(str(msg.get("SignatureVersion")))
        if algorithm is None:
            raise Reject(403, f"SignatureVersion {msg.get('SignatureVersion')!r} is not 1 or 2")
        url = msg.get("SigningCertURL")
        if not sns_url(url, certificate=True):
            raise Reject(403, f"SigningCertURL {url!r} is not an SNS certificate URL")
        try:
            stamp = datetime.fromisoformat(msg["Timestamp"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise Reject(403, "Timestamp is not an ISO 8601 time") from None
        post.check_fresh(stamp, self.max_age)
        key = _public_key(post, url)
        text = "".join(f"{k}\n{msg[k]}\n" for k in SIGNED[kind] if k in msg)
        try:
            key.verify(b64(str(msg.get("Signature", ""))), text.encode(), padding.PKCS1v15(), algorithm())
        except (InvalidSignature, ValueError):
            raise Reject(403, "the SNS signature does not verify") from None
        # SNS keeps the MessageId when it retries, so it is the nonce.
        return Nonce(f"ses {msg['TopicArn']} {msg['MessageId']}", stamp + self.max_age)

    def control(self, post):
        msg = post.json
        if msg["Type"] == "UnsubscribeConfirmation":
            return 200, {"unsubscribed": msg["TopicArn"]}
        if msg["Type"] != "SubscriptionConfirmation":
            return None
        url = msg["SubscribeURL"]
        query = parse_qs(urlsplit(url).query)
        if not sns_url(url, certificate=False) or query.get("TopicArn") != [msg["TopicArn"]]:
            return 403, {"error": f"SubscribeURL {url!r} is not this topic's SNS confirmation URL"}
        try:
            post.hooks.fetch(url)
        except FetchError as exc:
            return 502, {"error": f"could not confirm the subscription: {exc}"}
        return 200, {"subscribed": msg["TopicArn"]}

    def items(self, post):
        raw = post.body.decode("utf-8", "replace")
        try:
            note = json.loads(post.json["Message"])
        except ValueError:
            raise Reject(400, "the SNS Message is not an SES notification") from None
        if not isinstance(note, dict):
            raise Reject(400, "the SNS Message is not an SES notification")
        kind = str(note.get("notificationType") or note.get("eventType") or "").lower()
        mail = note.get("mail") or {}
        ref = Ref(provider_id=mail.get("messageId"), bridge_id=_bridge_id(mail),
                  message_id=(mail.get("commonHeaders") or {}).get("messageId"))
        if kind == "bounce":
            bounce = note.get("bounce") or {}
            kind_of = (str(bounce.get("bounceType")), str(bounce.get("bounceSubType")))
            verdict = BOUNCES.get(kind_of) or BOUNCE_TYPES.get(kind_of[0], BOUNCE_OTHER)
            for r in bounce.get("bouncedRecipients") or []:
                yield outcome(r.get("emailAddress"), verdict, text=r.get("diagnosticCode") or "",
                              status=r.get("status"), ref=ref, raw=raw)
        elif kind == "complaint":
            complaint = note.get("complaint") or {}
            feedback = str(complaint.get("complaintFeedbackType") or "abuse").lower()
            if feedback in NOT_COMPLAINTS:
                return
            for r in complaint.get("complainedRecipients") or []:
                yield outcome(r.get("emailAddress"), Reason.COMPLAINT, text=feedback, ref=ref, raw=raw)
        elif kind == "delivery":
            delivery = note.get("delivery") or {}
            for address in delivery.get("recipients") or []:
                yield outcome(address, Reason.DELIVERED, text=delivery.get("smtpResponse") or "",
                              ref=ref, raw=raw)


def _bridge_id(mail: dict) -> str | None:
    for header in mail.get("headers") or []:
        if str(header.get("name", "")).lower() == BRIDGE_ID_HEADER.lower():
            return bridge_id(header.get("value"))
    tags = (mail.get("tags") or {}).get(BRIDGE_ID_KEY) or [None]
    return bridge_id(tags[0])


def _public_key(post, url: str) -> rsa.RSAPublicKey:
    """The public key of the certificate at ``url``, fetched once per process."""
    cert = post.hooks.certificates.get(url)
    if cert is None:
        try:
            cert = x509.load_pem_x509_certificate(post.hooks.fetch(url))
        except FetchError as exc:
            raise Reject(503, f"could not fetch the SNS signing certificate: {exc}") from None
        except ValueError:
            raise Reject(403, f"{url} is not a PEM certificate") from None
        if len(post.hooks.certificates) >= 64:
            post.hooks.certificates.clear()
        post.hooks.certificates[url] = cert
    now = datetime.fromtimestamp(post.now, timezone.utc)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Reject(403, f"the SNS signing certificate {url} is not valid now")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Reject(403, f"the SNS signing certificate {url} has no RSA key")
    return key

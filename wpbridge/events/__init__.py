"""events: what comes back after sending. The one vocabulary every event source speaks.

A bounce, a complaint, an auto-reply, a provider webhook or a synchronous SMTP reply during
relay ends as one :class:`RecipientResult` per recipient: a :class:`Group`, which decides
what the suppression policy does, and a finer :class:`Reason`, kept for people and reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Group(StrEnum):
    """What a result means for the recipient's address; the suppression policy keys on it."""

    # The address itself is permanently invalid (unknown user or domain, moved, a domain
    # that accepts no mail): suppress at once.
    HARD = "hard"
    # The address is fine but could not take this message now (full, suspended, timed out,
    # temporary trouble, too big, rate): suppress only after repeated failures.
    SOFT = "soft"
    # The sender's problem, not the recipient's (blocklists, spam filters, policy,
    # authentication, reverse DNS, relaying, content): never suppress, count for reputation.
    BLOCK = "block"
    # The recipient (or their mailbox provider for them) reported the message as unwanted.
    COMPLAINT = "complaint"
    # An automatic answer (vacation, out of office): the address works; nothing to do.
    AUTOREPLY = "autoreply"
    # A positive delivery report.
    DELIVERED = "delivered"


class Reason(StrEnum):
    """The finer cause, kept for people and reports; each belongs to one group."""

    USER_UNKNOWN = "user_unknown"      # no such mailbox at the domain
    HOST_UNKNOWN = "host_unknown"      # no such domain, or no route to it at all
    HAS_MOVED = "has_moved"            # mailbox moved, no forwarding (RFC 3463 X.1.6)
    NOT_ACCEPTING = "not_accepting"    # domain accepts no mail at all (null MX, RFC 7505)
    MAILBOX_FULL = "mailbox_full"      # over quota
    SUSPENDED = "suspended"            # mailbox disabled, frozen, inactive
    EXPIRED = "expired"                # gave up after retrying for the queue lifetime
    SYSTEM_ERROR = "system_error"      # trouble on the receiving system, loops, mailers
    NETWORK_ERROR = "network_error"    # DNS or connection trouble on the way
    TOO_BIG = "too_big"                # message over a size limit
    RATE_LIMITED = "rate_limited"      # too many messages or connections; slow down
    BLOCKED = "blocked"                # sending IP or domain refused (blocklist, reputation)
    SPAM_DETECTED = "spam_detected"    # content judged to be spam
    POLICY = "policy"                  # refused by the receiver's local policy
    AUTHENTICATION = "authentication"  # SPF, DKIM, DMARC or other sender authentication
    REVERSE_DNS = "reverse_dns"        # sending IP lacks valid reverse DNS (PTR)
    RELAY_DENIED = "relay_denied"      # the server would not relay for the sender
    SENDER_REJECTED = "sender_rejected"  # the envelope sender address itself was refused
    FILTERED = "filtered"              # the recipient's own filter or settings refused it
    CONTENT = "content"                # malformed message: headers, MIME, RFC 5322
    PROTOCOL = "protocol"              # the sending MTA broke the SMTP dialogue (syntax, order)
    VIRUS = "virus"                    # malware or a forbidden attachment
    COMPLAINT = "complaint"            # a feedback report; the type is on the report
    AUTOREPLY = "autoreply"            # an RFC 3834 automatic answer
    DELIVERED = "delivered"            # delivered, relayed or expanded
    OTHER = "other"                    # failed, and nothing says why


_GROUPS: dict[Reason, Group] = {
    **dict.fromkeys((Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.HAS_MOVED,
                     Reason.NOT_ACCEPTING), Group.HARD),
    **dict.fromkeys((Reason.MAILBOX_FULL, Reason.SUSPENDED, Reason.EXPIRED,
                     Reason.SYSTEM_ERROR, Reason.NETWORK_ERROR, Reason.TOO_BIG,
                     Reason.RATE_LIMITED, Reason.OTHER), Group.SOFT),
    **dict.fromkeys((Reason.BLOCKED, Reason.SPAM_DETECTED, Reason.POLICY,
                     Reason.AUTHENTICATION, Reason.REVERSE_DNS, Reason.RELAY_DENIED,
                     Reason.SENDER_REJECTED, Reason.FILTERED, Reason.CONTENT, Reason.VIRUS,
                     Reason.PROTOCOL),
                    Group.BLOCK),
    Reason.COMPLAINT: Group.COMPLAINT,
    Reason.AUTOREPLY: Group.AUTOREPLY,
    Reason.DELIVERED: Group.DELIVERED,
}


def group_for(reason: Reason, permanent: bool = True) -> Group:
    """The group of ``reason``. A domain that accepts no mail is only hard when the failure
    was permanent (5xx): a temporary one may be a DNS hiccup."""
    if reason is Reason.NOT_ACCEPTING and not permanent:
        return Group.SOFT
    return _GROUPS[reason]


def is_permanent(code: int | None, status: str | None, default: bool = True) -> bool:
    """Whether a failure is permanent by its reply code, else its status, else ``default``."""
    if code is not None:
        return code >= 500
    if status:
        return status.startswith("5")
    return default


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """One recipient's outcome, as any event source reports it."""

    address: str | None       # lower-cased; None when the report names nobody
    status: str | None        # RFC 3463 enhanced status, e.g. "5.1.1"
    group: Group
    reason: Reason
    code: int | None = None   # SMTP reply code, e.g. 550
    diagnostic: str = ""      # the receiving server's words, one line

"""Enhanced status codes (RFC 3463, the IANA registry of RFC 5248, and the extensions
Microsoft documents for Exchange Online) and basic SMTP reply codes -> :class:`Reason`.

A code is looked up whole first (``4.4.4`` and ``5.4.4`` mean different things), then by
subject and detail with the class left out (``X.2.2`` is a full mailbox whether the server
will retry or not). Codes that only say "something is wrong" (``X.0.0``, ``X.1.0``,
``X.2.0``, ``X.5.0``) are absent on purpose: the diagnostic text has to decide those.
Codes in :data:`WEAK` are vague enough that a generic diagnostic phrase beats them.
"""

from __future__ import annotations

from wpbridge.events import Reason

R = Reason

# Whole codes, where the class changes the meaning or a vendor gave a code its own meaning.
EXACT: dict[str, Reason] = {
    "4.1.1": R.USER_UNKNOWN,     # some servers defer unknown users; still no such mailbox
    "4.4.4": R.NETWORK_ERROR,    # unable to route, for now
    "5.4.4": R.HOST_UNKNOWN,     # unable to route: no such domain
    "4.3.2": R.RATE_LIMITED,     # not accepting messages for now (mostly load shedding)
    "5.4.1": R.USER_UNKNOWN,     # Exchange Online directory-based edge blocking: no such user
    "5.4.310": R.HOST_UNKNOWN,   # Exchange Online: DNS domain does not exist
    "5.4.312": R.NETWORK_ERROR,  # Exchange Online: DNS query failed
    "5.4.316": R.EXPIRED,        # Exchange Online: message expired, connection refused
    "4.4.316": R.NETWORK_ERROR,  # Exchange Online: connection refused
    "5.4.300": R.EXPIRED,        # Exchange Online: message expired
    "5.4.14": R.SYSTEM_ERROR,    # Exchange Online: hop count exceeded, a loop
    "5.1.351": R.USER_UNKNOWN,   # Exchange: remote server returned "not found"
    "5.1.10": R.USER_UNKNOWN,    # null MX (RFC 7505) or Exchange's "recipient not found"
    "5.7.13": R.SUSPENDED,       # user account disabled
    "5.7.27": R.SENDER_REJECTED,  # the sender's domain has a null MX (RFC 7505)
    "5.7.57": R.AUTHENTICATION,  # Exchange Online: client not authenticated to send
    "5.7.64": R.RELAY_DENIED,    # Exchange Online: relay access denied (tenant attribution)
    "5.7.124": R.FILTERED,       # Exchange: sender not in the group's allowed senders
    "5.7.133": R.FILTERED, "5.7.134": R.FILTERED, "5.7.135": R.FILTERED, "5.7.136": R.FILTERED,
    "5.7.501": R.BLOCKED, "5.7.502": R.BLOCKED, "5.7.503": R.BLOCKED,  # spam abuse detected
    "5.7.504": R.USER_UNKNOWN,   # Exchange Online: recipient address rejected, access denied
    "5.7.505": R.BLOCKED, "5.7.506": R.PROTOCOL,  # bad HELO
    "5.7.507": R.FILTERED,       # rejected by the recipient
    "5.7.508": R.RATE_LIMITED,   # exceeded permitted limits
    "5.7.509": R.AUTHENTICATION,  # sending domain does not pass DMARC
    "5.7.510": R.POLICY,         # does not accept email over IPv6
    "5.7.511": R.BLOCKED,        # banned sender
    "5.7.512": R.CONTENT,        # message must be RFC 5322 compliant
    "5.7.513": R.BLOCKED,        # blocked by the recipient domain's customer block list
    "5.7.515": R.AUTHENTICATION,  # Outlook.com: sender authentication requirements not met
    "5.2.121": R.RATE_LIMITED, "5.2.122": R.RATE_LIMITED,  # recipient's hourly limit
    "5.6.11": R.CONTENT,         # bare line feeds
}
EXACT.update({f"5.7.{n}": R.BLOCKED for n in range(606, 650)})       # banned sending IP
EXACT.update({f"4.7.{n}": R.BLOCKED for n in range(650, 653)})       # IP reputation
EXACT.update({f"5.7.{n}": R.BLOCKED for n in range(700, 751)})       # tenant blocked

# subject.detail (the class digit left out) -> reason.
BY_SUBJECT: dict[str, Reason] = {
    "1.1": R.USER_UNKNOWN,       # bad destination mailbox address
    "1.2": R.HOST_UNKNOWN,       # bad destination system address
    "1.3": R.USER_UNKNOWN,       # bad destination mailbox address syntax
    "1.4": R.USER_UNKNOWN,       # destination mailbox address ambiguous
    "1.6": R.HAS_MOVED,          # destination mailbox has moved, no forwarding address
    "1.7": R.SENDER_REJECTED,    # bad sender's mailbox address syntax
    "1.8": R.SENDER_REJECTED,    # bad sender's system address
    "1.9": R.SYSTEM_ERROR,       # message relayed to non-compliant mailer
    "1.10": R.NOT_ACCEPTING,     # recipient address has null MX
    "2.1": R.FILTERED,           # mailbox disabled, not accepting messages (words decide first)
    "2.2": R.MAILBOX_FULL,       # mailbox full
    "2.3": R.TOO_BIG,            # message length exceeds administrative limit
    "2.4": R.SYSTEM_ERROR,       # mailing list expansion problem
    "3.0": R.SYSTEM_ERROR,       # other or undefined mail system status
    "3.1": R.SYSTEM_ERROR,       # mail system full
    "3.2": R.NOT_ACCEPTING,      # system not accepting network messages
    "3.3": R.SYSTEM_ERROR,       # system not capable of selected features
    "3.4": R.TOO_BIG,            # message too big for system
    "3.5": R.SYSTEM_ERROR,       # system incorrectly configured
    "4.0": R.NETWORK_ERROR,      # other or undefined network or routing status
    "4.1": R.NETWORK_ERROR,      # no answer from host
    "4.2": R.NETWORK_ERROR,      # bad connection
    "4.3": R.SYSTEM_ERROR,       # directory server failure
    "4.4": R.HOST_UNKNOWN,       # unable to route
    "4.5": R.SYSTEM_ERROR,       # mail system congestion
    "4.6": R.SYSTEM_ERROR,       # routing loop detected
    "4.7": R.EXPIRED,            # delivery time expired
    "4.8": R.NETWORK_ERROR,      # retry on IPv4 (RFC 7505 section 3)
    "5.1": R.PROTOCOL,           # invalid command
    "5.2": R.PROTOCOL,           # syntax error
    "5.3": R.RATE_LIMITED,       # too many recipients
    "5.4": R.PROTOCOL,           # invalid command arguments
    "5.5": R.PROTOCOL,           # wrong protocol version
    "5.6": R.PROTOCOL,           # authentication exchange line too long
    "6.0": R.CONTENT, "6.1": R.CONTENT, "6.2": R.CONTENT, "6.3": R.CONTENT,
    "6.4": R.CONTENT, "6.5": R.CONTENT, "6.6": R.CONTENT, "6.7": R.CONTENT,
    "6.8": R.CONTENT, "6.9": R.CONTENT, "6.10": R.CONTENT,
    "7.0": R.POLICY,             # other or undefined security status
    "7.1": R.POLICY,             # delivery not authorized, message refused
    "7.2": R.POLICY,             # mailing list expansion prohibited
    "7.3": R.POLICY,             # security conversion required but not possible
    "7.4": R.POLICY,             # security features not supported
    "7.5": R.POLICY,             # cryptographic failure
    "7.6": R.POLICY,             # cryptographic algorithm not supported
    "7.7": R.POLICY,             # message integrity failure
    "7.8": R.AUTHENTICATION,     # authentication credentials invalid
    "7.9": R.AUTHENTICATION,     # authentication mechanism is too weak
    "7.10": R.POLICY,            # encryption needed
    "7.11": R.POLICY,            # encryption required for requested authentication mechanism
    "7.12": R.AUTHENTICATION,    # a password transition is needed
    "7.14": R.POLICY,            # trust relationship required
    "7.15": R.POLICY,            # priority level is too low
    "7.16": R.TOO_BIG,           # message is too big for the specified priority
    "7.17": R.HAS_MOVED,         # mailbox owner has changed
    "7.18": R.HAS_MOVED,         # domain owner has changed
    "7.19": R.POLICY,            # RRVS test cannot be completed
    "7.20": R.AUTHENTICATION,    # no passing DKIM signature found
    "7.21": R.AUTHENTICATION,    # no acceptable DKIM signature found
    "7.22": R.AUTHENTICATION,    # no valid author-matched DKIM signature found
    "7.23": R.AUTHENTICATION,    # SPF validation failed
    "7.24": R.AUTHENTICATION,    # SPF validation error
    "7.25": R.REVERSE_DNS,       # reverse DNS validation failed
    "7.26": R.AUTHENTICATION,    # multiple authentication checks failed
    "7.28": R.SPAM_DETECTED,     # mail flood of similar abusive messages
    "7.29": R.AUTHENTICATION,    # ARC validation failed
    "7.30": R.POLICY,            # REQUIRETLS support required
}

# Vague codes: "delivery not authorized" and friends. A generic phrase decides first.
WEAK = frozenset({"7.0", "7.1", "3.0", "4.0"})

# Reply codes that mean one thing whatever the text (RFC 5321, RFC 7504, RFC 4954).
REPLY: dict[int, Reason] = {
    521: R.NOT_ACCEPTING,    # host does not accept mail
    556: R.NOT_ACCEPTING,    # domain does not accept mail
    525: R.SUSPENDED,        # user account disabled
    530: R.AUTHENTICATION,   # authentication required
    534: R.AUTHENTICATION,   # authentication mechanism is too weak
    535: R.AUTHENTICATION,   # authentication credentials invalid
    538: R.AUTHENTICATION,   # encryption required for the mechanism
    500: R.PROTOCOL, 501: R.PROTOCOL, 502: R.PROTOCOL, 503: R.PROTOCOL, 504: R.PROTOCOL,
    551: R.HAS_MOVED,        # user not local; please try <forward-path>
    452: R.SYSTEM_ERROR,     # insufficient system storage
    451: R.SYSTEM_ERROR,     # local error in processing
}


def reason_for_status(status: str) -> tuple[Reason | None, bool]:
    """(reason, weak) for an enhanced status code; (None, False) when it says nothing."""
    if status in EXACT:
        return EXACT[status], False
    subject = status.partition(".")[2]
    reason = BY_SUBJECT.get(subject)
    return reason, subject in WEAK

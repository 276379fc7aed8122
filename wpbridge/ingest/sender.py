"""Who a message may claim to be from: the one sender check of both doors.

The HTTP API (structured and raw) and the SMTP listener hand every submission to
:func:`check_sender` (through :func:`wpbridge.ingest.accept.prepare`); the SMTP listener
also asks :func:`envelope_refusal` at MAIL FROM.

The rules:

- The header block has exactly one From field and at most one Sender field (RFC 5322
  3.6), found as receivers find them: ``From :`` (white space before the colon) is a From.
  From holds mailboxes, never a group (``undisclosed-recipients:;``); several authors need a
  Sender. Every address in From and Sender is checked, not only the first.
- An address is the site's when its domain is one of the site's sending domains, or a
  subdomain of one (unless the site turned ``subdomains`` off) that no other site claims:
  one site can never send as a domain another site holds.
- Outside that, the site's ``from_policy`` decides. ``rewrite`` (the default): From becomes
  the site's default sender (``default_from``, or ``wordpress@<first sending domain>``) with
  its display name kept, the original From goes to Reply-To when the message has none, a
  foreign Sender is dropped, and a foreign envelope sender becomes the default sender too
  (DKIM signs with the From domain, so it follows). ``refuse``: 422 / 550 naming the field.
"""

from __future__ import annotations

import functools
from email import policy
from email.utils import formataddr

from wpbridge.ingest.message import InvalidInput, Submission, check_address, header_fields
from wpbridge.sites import SiteAuth

POLICIES = ("rewrite", "refuse")


def default_sender(default_from: str | None, domains) -> str:
    """The address a rewritten From gets: the site's ``default_from``, or wordpress@ its
    first sending domain."""
    return default_from or f"wordpress@{min(domains)}"


@functools.lru_cache(maxsize=4096)
def _mailboxes(value: str) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """((display name, address), ...) of an address header, or a problem."""
    try:
        header = policy.default.header_factory("from", value)
    except Exception:  # noqa: BLE001 - the stdlib parser raises various errors on garbage
        return (), "it cannot be parsed as a list of addresses"
    if any(g.display_name is not None for g in header.groups):
        return (), "it uses group syntax (name: addresses;), which a From or Sender may not"
    boxes = tuple((a.display_name, a.addr_spec) for a in header.addresses)
    if not boxes or any(not a.username or not a.domain for a in header.addresses):
        return (), "it does not hold an address of the form name@domain"
    return boxes, None


def _boxes(value: str, where: str) -> tuple[tuple[str, str], ...]:
    boxes, problem = _mailboxes(value)
    if problem:
        raise InvalidInput(422, "invalid_sender", where, f"{value[:200]!r}: {problem}",
                           "give one address like Shop <shop@example.com>")
    return boxes


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


def _refusal(site: SiteAuth, where: str, address: str) -> InvalidInput:
    domain = _domain(address) or "(none)"
    return InvalidInput(
        422, "sender_domain", where,
        f"site {site.name}: sender domain {domain} is not one of this "
        f"site's sending domains ({', '.join(sorted(site.domains))}"
        f"{', with their subdomains' if site.subdomains else ''})",
        f"send from one of them, add the domain with 'wpbridge site domains add {site.name} "
        f"{domain}', or let the bridge rewrite such senders with 'wpbridge site senders "
        f"{site.name} --from-policy rewrite'")


def envelope_refusal(site: SiteAuth, address: str) -> InvalidInput | None:
    """Why an envelope sender is refused at once (SMTP MAIL FROM), or None: only under
    ``refuse``; under ``rewrite`` a foreign one is replaced once the message is in."""
    if site.sender_allowed(address) or site.from_policy == "rewrite":
        return None
    return _refusal(site, "envelope.from", address)


def check_sender(site: SiteAuth, sub: Submission, where: str = "") -> bool:
    """Check (and under ``rewrite`` correct, in place) the From, Sender and envelope sender
    of ``sub``; True when something was rewritten.

    :raise InvalidInput: 422 naming ``from``, ``headers.Sender`` or ``envelope.from``
        (prefixed with ``where``, e.g. ``messages[2].``): not one From field, more than one
        Sender, group syntax, an address that is not one, or (``refuse``) a foreign sender.
    """
    head, sep, body = sub.raw.partition(b"\r\n\r\n")
    fields = header_fields(head)
    froms = [f for f in fields if f[0] == "from"]
    senders = [f for f in fields if f[0] == "sender"]
    if len(froms) != 1:
        raise InvalidInput(422, "invalid_sender", where + "from",
                           f"the message has {len(froms)} From header fields; it must have exactly one",
                           "send one From header (one author); other addresses go in Reply-To")
    if len(senders) > 1:
        raise InvalidInput(422, "invalid_sender", where + "headers.Sender",
                           f"the message has {len(senders)} Sender header fields; it may have one",
                           "send at most one Sender header")
    authors = _boxes(froms[0][1], where + "from")
    sender = _boxes(senders[0][1], where + "headers.Sender") if senders else ()
    if len(sender) > 1:
        raise InvalidInput(422, "invalid_sender", where + "headers.Sender",
                           "the Sender holds several addresses; it must hold one",
                           "give the one address that sends the message")
    if len(authors) > 1 and not sender:
        raise InvalidInput(422, "invalid_sender", where + "from",
                           "a From with several addresses needs a Sender header (RFC 5322 3.6.2)",
                           "send one address in From, or add a Sender of this site's domains")
    foreign_from = [a for _, a in authors if not site.sender_allowed(a)]
    foreign_sender = [a for _, a in sender if not site.sender_allowed(a)]
    foreign_envelope = not site.sender_allowed(sub.mail_from)
    for name, address in [("from", a) for _, a in authors if a not in foreign_from] + \
                         [("headers.Sender", a) for _, a in sender if a not in foreign_sender]:
        check_address(address, where + name)
    if not (foreign_from or foreign_sender or foreign_envelope):
        return False
    if site.from_policy != "rewrite":
        if foreign_from:
            raise _refusal(site, where + "from", foreign_from[0])
        if foreign_sender:
            raise _refusal(site, where + "headers.Sender", foreign_sender[0])
        raise _refusal(site, where + "envelope.from", sub.mail_from)
    _rewrite(site, sub, head, body, fields, authors, bool(foreign_from), bool(foreign_sender),
             foreign_envelope)
    return True


def _rewrite(site, sub, head, body, fields, authors, from_, sender_, envelope) -> None:
    new = default_sender(site.default_from, site.domains)
    lines = head.split(b"\r\n")
    out: list[bytes] = []
    extra: list[tuple[str, str]] = []
    has_reply_to = any(f[0] == "reply-to" for f in fields)
    spans = {start: (name, end) for name, _, start, end in fields}
    i = 0
    while i < len(lines):
        if i in spans:
            name, end = spans[i]
            if name == "from" and from_:
                display = next((n for n, _ in authors if n), "")
                out.append(b"From: " + formataddr((display, new), charset="utf-8").encode())
                extra.append(("From", formataddr((display, new), charset="utf-8")))
                original = ", ".join(formataddr(b, charset="utf-8") for b in authors)
                if not has_reply_to and _all_valid(authors):
                    out.append(b"Reply-To: " + original.encode())
                    extra.append(("Reply-To", original))
                i = end
                continue
            if name == "sender" and sender_:
                i = end
                continue
        out.append(lines[i])
        i += 1
    sub.raw = b"\r\n".join(out) + b"\r\n\r\n" + body
    if from_:
        sub.from_header = dict(extra)["From"]
    drop = {"from", "reply-to"} if from_ else set()
    if sender_:
        drop.add("sender")
    sub.headers = {k: v for k, v in sub.headers.items() if k.lower() not in drop}
    sub.headers.update(extra)
    original = next((a for _, a in authors), "") if from_ else sub.mail_from
    if envelope:
        sub.mail_from = new
    sub.rewritten_from = original


def _all_valid(boxes) -> bool:
    try:
        for _, a in boxes:
            check_address(a, "from")
    except InvalidInput:
        return False
    return True

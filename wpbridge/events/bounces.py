"""Bounces, complaints and auto-replies: raw message -> :class:`BounceReport`. Pure, no I/O.

:func:`parse` reads, in this order of trust:

1. RFC 5965 feedback reports (``multipart/report; report-type=feedback-report``) and the
   older feedback loops that forward the complained-about message without one;
2. provider notifications sent as mail (Amazon SES through SNS, JSON);
3. RFC 3464 delivery status notifications: one result per recipient record;
4. the bounces MTAs write for people only (qmail, Exim, Sendmail, Postfix, Exchange, Gmail,
   Yahoo, Domino, ...): recipients and their diagnostic lines are taken from the text;
5. RFC 3834 auto-replies, which are recognised and are no bounce.

What a report means, in this order of precedence (each rule is general, about meaning; none
names a file or a corpus):

- A feedback report (``report-type=feedback-report``, a Feedback-Type field, or an older
  feedback loop's forwarded message) is always a complaint, whatever else it carries
  (Auto-Submitted, a vacation-like subject).
- A report whose every recipient record says ``Action: delayed``, or a text report that
  says delivery is late and will be retried and never that it failed for good, is a delay
  notice (:attr:`ReportType.DELAYED`): no bounce. A temporary Action is never hard.
- For each recipient, the DSN's Diagnostic-Code (the receiving server's own words) decides
  first, then its Status code when the code says something definite, then the
  human-readable lines the reporting MTA wrote about the recipient, then the generic
  phrases of a reply code, then the report's preamble and subject.
- Words about the recipient's existence ("user unknown", "no such mailbox") are proof
  that the address is dead (``user_unknown``, hard) when the status code says so too
  (X.1.1), or when they answered RCPT TO (whatever other code came with them: X.0.0, X.2.1,
  X.5.0, X.7.1), or when the system that holds the mailbox decided by itself (its local
  delivery agent or directory). Otherwise (after DATA, under a "mailbox disabled" code
  such as X.2.0 or X.2.1, or where the report does not say which command they answered)
  they are the recipient's own filter or forwarding (``filtered``, block): the SMTP
  dialogue only asks about an address at RCPT TO. Before RCPT TO a refusal is about the
  sender: at MAIL FROM the sender's address, while connecting the sending host. The
  command is read per recipient from the MTA's own wording (Postfix "in reply to RCPT TO
  command", Exim "after RCPT TO:<...>", Sendmail and Courier ">>> RCPT To:" transcripts,
  qmail "does not like recipient", Yahoo "[RCPT_TO]", ...:
  :data:`~wpbridge.events.formats.SMTP_COMMAND_ROWS`); see :func:`_settle`.
  A permanent refusal after DATA that says nothing more is about the message (policy,
  block): the address had been accepted.
- The recipient's domain without a usable mail host (no such domain, broken DNS or MX) is
  ``host_unknown`` (hard); a name server that said "try again" is a network error (soft).
  A virus found in the message is ``virus`` (its content), not a block of the sending IP.
- The phrase families per reason (recipient unknown, host unknown, mailbox full,
  disabled, filtered, policy and spam, reputation and blocklists, missing PTR, TLS
  required, rate, content, virus, relay refused, expired, network and DNS) are the tables
  of :mod:`~wpbridge.events.diagnostics`; the sender's own problems come before the
  recipient's there, because their texts often name the recipient too.
- Auto-replies are told by their headers (Auto-Submitted: auto-replied, X-Autoreply, ...)
  or by a subject and a body in the words of out-of-office answers in English, German,
  French, Spanish, Italian, Dutch, Portuguese and Japanese.
- Every recipient a report names is returned, in the order the report names them; when
  the report names none, the returned message's X-Original-To, Delivered-To, Envelope-To,
  To and Cc do. Mail from a person that names no recipient is no bounce.

:func:`classify_reply` turns (reply code, enhanced status, diagnostic text) into
(:class:`Group`, :class:`Reason`). The relay calls it for synchronous SMTP replies, so a
rejection during delivery and the same rejection in a later DSN end up in the same group.
The tables it reads are in :mod:`~wpbridge.events.diagnostics` (texts),
:mod:`~wpbridge.events.status_codes` (codes) and :mod:`~wpbridge.events.formats` (how
reports look).

flufl.bounce was tried for finding recipients in non-standard bounces: over the bounce
corpus it found no recipient this parser misses and gives no diagnostics, so it is not used.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import json
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from enum import StrEnum
from html import unescape
from typing import Iterable, Sequence

from wpbridge.events import Group, Reason, RecipientResult, formats, group_for, is_permanent
from wpbridge.events.diagnostics import (BOUNCE_CATEGORIES, GENERIC, RECIPIENT_DOMAINS, SPECIFIC,
                                         USER_UNKNOWN_AFTER_DATA)
from wpbridge.events.status_codes import REPLY, reason_for_status


class ReportType(StrEnum):
    """What kind of message :func:`parse` was given."""

    DSN = "dsn"                # a delivery report: RFC 3464, a provider's, or an MTA's own text
    ARF = "arf"                # a complaint (feedback) report
    AUTOREPLY = "autoreply"    # an automatic answer from a person's mailbox
    DELAYED = "delayed"        # a warning that delivery is late and still being tried: no bounce
    NOT_BOUNCE = "not-bounce"  # ordinary mail
    UNKNOWN = "unknown"        # looks like a bounce, but names no recipient that could be found


@dataclass(frozen=True, slots=True)
class BounceReport:
    type: ReportType
    recipients: tuple[RecipientResult, ...] = ()
    feedback_type: str | None = None    # ARF Feedback-Type: abuse, fraud, auth-failure, ...
    original_message_id: str | None = None


# ---------------------------------------------------------------------------------------
# classify_reply: the same rules for SMTP replies, DSN fields and bounce texts

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_CODE_AND_STATUS = re.compile(
    r"(?<![\w.\-/:\[(])([245][0-5]\d)[ -]#?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
_CODE = re.compile(r"(?<![\w.\-/:#,\[(+])([245][0-5]\d)(?=[ \t\-]|$)", re.M)
_SPACE = re.compile(r"\s+")

# A refusal before RCPT TO cannot be about the recipient: while connecting it is about the
# sending host, at MAIL FROM about the sender (unless its words say what else: a blocklist,
# a rate, a full disk).
_BY_COMMAND: dict[str, dict[Reason, Reason]] = {
    **dict.fromkeys(("connect", "ehlo", "helo"), dict.fromkeys(
        (Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.OTHER, Reason.SYSTEM_ERROR,
         Reason.POLICY), Reason.BLOCKED)),
    "mail from": dict.fromkeys((Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.OTHER,
                                Reason.POLICY, Reason.FILTERED), Reason.SENDER_REJECTED),
}


_COMMANDS = {"rcpt": "rcpt to", "mail": "mail from", ".": "data", "end of data": "data",
             "banner": "connect", "greeting": "connect"}


def classify_reply(code: int | None, status: str | None, text: str,
                   command: str | None = None, *,
                   default_command: str | None = None) -> tuple[Group, Reason]:
    """(group, reason) for one SMTP reply, e.g. ``(550, "5.1.1", "user unknown")``.

    ``code`` and ``status`` may be None; when they are, they are looked for in ``text``.
    ``command`` is the SMTP command the reply answered ("RCPT TO", "DATA", ...) when the
    caller knows it, as the relay does; otherwise the text is searched for it, and
    ``default_command`` is taken when the text names none (a provider that reports a
    recipient's bounce from its own SMTP session).
    """
    if code is None or status is None:
        found_code, found_status = reply_numbers(text)
        code = code if code is not None else found_code
        status = status if status is not None else found_status
    folded = _fold(text)
    command = _command_name(command) if command is not None else \
        _command((folded,)) or (_command_name(default_command) if default_command else None)
    reason = _reason(code, status, (folded,), command=command)
    return group_for(reason, is_permanent(code, status)), reason


def _command_name(command: str) -> str:
    command = " ".join(command.lower().replace(":", " ").replace("_", " ").split())
    return _COMMANDS.get(command, command)


def reply_numbers(text: str, failures_only: bool = False) -> tuple[int | None, str | None]:
    """The first SMTP reply code and enhanced status code in ``text``; with
    ``failures_only``, the first 4xx or 5xx ones (a transcript also shows the 250s)."""
    classes = "45" if failures_only else "245"
    for m in _CODE_AND_STATUS.finditer(text):
        if m.group(1)[0] in classes:
            return int(m.group(1)), m.group(2)
    code = next((int(m.group(1)) for m in _CODE.finditer(text) if m.group(1)[0] in classes), None)
    status = next((m.group(0) for m in _STATUS.finditer(text) if m.group(1) in classes), None)
    return code, status


_URL = re.compile(r"\b(?:https?|ftp)://([^/\s>\])]+)[^\s>\])]*", re.I)


def _fold(text: str) -> str:
    """Lower case, one space between words, and links cut to their host: a server's words
    decide, not the paths and anchors of the help pages it links to."""
    return _SPACE.sub(" ", _URL.sub(r"\1", text)).strip().lower()


def _first_match(table, texts: Iterable[str]) -> Reason | None:
    for text in texts:
        if text:
            for reason, pattern in table:
                if pattern.search(text):
                    return reason
    return None


def _command(texts: Iterable[str]) -> str | None:
    """The SMTP command the refusal answered, as far as the text says.

    ``texts`` are about one recipient, most specific first; the first that names a command
    decides. In it, the command named nearest before the first 4xx/5xx reply wins (Exim's
    "after RCPT TO:<...>: 550 ...", a transcript's ">>> RCPT To:<...>" then "<<< 550"), else
    the first named after it (Postfix's "550 ... (in reply to RCPT TO command)"): so a
    transcript that goes on to ">>> DATA" and "<<< 503 need RCPT" is not read as a refusal
    of DATA.
    """
    for text in texts:
        mentions = sorted((m.start(), command or next(g for g in m.groups() if g))
                          for pattern, command in formats.SMTP_COMMAND
                          for m in pattern.finditer(text)) if text else []
        if not mentions:
            continue
        reply = next((m.start() for m in _CODE.finditer(text) if m.group(1)[0] in "45"),
                     len(text))
        before = [name for at, name in mentions if at < reply]
        name = before[-1] if before else mentions[0][1]
        return _command_name(name)
    return None


def _reason(code: int | None, status: str | None, texts: Sequence[str],
            hints: Sequence[str] = (), delayed: bool = False, command: str | None = None) -> Reason:
    """The reason for one failure. ``texts`` are folded diagnostics, most specific first
    (the DSN's Diagnostic-Code, then the human-readable lines about the recipient);
    ``hints`` are folded report texts (preamble, subject) consulted only after the codes.

    Order: what the server said (the first text) beats the status code, and a telling
    status code beats the human-readable part, which reporting MTAs write in their own,
    looser words."""
    if (status or "").startswith("2") or (code is not None and 200 <= code < 300):
        return Reason.DELIVERED
    reason = _first_match(SPECIFIC, texts[:1])
    by_status, weak = reason_for_status(status) if status else (None, False)
    if reason is None and by_status is not None and not weak:
        reason = by_status
    if reason is None:
        reason = _first_match(SPECIFIC, texts[1:])
    if reason is None:
        reason = _first_match(GENERIC, texts) or by_status
    if reason is None:
        reason = _first_match(SPECIFIC, hints) or REPLY.get(code)
    if reason is None:
        reason = Reason.EXPIRED if delayed else Reason.OTHER
    command = command or _command(texts) or _command(hints)
    if reason is Reason.OTHER and command == "data" and is_permanent(code, status, False):
        # The address was accepted at RCPT TO; what was refused for good is the message.
        reason = Reason.POLICY
    return _settle(reason, status, by_status, command, texts)


def _settle(reason: Reason, status: str | None, by_status: Reason | None, command: str | None,
            texts: Sequence[str]) -> Reason:
    """Weigh what the text says against the SMTP command it answered and the status code.

    Words about the recipient's existence ("no such user", "user unknown") prove that the
    mailbox does not exist (``user_unknown``, hard) only when

    - the status code says so too (X.1.1 and Exchange's X.1.10, X.1.351, X.4.1), or
    - the server said them in answer to RCPT TO, the one command that asks it about an
      address, whatever other status code it sent (X.0.0, X.2.1, X.5.0, X.7.1), or
    - the system that holds the mailbox decided by itself, with no SMTP dialogue: its local
      delivery agent or its directory (Diagnostic-Code of type X-Postfix, X-Notes, ...;
      Exchange's "recipient name is not recognized", Domino's "not listed in Domino
      Directory"), or
    - the server is known to check addresses only after DATA and says so in its own words
      (Yahoo's "dd" replies, au's "550 <address>: User unknown").

    A hard status code that says something else (X.1.6 moved, X.1.2 no such host) wins.
    Otherwise, said in answer to DATA, after the server had accepted the address at RCPT
    TO, or when the report does not say which command they answered, or under a "mailbox
    disabled" status (X.2.0, X.2.1), they are the recipient's own filter or forwarding
    speaking (``filtered``, block): no proof that the address is dead. Before RCPT TO they
    are about the sender: at MAIL FROM the sender's address, while connecting the sending
    host.
    """
    if reason is Reason.USER_UNKNOWN:
        if by_status is reason or command in ("rcpt to", "local") or \
                any(USER_UNKNOWN_AFTER_DATA.search(t) for t in texts if t):
            return reason
        if by_status is not None and group_for(by_status) is Group.HARD:
            return by_status
        if command not in _BY_COMMAND:
            return Reason.FILTERED
    return _BY_COMMAND.get(command, {}).get(reason, reason) if command else reason


# ---------------------------------------------------------------------------------------
# Reading the message

_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-][A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,}(?![\w-])")
_TAGS = re.compile(r"<(?:script|style)\b.*?</(?:script|style)>|<[^>]+>", re.S | re.I)
_FIELD = re.compile(r"^([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*)$")
_DSN_TEXT = re.compile(r"^(?:final|original)-recipient\s*:", re.I | re.M)
_FEEDBACK_TEXT = re.compile(r"^feedback-type\s*:\s*\S", re.I | re.M)
_ORIGINAL_TYPES = frozenset({"message/rfc822", "message/global", "text/rfc822-headers",
                             "text/rfc822-header", "message/rfc822-headers",
                             "message/global-headers"})
_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})


@dataclass
class _Parts:
    texts: list[str] = field(default_factory=list)      # what the report says to people
    html: list[str] = field(default_factory=list)
    dsn: list[str] = field(default_factory=list)        # delivery-status bodies
    feedback: list[str] = field(default_factory=list)   # feedback-report bodies
    original: Message | None = None                     # the returned message (or headers)


# ISO-2022-JP that lost its escape bytes on the way: ``$B...(B``.
_BARE_JIS = re.compile(r"\$B([\x21-\x7e]+?)\(B")


def _repair_jis(text: str) -> str:
    def decode(m: re.Match) -> str:
        try:
            return f"\x1b$B{m.group(1)}\x1b(B".encode("ascii").decode("iso-2022-jp")
        except UnicodeDecodeError:
            return m.group(0)
    return _BARE_JIS.sub(decode, text) if "$B" in text else text


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or ("iso-2022-jp" if b"\x1b$B" in payload else "utf-8")
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _as_text(part: Message) -> str:
    """A message/* part's body as text, whether the parser split it into blocks or not."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n\n".join("\n".join(f"{k}: {v}" for k, v in block.items()) for block in payload)
    return _decode(part)


def _collect(part: Message, acc: _Parts) -> None:
    ctype = part.get_content_type()
    if ctype in _ORIGINAL_TYPES and not acc.dsn and _is_report(part):
        # A bounce that forwards the real report as an attachment: read that one.
        _collect(part.get_payload()[0], acc)
    elif ctype in _ORIGINAL_TYPES:
        if acc.original is None:
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                acc.original = payload[0]
            else:
                acc.original = _headers(_decode(part))
    elif ctype in _DSN_TYPES:
        acc.dsn.append(_as_text(part))
    elif ctype == "message/feedback-report":
        acc.feedback.append(_as_text(part))
    elif part.get_content_maintype() == "multipart":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                _collect(sub, acc)
        else:  # boundaries missing or mangled: read it as the text it is
            acc.texts.append(_decode(part))
    elif ctype == "text/html":
        acc.html.append(_decode(part))
    elif part.get_content_maintype() == "text":
        acc.texts.append(_decode(part))


def _is_report(part: Message) -> bool:
    payload = part.get_payload()
    return isinstance(payload, list) and bool(payload) and \
        payload[0].get_content_type() == "multipart/report" and \
        payload[0].get_param("report-type") in ("delivery-status", "feedback-report")


def _headers(text: str) -> Message:
    """The header block at the start of ``text`` (a returned message, its body ignored)."""
    return HeaderParser(policy=compat32).parsestr(text.lstrip(), headersonly=True)


_REPEATABLE = ("original-rcpt-to", "removal-recipient")


def _fields(text: str) -> list[dict[str, str]]:
    """DSN or ARF fields as records: a new record at each blank line, and at each
    Final-/Original-Recipient that would repeat a field the current record has."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                records.append(current)
            current, name = {}, None
            continue
        if line[0] in " \t" and name:
            current[name] += " " + line.strip()
            continue
        m = _FIELD.match(line)
        if not m:
            continue
        name, value = m.group(1).lower(), m.group(2).strip()
        starts = name in ("final-recipient", "original-recipient")
        if starts and (name in current or "action" in current or "status" in current):
            records.append(current)
            current = {}
        if name in current and name in _REPEATABLE:
            current[name] += "\n" + value
        else:
            current.setdefault(name, value)
    if current:
        records.append(current)
    return records


def _address(value: str | None) -> str | None:
    if not value:
        return None
    m = _ADDRESS.search(value.partition(";")[2] if ";" in value else value)
    return m.group(0).strip(".").lower() if m else None


def _header_addresses(msg: Message | None, names: Iterable[str]) -> list[str]:
    if msg is None:
        return []
    found = (a.strip(".").lower() for name in names for v in msg.get_all(name) or ()
             for a in _ADDRESS.findall(str(v)))
    return list(dict.fromkeys(found))


_HEADER_OR_FOLD = re.compile(r"[\w-]+:|[ \t]")


def _split_original(text: str) -> tuple[str, str]:
    """(the report's own words, the returned message inline after them, without the
    separator line). The copy starts at a separator line, or at a header block."""
    lines = text.splitlines(keepends=True)
    offset = 0
    for i, line in enumerate(lines):
        if len(line) < 160 and formats.ORIGINAL_START.match(line.rstrip()):
            return text[:offset], text[offset + len(line):]
        if i > 0 and formats.HEADER_BLOCK.match(line) and i + 1 < len(lines) and \
                _HEADER_OR_FOLD.match(lines[i + 1]):
            return text[:offset], text[offset:]
        offset += len(line)
    return text, ""


@dataclass
class _Block:
    address: str
    lines: list[str] = field(default_factory=list)


def _text_recipients(text: str, excluded: set[str], senders: set[str],
                     noise: Sequence[str]) -> tuple[list[_Block], str]:
    """Recipients named in a report's text, each with the lines about it, and the preamble.

    A line naming an address starts (or continues) that address's block; the lines after
    it, up to the next line naming another recipient, are its diagnostic. ``excluded``
    addresses (message ids) never count. The sender's own addresses, role accounts
    (postmaster@...) and addresses on summary lines (``To:``, ``expanded from``) only count
    when the text names nobody else: a message sent to oneself bounces too.
    """
    lines = []
    for line in text.splitlines():
        if formats.NOT_A_RECIPIENT_LINE.match(line):
            continue
        for n in noise:
            line = line.replace(n, " ")
        found = [a for a in (a.strip(".").lower() for a in _ADDRESS.findall(line))
                 if a not in excluded] if "@" in line else []
        lines.append((line, found, bool(found) and bool(formats.SUMMARY_LINE.search(line))))
    role = lambda a: a.partition("@")[0] in formats.ROLE_LOCALPARTS  # noqa: E731
    for strict in (True, False):
        blocks: dict[str, _Block] = {}
        preamble: list[str] = []
        current: _Block | None = None
        for line, found, summary in lines:
            if strict:
                found = [] if summary else [a for a in found if a not in senders and not role(a)]
            if found and (current is None or current.address not in found):
                current = blocks.setdefault(found[0], _Block(found[0]))
            (current.lines if current else preamble).append(line)
        if blocks:
            break
    return list(blocks.values()), "\n".join(preamble)


def _excluded(msg: Message, original: Message | None) -> tuple[set[str], set[str]]:
    """(message ids, which never name a recipient; the sender's own addresses)."""
    ids: set[str] = set()
    for m in (msg, original):
        if m is not None:
            for name in ("message-id", "in-reply-to", "references"):
                ids.update(a.lower() for a in _ADDRESS.findall(str(m.get(name, ""))))
    senders = set(_header_addresses(msg, ("from", "to", "cc", "reply-to", "sender",
                                          "return-path", "errors-to")))
    senders.update(_header_addresses(original, ("from", "sender", "return-path", "reply-to",
                                                "errors-to")))
    return ids, senders


def _one_line(text: str, limit: int = 500) -> str:
    return _SPACE.sub(" ", text).strip()[:limit]


def _result(address: str | None, status: str | None, code: int | None, diagnostic: str,
            texts: Sequence[str], hints: Sequence[str] = (), delayed: bool = False,
            reason: Reason | None = None) -> RecipientResult:
    if reason is None:
        reason = _reason(code, status, [_fold(t) for t in texts], [_fold(h) for h in hints],
                         delayed)
    if reason is Reason.OTHER and address:
        reason = RECIPIENT_DOMAINS.get(address.rpartition("@")[2], reason)
    group = group_for(reason, is_permanent(code, status, default=not delayed))
    if delayed and group is Group.HARD:  # a temporary Action is never a hard bounce
        group = Group.SOFT
    return RecipientResult(address=address, status=status, group=group,
                           reason=reason, code=code, diagnostic=_one_line(diagnostic))


def _numbers(status_field: str | None, texts: Sequence[str]) -> tuple[int | None, str | None]:
    """Reply code and the most telling status: the DSN's own Status unless it is a
    catch-all (X.0.0) and the server's words carry a finer one."""
    status = None
    if status_field:
        m = _STATUS.search(status_field)
        status = m.group(0) if m else None
    code = None
    for text in texts:
        c, s = reply_numbers(text, failures_only=True)
        if code is None:
            code = c
        if s and (status is None or status.endswith(".0.0")):
            status = s
        if code is not None and status is not None:
            break
    return code, status


# ---------------------------------------------------------------------------------------
# parse

_RAW_SUBJECT = re.compile(rb"^subject:[ \t]*(.*)$", re.I | re.M)


def parse(raw: bytes) -> BounceReport:
    """Parse one message (as received, RFC 5322 bytes) into a report."""
    # One line ending: over SMTP it is CRLF, in mailbox files LF; the rules read lines.
    raw = raw.replace(b"\r\n", b"\n")
    msg = email.message_from_bytes(raw, policy=compat32)
    if "\ufffd" in str(msg.get("subject", "")):  # raw 8-bit UTF-8: the parser lost it
        m = _RAW_SUBJECT.search(raw[:raw.find(b"\n\n")])
        if m:
            msg.replace_header("subject", m.group(1).decode("utf-8", "replace"))
    parts = _Parts()
    _collect(msg, parts)
    if not parts.texts and parts.html:
        parts.texts = [unescape(_TAGS.sub(" ", h)) for h in parts.html]
    body = "\n".join(parts.texts)
    report_text, inline = _split_original(body)
    original = parts.original
    if original is None and inline.strip():
        original = _headers(inline)
    message_id = _original_message_id(original)

    if not parts.feedback:  # a feedback report sent as plain text
        parts.feedback = [t for t in parts.texts if _FEEDBACK_TEXT.search(t)]
    if parts.feedback or msg.get_param("report-type") == "feedback-report" or \
            _looks_like_complaint(msg, original):
        return _parse_feedback(parts, original, message_id)
    provider = _parse_provider_json(body)
    if provider is not None:
        return provider
    # The returned message's subject is the sender's words; they decide nothing.
    subject, original_subject = _decoded_header(msg, "subject"), _decoded_header(original, "subject")
    noise = [original_subject] if len(original_subject) > 3 else []
    excluded, senders = _excluded(msg, original)
    blocks, preamble = _text_recipients(report_text, excluded, senders, noise)
    hints = [preamble, subject.replace(original_subject, " ") if noise else subject]
    by_address = {b.address: "\n".join(b.lines) for b in blocks}

    dsn_text = parts.dsn or [t for t in parts.texts if _DSN_TEXT.search(t)]
    recipients = _parse_dsn(dsn_text, by_address, hints)
    if recipients:
        kind = ReportType.DELAYED if _only_delayed(dsn_text) else ReportType.DSN
        return BounceReport(kind, tuple(recipients), original_message_id=message_id)

    strong = _looks_like_bounce(msg, strong_only=True)
    if not strong and _looks_like_autoreply(msg, body):
        return _autoreply(msg, message_id)
    if not strong and not _looks_like_bounce(msg, strong_only=False, body=report_text):
        return BounceReport(ReportType.NOT_BOUNCE)

    failed = _header_addresses(msg, ("x-failed-recipients",))
    if failed:
        blocks = [next((b for b in blocks if b.address == a), _Block(a)) for a in failed]
    if not blocks:
        blocks = [_Block(a) for a in _header_addresses(original, formats.ORIGINAL_RECIPIENT)]
    if not blocks:
        # Mail from a person that only talks about a failed delivery names no one.
        kind = ReportType.UNKNOWN if strong else ReportType.NOT_BOUNCE
        return BounceReport(kind, original_message_id=message_id)
    delayed = bool(formats.DELAYED.search(subject) or formats.DELAYED.search(preamble))
    if delayed and not formats.PERMANENT.search(report_text):
        kind = ReportType.DELAYED
    else:
        kind = ReportType.DSN
    results = []
    for block in blocks:
        text = "\n".join(block.lines) or report_text
        code, status = _numbers(None, [text, preamble])
        results.append(_result(block.address, status, code, text, [text], hints, delayed))
    return BounceReport(kind, tuple(results), original_message_id=message_id)


def _only_delayed(texts: Sequence[str]) -> bool:
    """Whether every recipient record of the delivery-status parts says Action: delayed."""
    actions = [r.get("action", "").strip().lower() for t in texts for r in _fields(t)
               if {"final-recipient", "original-recipient"} & r.keys()]
    return bool(actions) and all(a == "delayed" for a in actions)


def _decoded_header(msg: Message | None, name: str) -> str:
    if msg is None or msg.get(name) is None:
        return ""
    value = str(msg.get(name))
    try:
        words = email.header.decode_header(value)
        return "".join(w.decode(c or "utf-8", errors="replace") if isinstance(w, bytes) else w
                       for w, c in words).strip()
    except (LookupError, ValueError, email.errors.MessageError):
        return value


def _original_message_id(original: Message | None) -> str | None:
    if original is None or not original.get("message-id"):
        return None
    return str(original.get("message-id")).strip()


_RECIPIENT_FIELDS = ("original-recipient", "final-recipient", "x-actual-recipient")


def _parse_dsn(texts: Sequence[str], by_address: dict[str, str],
               hints: Sequence[str]) -> list[RecipientResult]:
    """One result per recipient record of RFC 3464 delivery-status fields.

    The address is Original-Recipient (what was sent to, before aliases) when given, else
    Final-Recipient; one that is not an address takes the next one the text names.
    """
    results = []
    unclaimed = list(by_address)
    for text in texts:
        for record in _fields(text):
            if not {"final-recipient", "original-recipient"} & record.keys():
                continue
            named = [a for f in _RECIPIENT_FIELDS if (a := _address(record.get(f)))]
            address = named[0] if named else next(iter(unclaimed), None)
            unclaimed = [a for a in unclaimed if a not in named and a != address]
            block = "\n".join(by_address[a] for a in dict.fromkeys(named or [address])
                              if a in by_address)
            action = record.get("action", "").strip().lower()
            diagnostic = _repair_jis(record.get("diagnostic-code", ""))
            words = diagnostic.partition(";")[2] if ";" in diagnostic[:20] else diagnostic
            if action in ("delivered", "relayed", "expanded"):
                status = _STATUS.search(record.get("status", ""))
                results.append(_result(address, status.group(0) if status else None,
                                       reply_numbers(words)[0], words, (),
                                       reason=Reason.DELIVERED))
                continue
            code, status = _numbers(record.get("status"), [words] if words else [block])
            category = BOUNCE_CATEGORIES.get(record.get("x-powermta-bouncecategory", "").lower())
            results.append(_result(address, status, code, words or block, [diagnostic, block],
                                   hints, action == "delayed", category))
    return results


def _looks_like_bounce(msg: Message, strong_only: bool, body: str = "") -> bool:
    sender = _header_addresses(msg, ("from",))
    local = sender[0].partition("@")[0] if sender else ""
    name = str(msg.get("from", ""))
    if formats.DAEMON_SENDER.match(local) or formats.DAEMON_NAME.search(name) or not sender:
        return True
    if msg.get("x-failed-recipients") or msg.get_content_type() == "multipart/report":
        return True
    if formats.BOUNCE_SUBJECT.search(_decoded_header(msg, "subject")):
        return True
    return not strong_only and bool(formats.BOUNCE_BODY.search(body))


def _looks_like_autoreply(msg: Message, body: str) -> bool:
    for name, pattern in formats.AUTOREPLY_HEADERS:
        if any(pattern.search(str(v)) for v in msg.get_all(name) or []):
            return True
    hints = sum(1 for name, pattern in formats.AUTOREPLY_HINT_HEADERS
                if any(pattern.search(str(v)) for v in msg.get_all(name) or []))
    hints += bool(formats.AUTOREPLY_SUBJECT.search(_decoded_header(msg, "subject")))
    hints += bool(formats.AUTOREPLY_BODY.search(body[:4000]))
    return hints >= 2


def _autoreply(msg: Message, message_id: str | None) -> BounceReport:
    sender = _header_addresses(msg, ("from",)) or _header_addresses(msg, ("reply-to", "sender"))
    result = RecipientResult(address=sender[0] if sender else None, status=None,
                             group=Group.AUTOREPLY, reason=Reason.AUTOREPLY,
                             diagnostic=_one_line(_decoded_header(msg, "subject")))
    return BounceReport(ReportType.AUTOREPLY, (result,), original_message_id=message_id)


def _looks_like_complaint(msg: Message, original: Message | None) -> bool:
    if original is not None and any(original.get(h) for h in formats.COMPLAINT_ORIGINAL_RECIPIENT):
        return True
    return bool(formats.COMPLAINT_SUBJECT.search(_decoded_header(msg, "subject"))) and \
        original is not None


def _parse_feedback(parts: _Parts, original: Message | None,
                    message_id: str | None) -> BounceReport:
    fields: dict[str, str] = {}
    for text in parts.feedback:
        for record in _fields(text):
            for k, v in record.items():
                fields.setdefault(k, v)
    feedback_type = (fields.get("feedback-type") or "abuse").strip().lower()
    # Original-Rcpt-To (RFC 5965), Removal-Recipient (opt-out reports, RFC 6650)
    addresses = [a for name in _REPEATABLE for v in fields.get(name, "").splitlines()
                 if (a := _address(v))]
    if not addresses:
        addresses = _header_addresses(original, formats.COMPLAINT_ORIGINAL_RECIPIENT) or \
            _header_addresses(original, ("to",))
    results = tuple(RecipientResult(address=a, status=None, group=Group.COMPLAINT,
                                    reason=Reason.COMPLAINT, diagnostic=feedback_type)
                    for a in dict.fromkeys(addresses)) or \
        (RecipientResult(address=None, status=None, group=Group.COMPLAINT, reason=Reason.COMPLAINT,
                         diagnostic=feedback_type),)
    return BounceReport(ReportType.ARF, results, feedback_type=feedback_type,
                        original_message_id=message_id)


# Amazon SES bounceSubType -> reason, for when the diagnostic says nothing more.
_SES_SUBTYPES = {
    "noemail": Reason.USER_UNKNOWN, "suppressed": Reason.USER_UNKNOWN,
    "onaccountsuppressionlist": Reason.USER_UNKNOWN, "mailboxfull": Reason.MAILBOX_FULL,
    "messagetoolarge": Reason.TOO_BIG, "contentrejected": Reason.CONTENT,
    "attachmentrejected": Reason.VIRUS,
}


def _parse_provider_json(body: str) -> BounceReport | None:
    """An Amazon SES notification (bare, or wrapped in an SNS envelope) sent by mail."""
    start = body.find("{")
    if start < 0 or "notificationType" not in body and "eventType" not in body:
        return None
    # Lines over 990 characters come broken by relaying MTAs as "!" + newline + space.
    body = re.sub(r"!\r?\n ", "", body)
    try:
        data, _ = json.JSONDecoder().raw_decode(body[start:])
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    message_id = (data.get("mail") or {}).get("messageId")
    if kind == "bounce":
        bounce = data.get("bounce") or {}
        delayed = str(bounce.get("bounceType", "")).lower() == "transient"
        subtype = _SES_SUBTYPES.get(str(bounce.get("bounceSubType", "")).lower())
        results = []
        for r in bounce.get("bouncedRecipients") or []:
            diagnostic = str(r.get("diagnosticCode") or "")
            code, status = _numbers(r.get("status"), [diagnostic])
            result = _result(_address(r.get("emailAddress")), status, code, diagnostic,
                             [diagnostic], delayed=delayed)
            # SES held the SMTP dialogue: its NoEmail says the words answered RCPT TO
            if subtype and (result.reason is Reason.OTHER or result.reason is Reason.FILTERED
                            and subtype is Reason.USER_UNKNOWN):
                result = _result(result.address, status, code, diagnostic, (), reason=subtype)
            results.append(result)
        return BounceReport(ReportType.DSN, tuple(results), original_message_id=message_id)
    if kind == "complaint":
        complaint = data.get("complaint") or {}
        feedback_type = str(complaint.get("complaintFeedbackType") or "abuse").lower()
        results = tuple(RecipientResult(_address(r.get("emailAddress")), None, Group.COMPLAINT,
                                        Reason.COMPLAINT, diagnostic=feedback_type)
                        for r in complaint.get("complainedRecipients") or [])
        return BounceReport(ReportType.ARF, results, feedback_type=feedback_type,
                            original_message_id=message_id)
    if kind == "delivery":
        delivery = data.get("delivery") or {}
        response = str(delivery.get("smtpResponse") or "")
        code, status = reply_numbers(response)
        results = tuple(RecipientResult(_address(a), status, Group.DELIVERED, Reason.DELIVERED,
                                        code, _one_line(response))
                        for a in delivery.get("recipients") or [])
        return BounceReport(ReportType.DSN, results, original_message_id=message_id)
    return None

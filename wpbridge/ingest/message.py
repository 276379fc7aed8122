"""From what a client sent to one internal form: envelope + RFC 5322 bytes + context.

Both doors (HTTP and SMTP) produce a :class:`Submission`. Every check that can refuse a
message lives here and raises :class:`InvalidInput`, which names the field and the fix.
"""

from __future__ import annotations

import base64
import functools
import binascii
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from email import encoders, policy
from email.charset import QP, Charset
from email.header import Header
from email.mime.base import MIMEBase
from email.parser import BytesHeaderParser
from email.utils import formataddr, formatdate, getaddresses, make_msgid

from email_validator import EmailNotValidError, validate_email

# Headers the bridge writes itself from the structured fields.
_RESERVED = {"from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "sender",
             "mime-version", "content-type", "content-transfer-encoding", "return-path"}
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")
# The types an attachment may have: leaves of the MIME tree, never multipart/* or message/*.
_LEAF_TYPES = frozenset({"application", "audio", "font", "image", "model", "text", "video"})
_BCC = re.compile(rb"^Bcc:.*?\r\n(?![ \t])", re.IGNORECASE | re.MULTILINE | re.DOTALL)
MAX_CONTEXT_BYTES = 8192
_CRLF = policy.compat32.clone(linesep="\r\n")


def crlf(data: bytes) -> bytes:
    """Every line ending (CRLF, bare CR, bare LF) as CRLF."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


class InvalidInput(ValueError):
    """The request cannot be accepted: ``status`` 400 (malformed), 413 (too large) or 422."""

    def __init__(self, status: int, code: str, field: str, message: str, fix: str):
        super().__init__(f"{field}: {message}")
        self.status, self.code, self.field, self.message, self.fix = status, code, field, message, fix

    def as_json(self) -> dict:
        return {"error": {"code": self.code, "field": self.field, "message": self.message,
                          "fix": self.fix}}


@dataclass
class Submission:
    mail_from: str
    recipients: list[str]
    raw: bytes
    from_header: str
    subject: str
    headers: dict[str, str]  # the top-level headers, for the classifier
    context: dict = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    rewritten_from: str | None = None  # the sender the bridge replaced (ingest/sender.py)


# A header field's name as receivers read it: printable ASCII up to the colon, with the
# obsolete white space before the colon (RFC 5322 4.5.3) allowed, so "From :" is a From.
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def header_fields(head: bytes) -> list[tuple[str, str, int, int]]:
    """The fields of a header block (CRLF lines, no final empty line): (lower-case name,
    unfolded value, first line, line after the last) each, in order. A line that starts no
    field and continues none ends the scan, as it ends the header for a parser."""
    out: list[tuple[str, str, int, int]] = []
    lines = head.split(b"\r\n")
    i = 0
    while i < len(lines):
        m = _FIELD.match(lines[i])
        if not m:
            break
        j = i + 1
        while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
            j += 1
        value = b" ".join([lines[i][m.end():]] + [ln for ln in lines[i + 1:j]]).strip()
        out.append((m.group(1).decode("ascii").lower(), value.decode("utf-8", "replace"), i, j))
        i = j
    return out


# What may not stand in a header value, wherever it comes from (structured field, raw message,
# SMTP): every C0 control character but HTAB (CR and LF included), DEL, and the Unicode line
# breaks NEL, LS and PS. Python's header folder turns VT, FF, FS, GS and RS into line breaks
# in long values, so letting them through would let a value start a header field of its own.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2\x85|\xe2\x80[\xa8\xa9]")


def _describe(char: str) -> str:
    return {"\r": "CR", "\n": "LF"}.get(char, f"U+{ord(char):04X}")


def check_header_value(value: str, where: str) -> str:
    """Return ``value`` if it may stand in a header field; else raise 422 naming ``where``."""
    found = _CONTROL.search(value)
    if found:
        raise InvalidInput(422, "header_injection", where,
                           f"contains the control character {_describe(found.group())} at "
                           f"position {found.start()}",
                           "a header value must be one line of text: remove line breaks and "
                           "control characters (only tab is allowed)")
    return value


def check_raw_header(head: bytes) -> None:
    """The same rule for a raw message's header block (CRLF lines, folding allowed)."""
    found = _CONTROL_BYTES.search(head)
    if found:
        line = head.count(b"\r\n", 0, found.start()) + 1
        name = head[head.rfind(b"\r\n", 0, found.start()) + 2:found.start()].split(b":", 1)[0]
        raise InvalidInput(422, "header_injection", "raw",
                           f"header line {line} ({name[:40].decode('ascii', 'replace')!s}...) contains "
                           f"the control character {found.group()!r}",
                           "header values must be text without control characters (only tab is "
                           "allowed); encode other data in the body")


def check_address(value: str, where: str) -> str:
    """Return the normalised address, or raise 422 naming ``where``."""
    if not isinstance(value, str):
        raise InvalidInput(400, "malformed", where, "an address must be a string",
                           'send "user@example.com" or "Name <user@example.com>"')
    check_header_value(value, where)
    try:
        return _normalized(value)
    except EmailNotValidError as exc:
        raise InvalidInput(422, "invalid_address", where, f"{value[:200]!r} is not a valid "
                           f"address: {exc}", _address_fix(where)) from None


def _address_fix(where: str) -> str:
    """The fix for a bad address, by what the address is for."""
    kind = re.sub(r"^messages\[\d+\]\.|\[\d+\]$", "", where)
    if kind in ("to", "cc", "bcc", "envelope.to", "RCPT TO"):
        return "correct the address or leave the recipient out"
    if kind == "reply_to":
        return "correct the Reply-To address or leave it out"
    if kind in ("from", "envelope.from", "MAIL FROM", "headers.Sender"):
        return ("correct the sender address (in WordPress: the From address your site or its "
                "mail plugin sets)")
    return "correct the address"


@functools.lru_cache(maxsize=1024)
def first_address(header: str) -> str:
    """The first address in an address header, or "" (parsing is slow; From headers repeat)."""
    return next((a for _, a in getaddresses([header]) if a), "")


@functools.lru_cache(maxsize=4096)
def _normalized(value: str) -> str:
    """Validation is pure and senders repeat: keep the answers for valid addresses."""
    return validate_email(value, check_deliverability=False, allow_smtputf8=True).normalized


def sender_syntax(value: str, where: str) -> str:
    """A sender address as given, checked only for the form local@domain: whether it must
    also be a valid address depends on whether it is the site's (ingest/sender.py), since a
    foreign one such as WordPress's ``wordpress@localhost`` may be rewritten, not refused."""
    if not isinstance(value, str):
        raise InvalidInput(400, "malformed", where, "an address must be a string",
                           'send "shop@example.com" or "Shop <shop@example.com>"')
    check_header_value(value, where)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or re.search(r"[\s<>,;]", value):
        raise InvalidInput(422, "invalid_address", where, f"{value[:200]!r} is not an address",
                           _address_fix(where))
    return value


def _address_list(payload: dict, key: str, sender: bool = False) -> list[tuple[str, str]]:
    """Parse ``payload[key]`` (string or list of strings) into (display name, address);
    a ``sender`` is only checked for its form (see :func:`sender_syntax`)."""
    value = payload.get(key) or []
    single = isinstance(value, str)  # refusals then name the field itself, not [0]
    if single:
        value = [value]
    if not isinstance(value, list):
        raise InvalidInput(400, "malformed", key, "must be a string or a list of strings",
                           f'send "{key}": ["user@example.com"]')
    out = []
    for i, item in enumerate(value):
        where = key if single else f"{key}[{i}]"
        if not isinstance(item, str):
            raise InvalidInput(400, "malformed", where, "an address must be a string",
                               'send "user@example.com" or "Name <user@example.com>"')
        check_header_value(item, where)  # the display name goes into the header too
        pairs = getaddresses([item])
        if len(pairs) != 1 or not pairs[0][1]:
            raise InvalidInput(422, "invalid_address", where, f"{item[:200]!r} is not one address",
                               "give exactly one address per list item")
        out.append((pairs[0][0], (sender_syntax if sender else check_address)(pairs[0][1], where)))
    return out


def text_field(payload: dict, key: str, *, header: bool = False, required: bool = False) -> str:
    value = payload.get(key)
    if value is None:
        if required:
            raise InvalidInput(400, "malformed", key, "is missing", f'send "{key}"')
        return ""
    if not isinstance(value, str):
        raise InvalidInput(400, "malformed", key, "must be a string", f'send "{key}" as a string')
    return check_header_value(value, key) if header else value


def _context(payload: dict) -> dict:
    ctx = payload.get("context") or {}
    if not isinstance(ctx, dict):
        raise InvalidInput(400, "malformed", "context", "must be a JSON object",
                           'send "context": {"source": "wp_mail", ...}')
    for key, value in ctx.items():  # the classifier compares these values as text
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise InvalidInput(400, "malformed", f"context.{key}",
                               "must be a string, number, true/false or null",
                               f'send "context": {{"{key}": "..."}} with a plain value')
    if len(json.dumps(ctx)) > MAX_CONTEXT_BYTES:
        raise InvalidInput(422, "context_too_large", "context",
                           f"is larger than {MAX_CONTEXT_BYTES} bytes", "send only the keys the bridge uses")
    return ctx


class _Utf8(str):
    """An address field holding an internationalised address (RFC 6532): written as UTF-8,
    never as encoded words (an address cannot be one), and relayed only with SMTPUTF8."""


def _format(name: str, addr: str) -> str:
    if addr.isascii():
        return formataddr((name, addr), charset="utf-8")
    if not name:
        return addr
    return formataddr((name, "x@x.invalid"), charset="utf-8")[:-len("<x@x.invalid>")] + f"<{addr}>"


def _addresses(pairs: list[tuple[str, str]]) -> str:
    if all(addr.isascii() for _, addr in pairs):
        return ", ".join(_format(n, a) for n, a in pairs)
    return _Utf8(",\r\n ".join(_format(n, a) for n, a in pairs))  # folded after each address


def _charset(text: str) -> Charset:
    if text.isascii():
        return Charset("us-ascii")
    cs = Charset("utf-8")
    cs.body_encoding = QP  # readable in the raw message, unlike base64
    return cs


def from_json(payload: object, max_bytes: int) -> Submission:
    """Build a submission from the HTTP API's JSON (structured or ``raw`` form)."""
    if not isinstance(payload, dict):
        raise InvalidInput(400, "malformed", "body", "the body must be a JSON object",
                           "send a JSON object (see the OpenAPI document at /api/v1/openapi.yaml)")
    if "raw" in payload:
        return _from_raw_json(payload, max_bytes)
    return _from_structured(payload, max_bytes)


def _from_structured(p: dict, max_bytes: int) -> Submission:
    senders = _address_list(p, "from", sender=True)
    if len(senders) != 1:
        raise InvalidInput(422 if senders else 400, "malformed" if not senders else "invalid_address",
                           "from", "exactly one sender is required", 'send "from": "shop@example.com"')
    to, cc, bcc = _address_list(p, "to"), _address_list(p, "cc"), _address_list(p, "bcc")
    reply_to = _address_list(p, "reply_to")
    if not (to or cc or bcc):
        raise InvalidInput(422, "no_recipients", "to", "the message has no recipients",
                           'add at least one address to "to", "cc" or "bcc"')
    subject = text_field(p, "subject", header=True)
    text, html = text_field(p, "text"), text_field(p, "html")
    extra = p.get("headers") or {}
    if not isinstance(extra, dict):
        raise InvalidInput(400, "malformed", "headers", "must be an object of name: value",
                           'send "headers": {"X-Order": "1234"}')
    body = [_text_part(t, sub) for t, sub in ((text, "plain"), (html, "html")) if t]
    body = body[0] if len(body) == 1 else _multipart("alternative", body) if body else _text_part("", "plain")
    attachments = p.get("attachments") or []
    if not isinstance(attachments, list):
        raise InvalidInput(400, "malformed", "attachments", "must be a list of attachments",
                           'send "attachments": [{"filename": "a.pdf", "content_type": '
                           '"application/pdf", "content": "<base64>"}]')
    name, addr = senders[0]
    head = [("From", _addresses([(name, addr)]))]
    for header, pairs in (("To", to), ("Cc", cc), ("Reply-To", reply_to)):
        if pairs:
            head.append((header, _addresses(pairs)))
    head += [("Subject", subject), ("Date", formatdate(usegmt=True)),
             ("Message-ID", make_msgid(domain=addr.rpartition("@")[2]))]
    for hname, hvalue in extra.items():
        where = f"headers.{hname}"
        if not _HEADER_NAME.match(hname) or hname.lower() in _RESERVED:
            raise InvalidInput(422, "invalid_header", where,
                               "is not an allowed header name" if _HEADER_NAME.match(hname)
                               else "is not a valid header name",
                               "use the structured fields for From, To, Subject and the like; "
                               "other names must be printable ASCII without ':'")
        if not isinstance(hvalue, str):
            raise InvalidInput(400, "malformed", where, "must be a string", "send the value as a string")
        if any(hname.lower() == name.lower() for name, _ in head):  # names ignore case
            raise InvalidInput(422, "invalid_header", where, "names a header field given already "
                               "(header names ignore case)", "send each header name once")
        head.append((hname, check_header_value(hvalue, where)))
    parts = [body]
    for i, att in enumerate(attachments):
        where = f"attachments[{i}]"
        if not isinstance(att, dict) or not isinstance(att.get("content"), str):
            raise InvalidInput(400, "malformed", where, 'needs "filename", "content_type" and base64 "content"',
                               'send {"filename": "a.pdf", "content_type": "application/pdf", "content": "..."}')
        filename = att.get("filename") or f"attachment-{i + 1}"
        if not isinstance(filename, str):
            raise InvalidInput(400, "malformed", where + ".filename", "must be a string",
                               'send "filename" as a string')
        check_header_value(filename, where + ".filename")
        ctype = att.get("content_type") or "application/octet-stream"
        maintype, _, subtype = str(ctype).partition("/")
        if not subtype or not _HEADER_NAME.match(maintype) or not _HEADER_NAME.match(subtype):
            raise InvalidInput(422, "invalid_content_type", where + ".content_type",
                               f"{ctype!r} is not a MIME type", 'write it like "application/pdf"')
        if maintype.lower() not in _LEAF_TYPES:  # multipart/* or message/* would be MIME structure
            raise InvalidInput(422, "invalid_content_type", where + ".content_type",
                               f"{ctype!r} cannot be an attachment's type",
                               f"use a leaf type ({', '.join(sorted(_LEAF_TYPES))}/...), e.g. "
                               '"application/octet-stream"')
        part = MIMEBase(maintype, subtype)
        del part["MIME-Version"]
        part.set_payload(_b64(att["content"], where + ".content"))
        encoders.encode_base64(part)
        part.add_header("Content-Disposition", "attachment",
                        filename=filename if filename.isascii() else ("utf-8", "", filename))
        parts.append(part.as_bytes(policy=_CRLF))
    # The top-level headers go first, in the usual order; MIME-Version and Content-Type after.
    raw = (b"".join(_header(k, v) for k, v in head) + b"MIME-Version: 1.0\r\n"
           + (parts[0] if len(parts) == 1 else _multipart("mixed", parts)))
    _check_size(raw, max_bytes)
    return Submission(
        mail_from=addr, recipients=_unique([a for _, a in to + cc + bcc]), raw=raw,
        from_header=head[0][1], subject=subject, headers=dict(head), context=_context(p))


# Building MIME: the stdlib's generator folds every header through email.header.Header and
# writes line by line (about 0.3 ms for a 5 kB two-part message); the parts the bridge
# builds itself are simple enough to write directly, with C-speed quoted-printable.

def _header(name: str, value: str) -> bytes:
    """One header field; folded by the stdlib only when it is longer than 78 characters."""
    if isinstance(value, _Utf8):
        return f"{name}: {value}\r\n".encode("utf-8")
    if not value.isascii():  # RFC 2047 encoded words, folded between them
        return (f"{name}: ".encode() + Header(value, "utf-8", header_name=name)
                .encode(linesep="\r\n").encode("ascii") + b"\r\n")
    if len(name) + len(value) < 77:
        return f"{name}: {value}\r\n".encode("ascii")
    # Folded only before a space that is already there, so that unfolding gives back exactly
    # the value (the stdlib's compat32 folder may break right after "Name:", which adds a
    # leading space to what receivers read).
    words = value.split(" ")
    lines, line = [], f"{name}: {words[0]}"
    for word in words[1:]:
        if word and len(line) + 1 + len(word) > 78:
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    if max(map(len, lines)) > 998:  # one word too long for a line: RFC 2047 encoded words
        return (f"{name}: ".encode() + Header(value, "utf-8", header_name=name)
                .encode(linesep="\r\n").encode("ascii") + b"\r\n")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _text_part(text: str, subtype: str) -> bytes:
    """A text part with its MIME headers: 7bit when it is ASCII in lines of at most 998
    octets (RFC 5322 2.1.1), otherwise UTF-8 in quoted-printable."""
    data = text.encode("utf-8").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if text.isascii() and max(map(len, data.split(b"\n"))) <= 998:
        return (f'Content-Type: text/{subtype}; charset="us-ascii"\r\n'
                f"Content-Transfer-Encoding: 7bit\r\n\r\n").encode() + data.replace(b"\n", b"\r\n")
    qp = binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")  # soft breaks too
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + qp


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    """A multipart entity (headers and body) around ``parts`` (each with its own headers).
    A random boundary of 128 bits cannot occur in the parts by chance."""
    boundary = f"=_{secrets.token_hex(16)}"
    sep = f"\r\n--{boundary}\r\n".encode()
    return (f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
            + sep[2:] + sep.join(parts) + f"\r\n--{boundary}--\r\n".encode())


def _b64(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(400, "malformed", where, "is not valid base64",
                           "encode the bytes with standard base64 (RFC 4648)") from None


def _check_size(raw: bytes, max_bytes: int) -> None:
    if len(raw) > max_bytes:
        raise InvalidInput(413, "too_large", "body", f"the message is {len(raw)} bytes, over the "
                           f"limit of {max_bytes}", "send smaller attachments or raise "
                           "WPBRIDGE_MAX_MESSAGE_BYTES")


def _unique(addresses: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for a in addresses:
        seen.setdefault(a.lower(), a)
    return list(seen.values())


def _from_raw_json(p: dict, max_bytes: int) -> Submission:
    raw = _b64(p["raw"], "raw") if isinstance(p["raw"], str) else None
    if raw is None:
        raise InvalidInput(400, "malformed", "raw", "must be a base64 string",
                           'send "raw": "<base64 of the RFC 5322 message>"')
    env = p.get("envelope")
    if not isinstance(env, dict):
        raise InvalidInput(400, "malformed", "envelope", 'is required with "raw"',
                           'send "envelope": {"from": "...", "to": ["..."]}')
    mail_from = env.get("from")
    if not mail_from or not isinstance(mail_from, str):
        raise InvalidInput(400, "malformed", "envelope.from", "is missing",
                           "send the envelope sender, an address of one of the site's sending domains")
    mail_from = sender_syntax(mail_from, "envelope.from")
    rcpts = env.get("to") or []
    if isinstance(rcpts, str) or not isinstance(rcpts, list):
        raise InvalidInput(400, "malformed", "envelope.to", "must be a list of addresses",
                           'send "envelope": {"to": ["user@example.com"]}')
    if not rcpts:
        raise InvalidInput(422, "no_recipients", "envelope.to", "the message has no recipients",
                           "add at least one recipient to envelope.to")
    recipients = _unique([check_address(r, f"envelope.to[{i}]") for i, r in enumerate(rcpts)])
    return from_raw(mail_from, recipients, raw, max_bytes, _context(p))


def from_raw(mail_from: str, recipients: list[str], raw: bytes, max_bytes: int,
             context: dict | None = None) -> Submission:
    """Build a submission from an envelope and RFC 5322 bytes (HTTP ``raw`` form and SMTP).

    Line endings become CRLF, a Bcc header is removed (recipients are in the envelope), and a
    missing Date or Message-ID is added.
    """
    raw = crlf(raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    head, sep, _ = raw.partition(b"\r\n\r\n")
    if not sep:
        raise InvalidInput(422, "no_header", "raw", "the message has no header/body separator",
                           "send a complete RFC 5322 message: headers, an empty line, the body")
    check_raw_header(head)
    kept = _BCC.sub(b"", head + b"\r\n", count=0)[:-2]
    raw = kept + raw[len(head):]
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(kept + b"\r\n\r\n")
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise InvalidInput(422, "invalid_header", "raw", f"header name {name[:60]!r} is not valid",
                               "write each header as Name: value on its own line")
    from_header = next((v for name, v, _, _ in header_fields(kept) if name == "from"), None)
    if not from_header:
        raise InvalidInput(422, "no_from", "raw", "the message has no From header",
                           "add a From header with an address of one of the site's sending domains")
    prepend = b""
    if headers.get("Date") is None:
        prepend += f"Date: {formatdate(usegmt=True)}\r\n".encode()
    if headers.get("Message-ID") is None:
        domain = first_address(str(from_header)).rpartition("@")[2] or "wpbridge.invalid"
        prepend += f"Message-ID: {make_msgid(domain=domain)}\r\n".encode()
    raw = prepend + raw
    _check_size(raw, max_bytes)
    return Submission(mail_from=mail_from, recipients=recipients, raw=raw,
                      from_header=str(from_header), subject=str(headers.get("Subject") or ""),
                      headers={k: str(v) for k, v in headers.items()}, context=context or {})

"""What a logged message said: its headers, text and HTML bodies and the names of its
attachments, read from the bytes the queue keeps until retention prunes them."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

MAX_PART_CHARS = 200_000  # per body part: enough to read any receipt, bounded for the admin screen


def content_of(raw: bytes) -> dict:
    """``{"headers": [[name, value], ...], "text", "html", "attachments": [{filename,
    content_type, size}]}`` of an RFC 5322 message (pure). ``text``/``html`` are None when
    the message has no such part; a part longer than :data:`MAX_PART_CHARS` is cut."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    out = {"headers": [[k, str(v)] for k, v in msg.items()], "text": None, "html": None,
           "attachments": []}
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        filename = part.get_filename()
        if not filename and part.get_content_disposition() != "attachment" \
                and kind in ("text/plain", "text/html"):
            key = "text" if kind == "text/plain" else "html"
            if out[key] is None:
                try:
                    value = part.get_content()
                except (LookupError, ValueError):  # unknown charset: show what can be read
                    value = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
                out[key] = value[:MAX_PART_CHARS]
                continue
        payload = part.get_payload(decode=True) or b""
        out["attachments"].append({"filename": filename or "", "content_type": kind,
                                   "size": len(payload)})
    return out

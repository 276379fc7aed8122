"""The structured form becomes a MIME message that mail software reads back exactly."""

from __future__ import annotations

import base64
import email
from email import policy

import pytest

from wpbridge.ingest.message import from_json


def build(**fields):
    payload = {"from": "Shop <shop@example.com>", "to": ["alice@example.org"], "subject": "Hi"}
    payload.update(fields)
    sub = from_json(payload, 10**7)
    return sub, email.message_from_bytes(sub.raw, policy=policy.default)


@pytest.mark.parametrize("text,html", [
    ("plain only", None),
    (None, "<p>html only</p>"),
    ("Grüße, €5 — ünïcödé\nsecond line \nthird", "<p>Grüße</p>"),
    ("x" * 5000, None),                      # one ASCII line longer than 998 octets
    ("a\r\nb\rc\nd.\r\n.\r\nend", None),     # mixed line endings, a lone dot line
    ("", None),
])
def test_body_parts_round_trip(text, html):
    sub, msg = build(**({"text": text} if text is not None else {}),
                     **({"html": html} if html is not None else {}))
    for line in sub.raw.split(b"\r\n"):
        assert len(line) <= 998 and b"\r" not in line and b"\n" not in line
    if text is not None:
        want = text.replace("\r\n", "\n").replace("\r", "\n")
        assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == want
    if html is not None:
        assert msg.get_body(("html",)).get_content() == html
    assert msg["MIME-Version"] == "1.0"


def test_attachments_headers_and_folding():
    data = bytes(range(256)) * 40
    many = [f"person{i}@example.org" for i in range(30)]
    sub, msg = build(to=many, subject="Ihre Bestellung – " + "sehr lang " * 20, text="see attached",
                     html="<b>see attached</b>", headers={"X-Order-Id": "1001"},
                     attachments=[{"filename": "Rechnung-Nr-ü.pdf", "content_type": "application/pdf",
                                   "content": base64.b64encode(data).decode()},
                                  {"filename": "notes.txt", "content": base64.b64encode(b"n").decode()}])
    assert msg.get_content_type() == "multipart/mixed"
    assert [a.get_filename() for a in msg.iter_attachments()] == ["Rechnung-Nr-ü.pdf", "notes.txt"]
    assert next(msg.iter_attachments()).get_content() == data
    assert msg.get_body(("html",)).get_content() == "<b>see attached</b>"
    assert [a.addr_spec for a in msg["To"].addresses] == many
    assert msg["Subject"] == "Ihre Bestellung – " + "sehr lang " * 20
    assert msg["X-Order-Id"] == "1001" and msg.defects == []
    for line in sub.raw.split(b"\r\n"):
        assert len(line) <= 998

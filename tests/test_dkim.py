"""DKIM keys and signatures. Every signature is verified with dkimpy, which looks the key up
through dnspython in a real DNS server on loopback (tests/dns_server.py)."""

from __future__ import annotations

import logging
import re

import dkim as dkimpy
import dns.resolver
import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text

from tests.conftest import make_site, message
from tests.dns_server import DnsServer, txt_strings
from wpbridge import sites
from wpbridge.auth import dkim
from wpbridge.auth.dns_check import make_resolver
from wpbridge.ingest.message import from_json
from wpbridge.relay import compliance

SITE, DOMAIN = "shop.example.com", "example.com"


def add_keys(app, settings) -> int:
    """An Ed25519 key (selector ed1) and an RSA key (rsa1) for example.com; the site's id."""
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        ed = dkim.generate(session, settings.secret_key, SITE, DOMAIN, "ed25519", "ed1")
        dkim.generate(session, settings.secret_key, SITE, DOMAIN, "rsa", "rsa1")
        return ed.site_id


def zone_for(engine) -> str:
    """The DNS records of every key in the database, as the admin would publish them."""
    with engine.connect() as conn:
        rows = conn.execute(text("select domain, selector, algorithm, public_key from dkim_keys")).all()
    return "".join(f"{dkim.record_name(r.selector, r.domain)}. 300 IN TXT "
                   f"{txt_strings(dkim.txt_record(r.algorithm, r.public_key))}\n" for r in rows)


@pytest.fixture
def keyed(app, settings, engine):
    """A site with both keys published in a DNS server on loopback."""
    make_site(app, settings)
    site_id = add_keys(app, settings)
    with DnsServer(zone_for(engine)) as server:
        yield site_id, server


def dnsfunc(server):
    """dkimpy's TXT lookup, through dnspython, at the loopback server."""
    resolver = make_resolver(["127.0.0.1"], server.port)

    def get_txt(name, timeout=5):
        try:
            answer = resolver.resolve(name.decode() if isinstance(name, bytes) else name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer.rrset[0].strings)

    return get_txt


def signatures(raw: bytes) -> list[dict[str, str]]:
    head = raw.partition(b"\r\n\r\n")[0].decode()
    fields = re.findall(r"^DKIM-Signature:(.*?)\r\n(?![ \t])", head, re.M | re.S | re.I)
    return [{k.strip(): re.sub(r"\s+", "", v) for k, _, v in (t.partition("=") for t in f.split(";"))
             if k.strip()} for f in fields]


def verify_all(raw: bytes, server) -> list[bool]:
    """dkimpy's verdict on each signature, top first."""
    d = dkimpy.DKIM(raw)
    results = []
    for i in range(len(signatures(raw))):
        try:
            results.append(d.verify(idx=i, dnsfunc=dnsfunc(server)))
        except dkimpy.DKIMException:  # what dkimpy.verify() also turns into False
            results.append(False)
    return results


def order_mail(**kw) -> bytes:
    return from_json(message(cc=["bob@example.net"], reply_to=["support@example.com"], **kw),
                     10**7).raw


def newsletter() -> bytes:
    """A bulk message with the one-click unsubscribe headers the worker adds."""
    raw = from_json(message(subject="Our autumn news", context={}), 10**7).raw
    return compliance.add_list_headers(raw, "https://bridge.example.net/u/TOKEN", "bulk.shop.example.com")


def test_signed_with_both_keys_and_verified_by_dkimpy(keyed, engine, settings):
    site_id, server = keyed
    signed = dkim.Signer(engine, settings.secret_key).sign(site_id, order_mail())
    sigs = signatures(signed)
    assert [(s["a"], s["s"], s["d"], s["c"]) for s in sigs] == [
        ("ed25519-sha256", "ed1", DOMAIN, "relaxed/relaxed"),
        ("rsa-sha256", "rsa1", DOMAIN, "relaxed/relaxed")]
    assert verify_all(signed, server) == [True, True]
    assert ("ed1._domainkey.example.com.", "TXT") in server.zone.queries
    assert ("rsa1._domainkey.example.com.", "TXT") in server.zone.queries


@pytest.mark.parametrize("algorithm,selector", [("ed25519", "ed1"), ("rsa", "rsa1")])
def test_pure_sign_with_the_stored_key(keyed, engine, settings, algorithm, selector):
    _, server = keyed
    with engine.connect() as conn:
        blob = conn.execute(text("select private_enc from dkim_keys where selector = :s"),
                            {"s": selector}).scalar_one()
    pem = sites.decrypt_secret(settings.secret_key, blob, f"dkim:{DOMAIN}:{selector}")
    signed = dkim.sign(newsletter(), DOMAIN, selector, pem, algorithm)
    assert verify_all(signed, server) == [True]


def test_signature_covers_the_required_headers(keyed, engine, settings):
    site_id, _ = keyed
    signer = dkim.Signer(engine, settings.secret_key)
    h = signatures(signer.sign(site_id, order_mail()))[0]["h"].split(":")
    assert h == ["from", "from", "to", "cc", "reply-to", "subject", "date", "message-id",
                 "mime-version", "content-type"]
    bulk = signatures(signer.sign(site_id, newsletter()))[0]["h"].split(":")
    # RFC 8058: both one-click headers signed; oversigned, so a second one breaks the signature.
    assert bulk.count("list-unsubscribe") == 2 and bulk.count("list-unsubscribe-post") == 2
    assert bulk.count("from") == 2


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda m: m.replace(b"Subject: Our autumn news", b"Subject: Our winter news"), id="subject"),
    pytest.param(lambda m: m.replace(b"/u/TOKEN", b"/u/OTHER"), id="unsubscribe-url"),
    pytest.param(lambda m: b"List-Unsubscribe: <https://evil.example/u>\r\n" + m, id="second-unsubscribe"),
    pytest.param(lambda m: b"From: ceo@example.com\r\n" + m, id="second-from"),
    pytest.param(lambda m: m.replace(b"Thanks for your order.", b"Thanks for your money."), id="body"),
])
def test_tampered_message_fails(keyed, engine, settings, tamper):
    site_id, server = keyed
    signed = dkim.Signer(engine, settings.secret_key).sign(site_id, newsletter())
    assert verify_all(signed, server) == [True, True]
    assert verify_all(tamper(signed), server) == [False, False]


def test_relaxed_canonicalisation_survives_refolding(keyed, engine, settings):
    site_id, server = keyed
    signed = dkim.Signer(engine, settings.secret_key).sign(
        site_id, order_mail(text="Thanks for your order.\nSee you soon."))
    refolded = signed.replace(b"\r\nSubject: Your order", b"\r\nSubject:\r\n\t  Your  order")
    refolded = refolded.replace(b"Thanks for your order.", b"Thanks  for your order.   ")
    assert refolded != signed
    assert verify_all(refolded, server) == [True, True]


def test_private_keys_are_encrypted_at_rest(keyed, engine, settings):
    with engine.connect() as conn:
        rows = conn.execute(text("select domain, selector, private_enc, public_key from dkim_keys")).all()
    assert len(rows) == 2
    for r in rows:
        blob = bytes(r.private_enc)
        pem = sites.decrypt_secret(settings.secret_key, blob, f"dkim:{r.domain}:{r.selector}")
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
        assert b"PRIVATE KEY" not in blob
        assert not any(line.encode() in blob for line in pem.splitlines()[1:-1])
        assert dkim.public_key_b64(dkim.load_private_key(pem)) == r.public_key
        # Bound to its domain and selector: a blob copied to another key does not decrypt.
        with pytest.raises(InvalidTag):
            sites.decrypt_secret(settings.secret_key, blob, f"dkim:{r.domain}:other")


def test_selector_rotation(keyed, app, engine, settings):
    site_id, _ = keyed
    sessions = app.extensions["wpbridge"].sessions
    signer = dkim.Signer(engine, settings.secret_key)
    with sessions() as session, session.begin():
        new = dkim.generate(session, settings.secret_key, SITE, DOMAIN, "ed25519")
        selector = new.selector
        assert not new.active, "a second key of one algorithm waits until activated"
        assert re.fullmatch(r"wpb\d{6}e", selector)
    assert [s["s"] for s in signatures(signer.sign(site_id, order_mail()))] == ["ed1", "rsa1"]
    with sessions() as session, session.begin():
        dkim.activate(session, SITE, DOMAIN, selector)
    signer.forget(site_id)
    assert [s["s"] for s in signatures(signer.sign(site_id, order_mail()))] == [selector, "rsa1"]
    with sessions() as session:
        rows = dkim.site_keys(session, SITE)
        states = {r.selector: dkim.key_states(rows)[r.id] for r in rows}
    assert states == {"ed1": "active", selector: "signing", "rsa1": "signing"}
    with sessions() as session, session.begin():
        dkim.remove(session, SITE, DOMAIN, "ed1")
    with sessions() as session:
        assert sorted(r.selector for r in dkim.site_keys(session, SITE)) == sorted(["rsa1", selector])


def test_what_is_not_signed(keyed, engine, settings):
    site_id, server = keyed
    signer = dkim.Signer(engine, settings.secret_key)
    raw = order_mail()
    assert signer.sign(site_id, raw, enabled=False) == raw, "a route with dkim = false"
    other = order_mail(**{"from": "Shop <shop@example.net>"})
    assert signer.sign(site_id, other) == other, "no key for example.net"
    assert signer.sign(site_id + 1000, raw) == raw, "a site without keys"
    # A subdomain is signed with its parent's key: aligned under relaxed DMARC alignment.
    sub = signer.sign(site_id, order_mail(**{"from": "news@mail.example.com"}))
    assert [s["d"] for s in signatures(sub)] == [DOMAIN, DOMAIN]
    assert verify_all(sub, server) == [True, True]


def test_unreadable_key_sends_unsigned_and_says_why(keyed, engine, caplog):
    site_id, _ = keyed
    raw = order_mail()
    with caplog.at_level(logging.ERROR, logger="wpbridge.auth.dkim"):
        assert dkim.Signer(engine, "another-secret-key").sign(site_id, raw) == raw
    assert "cannot be read" in caplog.text and "was the bridge's secret key changed?" in caplog.text


def test_generate_refuses_what_cannot_work(keyed, app, settings):
    with app.extensions["wpbridge"].sessions() as session:
        for kwargs, words in [
            ({"domain": "example.net"}, "not one of this site's sending domains"),
            ({"selector": "bad_selector!"}, "not a usable selector"),
            ({"selector": "ed1"}, "in use already"),
            ({"algorithm": "dsa"}, "unknown DKIM algorithm"),
        ]:
            args = {"domain": DOMAIN, **kwargs}
            with pytest.raises(dkim.DkimError, match=words):
                dkim.generate(session, settings.secret_key, SITE, **args)


def test_relayed_message_arrives_signed_and_verifies(settings, engine, sink):
    """Needs the worker's signing hook: each Delivery's raw bytes pass through
    ``dkim.Signer.sign(site_id, raw, enabled=route's dkim option)``."""
    from tests.test_relay import drain, provider_settings, states
    from wpbridge.app import create_app
    from wpbridge.worker import Worker

    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}", public_url="https://bridge.example.net")
    app = create_app(s, engine)
    site = make_site(app, s)
    add_keys(app, s)
    worker = Worker(s, engine)
    try:
        receipt = site.post("/api/v1/messages", message()).json["id"]
        news = site.post("/api/v1/messages", message(
            subject="Our autumn news", context={},
            headers={"X-Mailer": "MailPoet", "Precedence": "bulk"})).json["id"]
        drain(worker, lambda: {*states(site, receipt).values(),
                               *states(site, news).values()} == {"delivered"})
    finally:
        worker.close()
    assert len(sink.received) == 2
    with DnsServer(zone_for(engine)) as server:
        for got in sink.received:
            assert got.data.startswith(b"DKIM-Signature:"), "the worker does not sign yet"
            assert verify_all(got.data, server) == [True, True]
    bulk = next(g for g in sink.received if g.message["Subject"] == "Our autumn news")
    assert bulk.message["List-Unsubscribe"].startswith("<https://bridge.example.net/u/")
    assert "list-unsubscribe-post" in signatures(bulk.data)[0]["h"].split(":")


def _reference_header(field_: bytes) -> bytes:
    """RFC 6376 3.4.2 written out plainly, to hold the fast canonicalisation to."""
    name, _, value = field_.partition(b":")
    value = re.sub(rb"[ \t]+", b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.lower().rstrip(b" \t") + b":" + value + b"\r\n"


def _reference_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4, line by line."""
    lines = [re.sub(rb"[ \t]+", b" ", line).rstrip(b" ") for line in body.split(b"\r\n")]
    while lines and lines[-1] == b"":
        lines.pop()
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


def test_canonicalisation_matches_the_rfc_text():
    import random

    rnd = random.Random(6376)
    atoms = [b" ", b"  ", b"\t", b" \t ", b"a", b"bc d", b"\r\n", b"\r\n ", b"\r\n\t", b":", b"\r\n\r\n", b"\x00"]
    names = [b"From", b"FROM ", b"to\t", b"Subject", b"List-Unsubscribe", b"Date"]
    for _ in range(3000):
        body = b"".join(rnd.choice(atoms) for _ in range(rnd.randint(0, 30)))
        assert dkim._relaxed_body(body) == _reference_body(body), body
        fields = []
        for _ in range(rnd.randint(1, 6)):
            value = b"".join(rnd.choice(atoms) for _ in range(rnd.randint(0, 8)))
            value = re.sub(rb"\r\n(?![ \t])", b"", value)  # a field's line breaks are folds
            fields.append(rnd.choice(names) + b":" + value)
        expected = b"".join(_reference_header(f) for f in fields)
        assert b"".join(dkim._relaxed_header(f) for f in fields) == expected, fields
        named = [(f.partition(b":")[0].rstrip(b" \t").lower().decode(), f) for f in fields]
        named = [(n, f) for n, f in named if n in dkim.SIGNED_HEADERS]
        assert dkim._relaxed_headers(named) == b"".join(_reference_header(f) for _, f in named), named


def test_newsletter_copies_reuse_the_body_hash(keyed, engine, settings, monkeypatch):
    site_id, server = keyed
    signer = dkim.Signer(engine, settings.secret_key)
    calls = []
    real = dkim._relaxed_body
    monkeypatch.setattr(dkim, "_relaxed_body", lambda body: calls.append(1) or real(body))
    base = newsletter()
    copies = [base.replace(b"/u/TOKEN", f"/u/TOKEN{i}".encode()) for i in range(3)]
    signed = [signer.sign(site_id, c) for c in copies]
    assert len(calls) == 1, "one body, hashed once"
    other = signer.sign(site_id, base.replace(b"Thanks for your order.", b"Thanks for your visit."))
    assert len(calls) == 2
    for raw in signed + [other]:
        assert verify_all(raw, server) == [True, True]
    assert len({signatures(raw)[0]["b"] for raw in signed}) == 3


def test_body_hash_taken_at_ingest_is_the_one_signing_computes():
    from wpbridge.ingest.message import from_json

    for text in ("plain  body \r\n\r\n\r\n", "", "Grüße\n" * 300):
        raw = from_json({"from": "shop@example.com", "to": ["a@example.org"], "subject": "s",
                         "text": text}, 10**7).raw
        assert dkim.body_hash(raw) == dkim.Prepared(raw).body_hash
    with_list = compliance.add_list_headers(raw, "https://bridge.example.net/u/T", "l.example.com")
    assert dkim.body_hash(with_list) == dkim.body_hash(raw)  # only headers are added on the way out

"""Properties of the HTTP doors, checked with generated input (hypothesis):

- any structured message the API accepts becomes bytes whose header block parses back
  (``email``, ``policy.default``) to exactly the submitted fields plus the bridge's own, with
  no control character in it;
- any JSON or bytes sent to any endpoint, signed or not, is answered below 500 (or with
  /readyz's deliberate 503), never with an internal error.

CI runs a small number of examples; ``WPBRIDGE_PROPERTY_EXAMPLES`` (or ``bench/fuzz.py``)
runs more."""

from __future__ import annotations

import json
import os
import re
from email import message_from_bytes, policy

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from wpbridge.ingest.message import InvalidInput, from_json
from wpbridge.ingest.signing import sign_headers

EXAMPLES = int(os.environ.get("WPBRIDGE_PROPERTY_EXAMPLES", "100"))
_PROPERTY = hsettings(max_examples=EXAMPLES, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])
# Header text as people and attackers write it: every code point class, control characters
# and Unicode line breaks included.
text = st.text(st.characters(codec="utf-8") | st.sampled_from(
    ["\x0b", "\x0c", "\x1c", "\x1e", "\x00", "\x7f", "\x85", "\u2028", "\r", "\n", "\t", " "]),
    max_size=120)
name = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)
address = st.sampled_from(["alice@example.org", "bob@example.net", "jörg@example.com",
                           "carol+tag@sub.example.org"])
header_name = st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True)
BRIDGE_OWN = {"date", "message-id", "mime-version", "content-type", "content-transfer-encoding"}
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def structured():
    return st.fixed_dictionaries({
        "from": st.builds(lambda n: f"{json.dumps(n)} <shop@example.com>" if n else
                          "shop@example.com", name),
        "to": st.lists(st.tuples(name, address).map(lambda p: f"{json.dumps(p[0])} <{p[1]}>"),
                       min_size=1, max_size=3),
        "subject": text,
        "text": text,
        "headers": st.dictionaries(header_name, text, max_size=3),
    })


@_PROPERTY
@given(structured())
def test_an_accepted_message_has_exactly_the_submitted_headers(payload):
    try:
        sub = from_json(payload, 10_000_000)
    except InvalidInput as refused:
        assert refused.status in (400, 422) and refused.field and refused.fix
        return
    head = sub.raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", head)
    parsed = message_from_bytes(sub.raw, policy=policy.SMTPUTF8)
    names = [k.lower() for k in parsed.keys()]
    submitted = {"from", "to", "subject"} | {k.lower() for k in payload["headers"]}
    assert set(names) - BRIDGE_OWN == submitted, names
    assert len(names) == len(set(names)), "no field twice"
    # Receivers drop white space around a value: compare what they read.
    assert str(parsed["Subject"]).strip() == payload["subject"].strip()
    for key, value in payload["headers"].items():
        assert str(parsed[key]).strip() == value.strip()
    for value in parsed.values():
        assert not CONTROL.search(str(value))


def _endpoints(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


bodies = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | text,
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                 max_leaves=20).map(lambda v: json.dumps(v).encode()),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
)


def check_every_endpoint(app, key_id, secret, method_path, body, signed):
    method, path = method_path
    client = app.test_client()
    headers = {"Content-Type": "application/json"}
    if signed:
        headers.update(sign_headers(key_id, secret, method, path, body))
    resp = client.open(path, method=method, data=body, headers=headers)
    # 503 is an answer (readiness, storage trouble: "try again"), 500 never is.
    assert resp.status_code < 500 or resp.status_code == 503, \
        (method, path, body[:200], resp.status_code, resp.data[:300])
    return resp.status_code


def test_any_input_to_any_endpoint_is_answered_below_500(app, site):
    endpoints = sorted(set(_endpoints(app)))
    assert len(endpoints) > 15, endpoints  # the API, webhooks, status pages, unsubscribe...

    @_PROPERTY
    @given(st.sampled_from(endpoints), bodies, st.booleans())
    def prop(method_path, body, signed):
        check_every_endpoint(app, site.key_id, site.secret, method_path, body, signed)

    prop()

"""Header injection through wp_mail() arguments: CR/LF in the subject, in addresses, in
names and in header values is refused or neutralised; it never becomes an extra header
or an extra recipient. Checked on what the provider receives through the bridge, and
against stock WordPress (plugin inactive) for the same calls."""

from __future__ import annotations

import pytest

from tests.wordpress.conftest import unique, wait_received

EVIL = "victim@evil.test"
INJECT = f"\r\nBcc: {EVIL}\r\nX-Injected: yes"

CASES = {
    "subject": dict(to="alice@example.net", subject="Hello" + INJECT),
    "to_address": dict(to=["alice@example.net", "bob@example.net" + INJECT]),
    "to_name": dict(to=f"Alice{INJECT} <alice@example.net>"),
    "header_value_in_array": dict(to="alice@example.net", headers=["X-Order-Id: 12" + INJECT]),
    "bare_cr_in_header_string": dict(to="alice@example.net",
                                     headers=f"X-Order-Id: 12\rBcc: {EVIL}\rX-Injected: yes"),
    "reply_to": dict(to="alice@example.net", headers=["Reply-To: help@example.com" + INJECT]),
    "cc_name": dict(to="alice@example.net", headers=[f"Cc: Carol{INJECT} <carol@example.net>"]),
    "from_name_filter": dict(to="alice@example.net", filters={"wp_mail_from_name": "Shop" + INJECT}),
    "attachment_name": dict(to="alice@example.net", attachments=[
        {"file": "a.txt", "name": "a.txt" + INJECT, "content": "YQo="}]),
}
ALLOWED_RECIPIENTS = {"alice@example.net", "bob@example.net", "carol@example.net"}


def send(env, sink, case: str) -> tuple[dict, list]:
    marker = unique(case)
    spec = dict(CASES[case], message=f"Body {marker}")
    spec.setdefault("subject", f"Injection {marker}")
    result = env.wp.send(**spec)
    got = wait_received(sink, lambda r: marker.encode() in r.data) if result["result"] else []
    return result, got


@pytest.fixture(scope="module")
def stock(wp_env):
    wp_env.wp.deactivate()
    try:
        return {case: send(wp_env, wp_env.stock_sink, case) for case in CASES}
    finally:
        wp_env.wp.activate()


@pytest.mark.parametrize("case", list(CASES))
def test_injection_is_refused_or_neutralised(env, stock, case):
    result, got = send(env, env.bridge_sink, case)
    stock_result, stock_got = stock[case]
    assert result["result"] == stock_result["result"], "the plugin answers as core does"
    assert len(got) == len(stock_got) <= 1
    if not result["result"]:
        assert result["failed"], "a refusal fires wp_mail_failed"
        return
    [copy] = got
    assert set(copy.rcpt_tos) <= ALLOWED_RECIPIENTS
    assert EVIL not in copy.rcpt_tos
    msg = copy.message
    assert "Bcc" not in msg and "X-Injected" not in msg
    for name, value in msg.items():
        assert "\r" not in str(value) and "\n" not in str(value), (name, value)
    for part in msg.walk():
        assert "X-Injected" not in part and "Bcc" not in part
    assert sorted(msg.keys()) == sorted(stock_got[0].message.keys())
    assert set(copy.rcpt_tos) == set(stock_got[0].rcpt_tos)

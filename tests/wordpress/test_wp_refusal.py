"""A message the bridge refuses for what it contains (422) makes wp_mail() return false
and fire wp_mail_failed with the bridge's explanation, like any mailer; it is not
spooled, since retrying cannot change the answer."""

from __future__ import annotations

import time

from tests.wordpress.conftest import unique


def test_a_422_returns_false_fires_wp_mail_failed_and_spools_nothing(env):
    subject = unique("Wrong sender domain")
    result = env.wp.send(to="alice@example.net", subject=subject, message="Body",
                         filters={"wp_mail_from": "shop@example.org"})
    assert result["result"] is False
    assert not result["queued"] and not result["spooled"] and "succeeded" not in result
    [failure] = result["failed"]
    assert failure["data"]["wpbridge_status"] == 422
    assert failure["data"]["wpbridge_error"]["code"] == "sender_domain"
    assert "example.org is not one of this site's sending domains" in failure["message"]
    assert "wpbridge site domains add" in failure["message"], "the fix travels with the error"
    assert failure["data"]["subject"] == subject
    state = env.wp.driver("state")
    assert state["spool"] == [] and state["cron_next"] is False
    assert "sending domains" in state["state"]["last_error"]
    time.sleep(0.5)
    assert not [r for r in env.bridge_sink.received if r.message["Subject"] == subject]


def test_no_valid_recipient_fails_as_in_core_without_calling_the_bridge(env):
    result = env.wp.send(to="not-an-address", subject=unique("Nobody"), message="Body")
    assert result["result"] is False and not result["queued"] and not result["spooled"]
    [failure] = result["failed"]
    # PHPMailer's own words, as core's wp_mail() reports them.
    assert failure["message"] == "You must provide at least one recipient email address."
    assert "wpbridge_status" not in failure["data"]

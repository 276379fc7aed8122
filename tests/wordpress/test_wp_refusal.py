"""A message the bridge refuses for what it contains (422) makes wp_mail() return false
and fire wp_mail_failed with the bridge's explanation, like any mailer; it is not
spooled, since retrying cannot change the answer."""

from __future__ import annotations

import time

import pytest

from tests.wordpress.conftest import unique


@pytest.fixture
def refusing(env):
    """The site refuses foreign senders (from_policy refuse) instead of rewriting them; the
    bridge is restarted so that no process keeps the old policy in its cache."""
    site = "shop.example.com"
    env.bridge.cli("site", "senders", site, "--from-policy", "refuse")
    env.bridge.stop()
    env.bridge.start()
    yield env
    env.bridge.cli("site", "senders", site, "--from-policy", "rewrite")
    env.bridge.stop()
    env.bridge.start()


# (wordpress@localhost: the bridge rewrites it too, see tests/test_from_policy.py; here the
# plugin's own address check still stops it before the bridge.)
@pytest.mark.parametrize("sender", ["wordpress@127.0.0.1", "wordpress@shop.example.com"])
def test_wordpress_default_senders_are_delivered(env, sender):
    """What core sends with on a site reached by IP, as localhost, or on a subdomain of the
    site's sending domain: delivered (from the site's domain), as stock WordPress would."""
    subject = unique("Password reset")
    result = env.wp.send(to="alice@example.net", subject=subject, message="Body",
                         filters={"wp_mail_from": sender})
    assert result["result"] is True and result["queued"], result
    deadline = time.monotonic() + 30
    while not (got := [r for r in env.bridge_sink.received if r.message["Subject"] == subject]):
        assert time.monotonic() < deadline, "not delivered"
        time.sleep(0.2)
    expected = sender if sender.endswith("@shop.example.com") else "wordpress@example.com"
    assert got[0].message["From"].addresses[0].addr_spec == expected


def test_a_422_returns_false_fires_wp_mail_failed_and_spools_nothing(refusing):
    env = refusing
    subject = unique("Wrong sender domain")
    result = env.wp.send(to="alice@example.net", subject=subject, message="Body",
                         filters={"wp_mail_from": "shop@example.org"})
    assert result["result"] is False
    assert not result["queued"] and not result["spooled"] and "succeeded" not in result
    [failure] = result["failed"]
    assert failure["data"]["wpbridge_status"] == 422
    assert failure["data"]["wpbridge_error"]["code"] == "sender_domain"
    assert failure["data"]["wpbridge_error"]["field"] == "from"
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

"""Context for the bridge's classifier: WooCommerce's email id and order id, the calling
plugin and the site URL reach the bridge with the message (read back through the
bridge's signed GET /api/v1/messages/<id>)."""

from __future__ import annotations

import pytest

from tests.wordpress.conftest import subject_is, unique, wait_received


@pytest.mark.parametrize("hooks", ["headers_and_callback_params", "headers_only"])
def test_woocommerce_email_id_and_order_id_reach_the_bridge(env, hooks):
    subject = unique("[Test Shop] New order #4711")
    result = env.wp.send(
        to="owner@example.net", subject=subject, message="<p>You have a new order.</p>",
        woo={"email_id": "new_order", "order_id": 4711, "from": "shop@example.com",
             "from_name": "Test Shop", "content_type": "text/html",
             "skip_callback_params": hooks == "headers_only"})
    assert result["result"] is True and len(result["queued"]) == 1, result

    record = env.bridge.message(result["queued"][0]["id"])
    assert record["context"] == {"source": "wp_mail", "site_url": env.wp.url + "/",
                                 "plugin": "wpbridge-test-driver",
                                 "wc_email_id": "new_order", "wc_order_id": 4711}
    # The bridge classified it from the context, not from the subject.
    assert record["category"] == "notification"
    assert any("new_order" in reason for reason in record["reasons"])

    # WooCommerce's temporary From and content-type filters were honoured.
    [copy] = wait_received(env.bridge_sink, subject_is(subject))
    assert copy.message["From"] == "Test Shop <shop@example.com>"
    assert copy.message.get_content_type() == "text/html"


def test_woocommerce_context_does_not_stick_to_the_next_mail(env):
    woo = env.wp.send(to="customer@example.net", subject=unique("Your order"), message="<p>Thanks</p>",
                      woo={"email_id": "customer_processing_order", "order_id": 12})
    plain = env.wp.send(to="admin@example.net", subject=unique("Password changed"), message="Notice")
    assert env.bridge.message(woo["queued"][0]["id"])["context"]["wc_email_id"] == "customer_processing_order"
    context = env.bridge.message(plain["queued"][0]["id"])["context"]
    assert "wc_email_id" not in context and "wc_order_id" not in context
    assert context["source"] == "wp_mail"


def test_core_mail_kind_reaches_the_bridge(env):
    """Core mails carry the name of the core filter that built them (wp_mail_kind), so
    the bridge classifies them by what they are, whatever the translated subject says."""
    env.wp.driver("create-user", {"login": "kindtest", "password": "pw-kindtest-1", "role": "subscriber"})
    result = env.wp.send(core_password_reset="kindtest")
    assert result["result"] is True and len(result["queued"]) == 1, result
    record = env.bridge.message(result["queued"][0]["id"])
    assert record["context"]["wp_mail_kind"] == "retrieve_password_notification_email"
    assert record["category"] == "transactional"
    assert any("retrieve_password_notification_email" in reason for reason in record["reasons"])

"""wp-admin parity with WP Mail SMTP and FluentSMTP, through a real WordPress and a real
bridge: the email log, one message's headers and body (and a plain word when retention
pruned it), resend of any message, removing a suppression (the way out of "remove it there
first"), alert contact, levels and the weekly summary. Every write is a signed bridge call
behind the capability check and a nonce. And status text that is true: the last error
clears on the first success, and with DISABLE_WP_CRON the notice gives the cron line."""

from __future__ import annotations

import html
import json
import re

import pytest

from tests.wordpress.conftest import subject_is, unique, wait_received
from tests.wordpress.test_wp_admin import PAGE, Browser, admin, hidden_fields  # noqa: F401
from tests.wordpress.test_wp_status_embed import open_frame, registered  # noqa: F401

POST = "/wp-admin/admin-post.php"


def tab(name: str, **args) -> str:
    return PAGE + f"&tab={name}" + "".join(f"&{k}={v}" for k, v in args.items())


@pytest.fixture(scope="module")
def subscriber(wp_env):
    wp_env.wp.driver("create-user", {"login": "subscriber2", "password": "pw-subscriber-2", "role": "subscriber"})
    b = Browser(wp_env.wp.url)
    b.request("/wp-login.php")
    b.request("/wp-login.php", {"log": "subscriber2", "pwd": "pw-subscriber-2", "wp-submit": "Log In",
                                "testcookie": "1"})
    return b


def delivered(env, **spec) -> str:
    """Send through wp_mail, wait until the bridge delivered it; the bridge's message id."""
    result = env.wp.send(**spec)
    assert len(result["queued"]) == 1, result
    assert wait_received(env.bridge_sink, subject_is(spec["subject"]))
    return result["queued"][0]["id"]


def refused_without_nonce_or_capability(admin, subscriber, form: dict) -> None:
    without = {k: v for k, v in form.items() if k != "_wpnonce"}
    status, page = admin.request(POST, without)
    assert status == 403 and "link you followed has expired" in page
    status, page = subscriber.request(POST, form)
    assert status == 403 and "not allowed to manage the mail bridge" in page


def test_view_a_logged_message_and_resend_it(env, admin, subscriber):
    subject = unique("Your receipt")
    mid = delivered(env, to="carol@example.net", subject=subject,
                    message="<p>Thanks, <b>Carol</b></p>", headers=["Content-Type: text/html"])
    _, page = admin.request(tab("log"))
    assert html.escape(subject) in page and f"message={mid}" in page
    _, page = admin.request(tab("log", message=mid))
    assert "carol@example.net" in page and "delivered" in page
    headers = dict(re.findall(r'<tr><th scope="row"[^>]*>([^<]+)</th><td>([^<]*)</td></tr>', page))
    assert html.unescape(headers["Subject"]) == subject and "carol@example.net" in headers["To"]
    frame = re.search(r'<iframe class="wpbridge-html" sandbox="" [^>]*srcdoc="([^"]*)"', page)
    assert frame and "<b>Carol</b>" in html.unescape(frame.group(1))  # shown, in a sandbox without scripts

    form = hidden_fields(page, "wpbridge_resend")
    refused_without_nonce_or_capability(admin, subscriber, form)
    assert len(wait_received(env.bridge_sink, subject_is(subject), count=2, timeout=2)) == 1
    status, page = admin.request(POST, form)
    assert status == 200 and "Handed to the bridge again as message" in page
    assert len(wait_received(env.bridge_sink, subject_is(subject), count=2)) == 2  # delivered again


def test_a_pruned_body_is_said_plainly(env, admin):
    subject = unique("Old receipt")
    mid = delivered(env, to="dave@example.net", subject=subject, message="Body to prune")
    env.bridge.cli("privacy", "prune", "--days", "0.000001")
    _, page = admin.request(tab("log", message=mid))
    assert "The body is no longer kept: the bridge keeps message bodies 30 days (body_retention_days)." in page
    assert "dave@example.net" in page and "Body to prune" not in page
    assert "wpbridge_resend" not in page


def test_resend_to_a_suppressed_address_leads_to_a_working_remove_button(env, admin, subscriber):
    subject = unique("Bounced once")
    mid = delivered(env, to="erin@example.net", subject=subject, message="Hi")
    status, _ = env.bridge.request("POST", "/api/v1/suppressions", json.dumps(
        {"address": "erin@example.net", "reason": "hard_bounce"}).encode())
    assert status == 201
    _, page = admin.request(tab("log", message=mid))
    status, page = admin.request(POST, hidden_fields(page, "wpbridge_resend"))
    assert "Not resent: erin@example.net is on this site&#039;s suppression list" in page
    remove = hidden_fields(page, "wpbridge_unsuppress")  # the flash offers the button
    assert remove["address"] == "erin@example.net"
    refused_without_nonce_or_capability(admin, subscriber, remove)
    assert env.bridge.request("GET", "/api/v1/suppressions")[1]["suppressions"][0]["address"] == "erin@example.net"
    status, page = admin.request(POST, remove)
    assert status == 200 and "erin@example.net is off the suppression list" in page
    assert env.bridge.request("GET", "/api/v1/suppressions")[1]["suppressions"] == []
    status, page = admin.request(POST, hidden_fields(admin.request(tab("log", message=mid))[1], "wpbridge_resend"))
    assert "Handed to the bridge again" in page
    assert len(wait_received(env.bridge_sink, subject_is(subject), count=2)) == 2


def test_suppressions_tab_lists_and_removes(env, admin, subscriber):
    env.bridge.request("POST", "/api/v1/suppressions", json.dumps(
        {"address": "frank@example.net", "reason": "unsubscribe"}).encode())
    _, page = admin.request(tab("suppressions"))
    assert "frank@example.net" in page and "unsubscribe" in page
    form = hidden_fields(page, "wpbridge_unsuppress")
    refused_without_nonce_or_capability(admin, subscriber, form)
    status, page = admin.request(POST, form)
    assert "frank@example.net is off the suppression list" in page
    assert "frank@example.net" not in admin.request(tab("suppressions"))[1]


def test_alert_contact_levels_and_weekly_summary(env, admin, subscriber):
    _, page = admin.request(tab("alerts"))
    assert "Bounce rate (1 h)" in page and 'name="thresholds[bounce_rate][warn]" value="3"' in page
    form = hidden_fields(page, "wpbridge_alert_settings")
    form.update({"contact_email": "ops@example.com", "weekly_summary": "1",
                 "thresholds[bounce_rate][warn]": "5", "thresholds[bounce_rate][critical]": "10",
                 "thresholds[complaint_rate][warn]": "0.1", "thresholds[complaint_rate][critical]": "0.3"})
    refused_without_nonce_or_capability(admin, subscriber, form)
    assert env.bridge.request("GET", "/api/v1/alert-settings")[1]["contact_email"] is None
    status, page = admin.request(POST, form)
    assert status == 200 and "Alert settings saved at the bridge." in page
    saved = env.bridge.request("GET", "/api/v1/alert-settings")[1]
    assert saved["contact_email"] == "ops@example.com"
    assert saved["weekly_summary"] == {"enabled": True, "to": "admin@example.com"}
    levels = {t["metric"]: (t["warn"], t["critical"]) for t in saved["thresholds"]}
    assert levels["bounce_rate"] == (0.05, 0.1) and levels["complaint_rate"] == (0.001, 0.003)
    assert 'name="thresholds[bounce_rate][warn]" value="5"' in page
    # A bad level: the bridge's error, naming the field, and nothing changed.
    form.update({"thresholds[bounce_rate][warn]": "20", "_wpnonce": hidden_fields(page, "wpbridge_alert_settings")["_wpnonce"]})
    status, page = admin.request(POST, form)
    assert "thresholds.bounce_rate.warn" in html.unescape(page) or "not below the critical level" in page
    assert env.bridge.request("GET", "/api/v1/alert-settings")[1] == saved
    form.update({"weekly_summary": "", "contact_email": "", "thresholds[bounce_rate][warn]": "3",
                 "thresholds[bounce_rate][critical]": "8"})
    admin.request(POST, form)
    reset = env.bridge.request("GET", "/api/v1/alert-settings")[1]
    assert reset["weekly_summary"]["enabled"] is False and reset["contact_email"] is None


def test_last_error_clears_on_the_first_success(env, admin):
    env.bridge.stop()
    assert env.wp.send(to="gina@example.net", subject=unique("while down"), message="Hi")["spooled"]
    assert env.wp.driver("state")["state"]["last_error"].startswith("The bridge could not be reached")
    _, page = admin.request(PAGE)
    assert '<th scope="row" style="width:10em">Last error</th>' in page
    env.bridge.start()
    subject = unique("back up")
    assert env.wp.send(to="gina@example.net", subject=subject, message="Hi")["queued"]
    state = env.wp.driver("state")["state"]
    assert state["last_error"] == "" and state["reachable"] is True
    _, page = admin.request(PAGE)
    assert '<th scope="row" style="width:10em">Last error</th>' not in page
    assert "reachable (last contact" in page
    _, page = admin.request("/wp-admin/")
    assert "could not be reached" not in page  # the notice no longer repeats the old error


def test_disable_wp_cron_notice_gives_the_cron_line(env, admin):
    assert "DISABLE_WP_CRON" in (env.wp.root / "wp-config.php").read_text()  # the harness sets it
    env.bridge.stop()
    assert env.wp.send(to="hank@example.net", subject=unique("no wp-cron"), message="Hi")["spooled"]
    _, page = admin.request("/wp-admin/")
    text = html.unescape(page)
    assert "DISABLE_WP_CRON is set" in text
    assert f"*/1 * * * * wp --path={env.wp.root} cron event run --due-now" in text
    assert f"curl -s {env.wp.url}/wp-cron.php" in text
    assert "every minute" not in text


def test_dashboard_widget_embeds_the_compact_view(registered, admin):  # noqa: F811
    env = registered
    _, page = admin.request("/wp-admin/")
    widget = page[page.index('id="wpbridge_status"'):]
    frame = re.search(r'<iframe class="wpbridge-status" src="([^"]+)"', widget)
    assert frame, "the widget frames the bridge"
    src = html.unescape(frame.group(1))
    assert src.startswith(f"{env.bridge.url}/status/embed/") and src.endswith("?view=widget")
    status, headers, body = open_frame(src)
    assert status == 200 and 'data-count="sent"' in body and "Last failure" in body
    assert "<h2>Queue</h2>" not in body  # the widget view, not the whole page squeezed
    assert "Full status page" in widget and "tab=log" in widget

"""wp-admin and WP-CLI: settings through the Settings API without ever printing the
secret back, capability and nonce on every write, the plugin's own status in a page, a
dashboard widget and a notice, conflicting mailer plugins named, `wp wpbridge test`,
and uninstall leaving nothing behind."""

from __future__ import annotations

import html
import http.cookiejar
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.wordpress import wp_harness as h
from tests.wordpress.conftest import unique

PAGE = "/wp-admin/options-general.php?page=wpbridge"


class Browser:
    """A logged-in wp-admin session (cookies, forms, redirects), over real HTTP."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, path: str, form: dict | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=60) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def login(self, user: str, password: str) -> "Browser":
        self.request("/wp-login.php")  # sets WordPress's test cookie
        status, page = self.request("/wp-login.php", {
            "log": user, "pwd": password, "wp-submit": "Log In", "testcookie": "1",
            "redirect_to": self.base + "/wp-admin/"})
        assert status == 200 and "wp-admin-bar" in page, "login failed"
        return self


def hidden_fields(page: str, action_value: str) -> dict:
    """The hidden inputs of the form that carries ``action_value`` (option page or action)."""
    for form in re.findall(r"<form\b.*?</form>", page, re.S):
        fields = {html.unescape(n): html.unescape(v) for n, v in re.findall(
            r"""<input type=["']hidden["'][^>]*?name=["']([^"']+)["'][^>]*?value=["']([^"']*)["']""", form)}
        if action_value in (fields.get("option_page"), fields.get("action")):
            return fields
    raise AssertionError(f"no form with {action_value!r} on the page")


@pytest.fixture(scope="module")
def admin(wp_env):
    return Browser(wp_env.wp.url).login("admin", "password")


@pytest.fixture
def no_constants(env):
    """Configuration from the settings page instead of wp-config constants."""
    env.wp.set_constants({})
    yield env
    env.wp.driver("reset-options")


def save_settings(admin, **values) -> tuple[int, str]:
    _, page = admin.request(PAGE)
    form = hidden_fields(page, "wpbridge")
    form.update({f"wpbridge_settings[{k}]": v for k, v in values.items()})
    return admin.request("/wp-admin/options.php", form)


def test_settings_page_saves_settings_and_never_prints_the_secret(no_constants, admin):
    env = no_constants
    status, page = save_settings(admin, url=env.bridge.url, key_id=env.bridge.key_id,
                                 secret=env.bridge.secret, timeout="2")
    assert status == 200 and "Settings saved." in page
    assert env.bridge.secret not in page
    assert env.bridge.key_id in page
    assert "stored; leave empty to keep it" in page

    result = env.wp.send(to="alice@example.net", subject=unique("configured in wp-admin"), message="Hi")
    assert len(result["queued"]) == 1, result

    # Saving again with the secret field left empty (as the page shows it) keeps the secret.
    status, page = save_settings(admin, url=env.bridge.url, key_id=env.bridge.key_id, secret="", timeout="1.5")
    assert status == 200 and "Settings saved." in page and env.bridge.secret not in page
    result = env.wp.send(to="alice@example.net", subject=unique("secret kept"), message="Hi")
    assert len(result["queued"]) == 1, result

    status_out = env.wp.cli("wpbridge", "status")
    assert "Secret:   set (site)" in status_out.stdout and env.bridge.secret not in status_out.stdout
    assert "Timeout:  1.5 s" in status_out.stdout


def test_settings_cannot_be_written_without_a_valid_nonce(no_constants, admin):
    _, page = admin.request(PAGE)
    form = hidden_fields(page, "wpbridge")
    form["_wpnonce"] = "0123456789"
    form["wpbridge_settings[url]"] = "http://127.0.0.1:9/evil"
    status, page = admin.request("/wp-admin/options.php", form)
    assert status == 403 and "link you followed has expired" in page
    assert "127.0.0.1:9/evil" not in admin.request(PAGE)[1]


def test_tools_check_capability_then_nonce(env, admin):
    # An administrator without the nonce: refused.
    status, page = admin.request("/wp-admin/admin-post.php", {"action": "wpbridge_test_connection"})
    assert status == 403 and "link you followed has expired" in page
    # A subscriber: refused by the capability check, before any nonce is looked at.
    env.wp.driver("create-user", {"login": "subscriber1", "password": "pw-subscriber-1", "role": "subscriber"})
    subscriber = Browser(env.wp.url)
    subscriber.request("/wp-login.php")
    subscriber.request("/wp-login.php", {"log": "subscriber1", "pwd": "pw-subscriber-1",
                                         "wp-submit": "Log In", "testcookie": "1"})
    status, page = subscriber.request("/wp-admin/admin-post.php", {"action": "wpbridge_send_test",
                                                                  "to": "x@example.net"})
    assert status == 403 and "not allowed to manage the mail bridge" in page
    # The administrator through the page's own forms.
    _, page = admin.request(PAGE)
    status, page = admin.request("/wp-admin/admin-post.php", hidden_fields(page, "wpbridge_test_connection"))
    assert status == 200 and "Connected: the bridge accepts this site&#039;s key (site shop.example.com)." in page
    _, page = admin.request(PAGE)
    form = hidden_fields(page, "wpbridge_send_test")
    form["to"] = "admin-test@example.net"
    status, page = admin.request("/wp-admin/admin-post.php", form)
    assert status == 200 and "The bridge queued the test message (id " in page


def test_status_page_widget_and_notice_show_waiting_mail(env, admin):
    _, page = admin.request("/wp-admin/")
    assert 'id="wpbridge_status"' in page, "dashboard widget"
    assert "waiting in the spool" not in page

    env.bridge.stop()
    subject = unique("waits")
    assert env.wp.send(to="alice@example.net", subject=subject, message="Hi")["spooled"]
    _, page = admin.request("/wp-admin/")
    # The harness's wp-config.php defines DISABLE_WP_CRON: the notice says how it is retried then.
    assert "wpbridge: 1 message is waiting in the spool; DISABLE_WP_CRON is set" in html.unescape(page)
    assert "every minute" not in page
    assert "The bridge could not be reached" in page
    _, page = admin.request(PAGE)
    assert html.escape(subject) in page and "unreachable" in page

    env.bridge.start()
    _, page = admin.request(PAGE)
    status, page = admin.request("/wp-admin/admin-post.php", hidden_fields(page, "wpbridge_flush"))
    assert status == 200 and "Handed to the bridge 1 (it delivers them and shows each in the Email log), refused by the bridge 0, still waiting 0." in page
    assert "Delivered 1" not in page  # handed over is not delivered
    _, page = admin.request("/wp-admin/")
    assert "waiting in the spool" not in page


def test_conflicting_mailer_plugin_is_named(env, admin):
    folder = env.wp.root / "wp-content" / "plugins" / "fluent-smtp"
    folder.mkdir()
    (folder / "fluent-smtp.php").write_text("<?php\n/**\n * Plugin Name: FluentSMTP (stand-in)\n */\n")
    try:
        env.wp.php("plugins.php", "activate", "fluent-smtp/fluent-smtp.php")
        _, page = admin.request("/wp-admin/")
        assert "FluentSMTP is active and also takes over how WordPress sends mail" in page
        out = env.wp.cli("wpbridge", "status")
        assert "Warning: FluentSMTP is active" in out.stderr
    finally:
        env.wp.php("plugins.php", "deactivate", "fluent-smtp/fluent-smtp.php")
        shutil.rmtree(folder)
    _, page = admin.request("/wp-admin/")
    assert "FluentSMTP" not in page


OTHER_MAILER = """<?php
/**
 * Plugin Name: Other mailer (stand-in)
 */
if ( ! function_exists( 'wp_mail' ) ) {
	function wp_mail( $to, $subject, $message, $headers = '', $attachments = array() ) {
		return true;
	}
}
add_action( 'plugins_loaded', function () {
	require_once ABSPATH . WPINC . '/PHPMailer/PHPMailer.php';
	$GLOBALS['phpmailer'] = new class( true ) extends PHPMailer\\PHPMailer\\PHPMailer {};
} );
"""


def test_replaced_wp_mail_and_phpmailer_are_named(env, admin):
    folder = env.wp.root / "wp-content" / "plugins" / "other-mailer"
    folder.mkdir()
    (folder / "other-mailer.php").write_text(OTHER_MAILER)
    try:
        env.wp.php("plugins.php", "activate", "other-mailer/other-mailer.php")
        _, page = admin.request("/wp-admin/")
        assert "wp_mail() is replaced by " + str(folder / "other-mailer.php") in page
        assert "The global $phpmailer is replaced by PHPMailer\\PHPMailer\\PHPMailer@anonymous" in html.unescape(page)
    finally:
        env.wp.php("plugins.php", "deactivate", "other-mailer/other-mailer.php")
        shutil.rmtree(folder)
    _, page = admin.request("/wp-admin/")
    assert "is replaced by" not in page


def test_wp_cli_test_and_status(env):
    out = env.wp.cli("wpbridge", "test", "--to=cli-test@example.net")
    assert out.returncode == 0, out.stderr
    assert "Success: The bridge at " + env.bridge.url + " accepts this site's key (site shop.example.com)." in out.stdout
    assert "Success: The bridge queued the test message" in out.stdout
    out = env.wp.cli("wpbridge", "status")
    assert "Bridge:   reachable" in out.stdout and env.bridge.secret not in out.stdout

    env.wp.set_constants({**env.default_constants(), "WPBRIDGE_SECRET": "wrong"})
    out = env.wp.cli("wpbridge", "test")
    assert out.returncode == 1
    assert "Error: The bridge answered 401: the request signature does not match" in out.stderr


def test_uninstall_drops_the_table_and_options(env):
    env.bridge.stop()
    env.wp.send(to="alice@example.net", subject=unique("left behind"), message="Hi")
    state = env.wp.driver("state")
    assert state["table_exists"] and state["spool"] and state["cron_next"]
    env.wp.php("uninstall.php", h.PLUGIN)
    state = env.wp.driver("state")
    assert state["table_exists"] is False
    assert state["options"] == [] and state["state"] is False and state["cron_next"] is False
    env.wp.activate()
    assert env.wp.driver("state")["table_exists"] is True

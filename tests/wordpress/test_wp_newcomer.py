"""The newcomer's first ten minutes, walked in a real browser (Debian's Chromium through
Playwright) on each WordPress release, exactly as README.md and readme.txt tell a user:

1. ``wpbridge serve --site shop.example.com --domain example.com`` in a fresh data
   directory, its provider a loopback SMTP server; the wp-config.php lines it prints;
2. the plugin's zip uploaded through Plugins > Add New > Upload Plugin and activated;
3. the printed lines pasted into wp-config.php;
4. "Send test email", a password reset (wp-login.php?action=lostpassword) and a new user
   with "Send the new user an email", all from WordPress's default sender
   (wordpress@127.0.0.1), all delivered to the loopback SMTP server;
5. the bridge's status page embedded on Settings > Mail bridge with no other command run.

Screenshots of that page at 480, 800 and 1,280 px wide are kept in tests/artifacts/
($WPBRIDGE_ARTIFACTS moves them) as CI artefacts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.smtp_sink import Sink, free_port
from tests.tools import needs_tool
from tests.wordpress import wp_harness as h
from tests.wordpress.conftest import wait_received

SITE = "shop.example.com"
DOMAIN = "example.com"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("WPBRIDGE_ARTIFACTS") or h.ROOT / "tests" / "artifacts")
WIDTHS = (480, 800, 1280)
DEFINE = re.compile(r"^define\( '(WPBRIDGE_[A-Z_]+)', '([^']*)' \);$")


class Serve:
    """``wpbridge serve --site ... --domain ...`` as a user starts it, its output kept."""

    def __init__(self, data_dir: Path, provider_port: int):
        self.port = free_port()
        self.lines: list[str] = []
        wpbridge = Path(sys.executable).with_name("wpbridge")  # the venv's console script
        env = dict(os.environ, WPBRIDGE_DATA=str(data_dir),
                   WPBRIDGE_PROVIDER=f"smtp://127.0.0.1:{provider_port}",
                   # Ports of its own: other tests and bridges may run on this machine.
                   WPBRIDGE_HTTP_PORT=str(self.port), WPBRIDGE_SMTP_PORT=str(free_port()),
                   WPBRIDGE_SMTP_TLS_PORT=str(free_port()))
        self.proc = subprocess.Popen([str(wpbridge), "serve", "--site", SITE, "--domain", DOMAIN],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def config_lines(self, timeout: float = 60.0) -> list[str]:
        """The wp-config.php lines serve printed, once it listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line.strip() for line in self.lines if DEFINE.match(line.strip())]
            if {DEFINE.match(line)[1] for line in found} >= {"WPBRIDGE_URL", "WPBRIDGE_KEY_ID", "WPBRIDGE_SECRET"}:
                h.wait_for_port(self.port, 60, self.proc)
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"serve printed no wp-config.php lines:\n{self.output}")

    def stop(self) -> None:
        h.stop_process(self.proc, 30)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    needs_tool(CHROMIUM, "apt-get install chromium")

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def fresh(wp_release, tmp_path):
    """A loopback SMTP server, the bridge started as a user starts it in a fresh data
    directory, and a freshly installed WordPress that has never seen the plugin."""
    with Sink() as sink:
        serve = Serve(tmp_path / "wpbridge-data", sink.port)
        wp = h.WordPress(tmp_path / "site", source=wp_release)
        wp.log_php_errors()
        try:
            wp.install(None, [])
            wp.serve()
            yield sink, serve, wp, tmp_path
        finally:
            wp.stop()
            serve.stop()
            wp.drop_tables()
            shutil.rmtree(wp.root, ignore_errors=True)


def received_by(sink: Sink, rcpt: str, subject_part: str):
    return wait_received(sink, lambda r: rcpt in r.rcpt_tos and subject_part in str(r.message["Subject"]),
                         timeout=30)


def assert_site_sender(received) -> None:
    """Sent as wordpress@127.0.0.1, delivered From an address of the site's own domain."""
    sender = received.message["From"].addresses[0]
    assert sender.domain == DOMAIN or sender.domain.endswith("." + DOMAIN), str(received.message["From"])


def status_frame(page):
    """The embedded status page, once loaded."""
    frame_el = page.locator("iframe.wpbridge-status")
    assert frame_el.count() == 1, page.locator(".wrap").inner_text()
    frame_el.scroll_into_view_if_needed()
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_load_state("load")
    return frame


def test_newcomer_path(fresh, browser, wp_release, request):
    sink, serve, wp, tmp = fresh
    release = request.node.callspec.id  # "wp6.1" / "wp6.5"
    config = serve.config_lines()
    assert "Traceback" not in serve.output

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(wp.url + "/wp-login.php")
    page.fill("#user_login", "admin")
    page.fill("#user_pass", "password")
    page.click("#wp-submit")
    page.wait_for_selector("#wpadminbar")

    # Plugins > Add New > Upload Plugin, the zip that wp-plugin/build-zip.sh makes.
    plugin_zip = h.build_plugin_zip(tmp / "dist")
    page.goto(wp.url + "/wp-admin/plugins.php")
    page.click("#menu-plugins a[href='plugin-install.php']")
    page.click("a.upload-view-toggle")
    page.set_input_files("#pluginzip", str(plugin_zip))
    page.click("#install-plugin-submit")
    page.click("a.button-primary:has-text('Activate Plugin')")
    assert page.locator("#message").inner_text().startswith("Plugin activated")
    assert page.locator("tr[data-plugin='wpbridge/wpbridge.php'].active").count() == 1

    # The lines serve printed, pasted into wp-config.php.
    wp.add_to_config("\n".join(config))

    # The plugin's "Settings" link on Plugins, then Send test email (to the admin's address,
    # as the form offers).
    page.locator("tr[data-plugin='wpbridge/wpbridge.php']").get_by_role("link", name="Settings").click()
    with page.expect_navigation():
        page.click("input[type=submit][value='Send test email']")
    notice = page.locator(".wrap .notice").first
    assert "notice-success" in notice.get_attribute("class"), notice.inner_text()
    assert "test message" in notice.inner_text()

    # A password reset, logged out, through wp-login.php's own form.
    visitor = browser.new_context().new_page()
    visitor.goto(wp.url + "/wp-login.php?action=lostpassword")
    visitor.fill("#user_login", "admin")
    with visitor.expect_navigation():
        visitor.click("#wp-submit")
    assert "checkemail=confirm" in visitor.url, visitor.locator("#login").inner_text()

    # Users > Add New, "Send the new user an email about their account" ticked.
    page.goto(wp.url + "/wp-admin/user-new.php")
    page.fill("#user_login", "newcomer")
    page.fill("#email", "newcomer@example.org")
    page.wait_for_function("document.querySelector('#pass1').value.length > 0")
    page.check("#send_user_notification")
    page.click("#createusersub")
    page.wait_for_url(re.compile(r"users\.php\?.*update=add"))

    test_mail = received_by(sink, "admin@example.com", "wpbridge test message")
    reset = received_by(sink, "admin@example.com", "Password Reset")
    new_user = received_by(sink, "newcomer@example.org", "Login Details")
    assert (len(test_mail), len(reset), len(new_user)) == (1, 1, 1), [
        (r.rcpt_tos, str(r.message["Subject"])) for r in sink.received]
    for received in (test_mail[0], reset[0], new_user[0]):
        assert_site_sender(received)
    assert "action=rp" in reset[0].message.get_body(("plain",)).get_content()

    # The bridge's status page inside wp-admin: no 'wpbridge admin site --origin' was run.
    page.goto(wp.url + "/wp-admin/options-general.php?page=wpbridge")
    frame = status_frame(page)
    assert "Mail status" in frame.locator("body").inner_text()
    assert SITE in frame.locator("body").inner_text()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(wp.url + "/wp-admin/options-general.php?page=wpbridge")  # a new one-time URL
        status_frame(page)
        page.evaluate("window.scrollTo(0, 0)")  # wp-admin's fixed bars where they belong
        page.screenshot(path=str(ARTIFACTS / f"newcomer-status-{release}-{width}.png"), full_page=True)
    context.close()

    # Nothing the plugin did on this WordPress made PHP complain.
    assert wp.plugin_complaints() == []
    assert "Traceback" not in serve.output

"""The bridge's status page inside a real wp-admin: the plugin asks the bridge server-side
(signed) for a one-time URL and frames it on the settings page and the dashboard widget;
no secret reaches the browser; the plugin's own status stays when the bridge is away."""

from __future__ import annotations

import html
import http.cookiejar
import re
import urllib.error
import urllib.request

import pytest

from tests.wordpress.test_wp_admin import PAGE, Browser

SITE = "shop.example.com"


@pytest.fixture(scope="module")
def admin(wp_env):
    return Browser(wp_env.wp.url).login("admin", "password")


@pytest.fixture
def registered(env):
    """The test WordPress's origin may frame the site's status page."""
    env.bridge.cli("admin", "site", SITE, "--origin", env.wp.url)
    yield env
    env.bridge.cli("admin", "site", SITE, "--remove-origin", env.wp.url)


def frame_src(page: str) -> str:
    found = re.findall(r'<iframe class="wpbridge-status" src="([^"]+)"', page)
    assert len(found) == 1, "one status frame"
    return html.unescape(found[0])


def open_frame(url: str) -> tuple[int, dict, str]:
    """What the browser does with the frame's URL: follow the redirect, keep the cookie."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        with opener.open(url, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_settings_page_frames_the_bridge_status_page(registered, admin):
    env = registered
    _, page = admin.request(PAGE)
    src = frame_src(page)
    assert src.startswith(f"{env.bridge.url}/status/embed/")
    assert env.bridge.secret not in page
    assert 'sandbox="allow-forms allow-same-origin"' in page
    assert "Spool" in page, "the plugin's own status is still on the page"

    status, headers, body = open_frame(src)
    assert status == 200 and f"Mail status <span class=\"site\">{SITE}</span>" in body
    assert headers["Content-Security-Policy"].endswith(f"frame-ancestors 'self' {env.wp.url}")
    # The URL worked once; a copy of the page's HTML is worth nothing later.
    status, _, body = open_frame(src)
    assert status == 403 and "used already or has expired" in body


def test_dashboard_widget_frames_it_and_falls_back_when_the_bridge_is_away(registered, admin):
    env = registered
    _, page = admin.request("/wp-admin/")
    widget = page[page.index('id="wpbridge_status"'):]
    assert frame_src(widget[:widget.index("</iframe>") + 9]).startswith(f"{env.bridge.url}/status/embed/")
    assert env.bridge.secret not in page

    env.bridge.stop()
    _, page = admin.request("/wp-admin/")
    widget = page[page.index('id="wpbridge_status"'):]
    assert "<iframe" not in page
    assert "status page cannot be shown here: The bridge could not be reached" in widget
    assert "Spool" in widget, "the plugin's own status as fallback"


def test_wp_admin_origin_may_frame_the_page_without_a_manual_step(env, admin):
    """No 'wpbridge admin site --origin': the plugin's signed embed-token request reports its
    wp-admin origin, and the bridge lets exactly that origin frame the site's page."""
    _, page = admin.request(PAGE)
    status, headers, body = open_frame(frame_src(page))
    assert status == 200 and headers["Content-Security-Policy"].endswith(
        f"frame-ancestors 'self' {env.wp.url}")
    assert f"May be embedded by: {env.wp.url}" in body

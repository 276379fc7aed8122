"""A real browser (Debian's headless Chromium, driven by Playwright) opens a wp-admin-like
parent page on one loopback origin that frames the status page served on another, after
real mail went through the bridge; used, expired and other sites' URLs get nothing.

The screenshot is kept in the test's tmp_path (and copied to $WPBRIDGE_SCREENSHOTS if set).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.conftest import make_site, message
from tests.smtp_sink import free_port
from tests.test_relay import drain, provider_settings, states
from tests.test_status import embed_url
from tests.tools import needs_tool
from wpbridge.app import create_app
from wpbridge.models import Site, utcnow
from wpbridge.status import access
from wpbridge.worker import Worker

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


class Parent:
    """Stand-in wp-admin pages on their own loopback origin: /<name> frames a given URL."""

    def __init__(self):
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = pages.get(self.path, "not found").encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def frame(self, name: str, src: str) -> str:
        self.pages[f"/{name}"] = (
            "<!doctype html><html><head><title>Dashboard ‹ Shop — WordPress</title></head>"
            "<body style=\"margin:0;font-family:sans-serif;background:#f0f0f1\">"
            "<div style=\"background:#1d2327;color:#fff;padding:8px 16px\">wp-admin (stand-in)</div>"
            "<h1 style=\"font-size:20px;margin:12px 16px\">Settings › Mail bridge</h1>"
            f"<iframe src=\"{src}\" title=\"Mail status\" style=\"border:0;width:100%;height:2300px\">"
            "</iframe></body></html>")
        return f"{self.origin}/{name}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(settings, engine, sink):
    """The bridge's app on a real loopback port, a worker delivering to the sink, two sites."""
    port = free_port()
    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}",
                          public_url=f"http://127.0.0.1:{port}")
    app = create_app(s, engine)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    worker = Worker(s, engine, name="browser-test")
    parent = Parent()
    shop = make_site(app, s)
    other = make_site(app, s, "other.example.net", ("example.net",))
    with app.extensions["wpbridge"].sessions() as session, session.begin():
        for name in ("shop.example.com", "other.example.net"):
            site = session.scalar(select(Site).where(Site.name == name))
            access.update_site_settings(session, site, add_origins=(parent.origin,))
    yield app, worker, shop, other, sink, parent
    parent.close()
    server.shutdown()
    worker.close()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    needs_tool(CHROMIUM, "apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def status_frame(page):
    page.wait_for_load_state("load")
    frames = [f for f in page.frames if f != page.main_frame]
    assert len(frames) == 1
    return frames[0]


def test_status_page_in_a_wp_admin_frame(served, browser, engine, tmp_path):
    app, worker, shop, other, sink, parent = served
    sink.handler.rcpt_script = {f"gone{i}@gmail.com": ["550 5.1.1 The email account that you "
                                                       "tried to reach does not exist"] for i in range(3)}
    sink.handler.rcpt_script["later@yahoo.com"] = ["451 4.7.0 Try again later"]
    to = [f"customer{i}@gmail.com" for i in range(12)] + [f"gone{i}@gmail.com" for i in range(3)] + \
         [f"buyer{i}@outlook.com" for i in range(6)] + ["later@yahoo.com", "someone@example.org"]
    mid = shop.post("/api/v1/messages", message(to=to, subject="Your order #1001")).json["id"]
    drain(worker, lambda: "queued" not in states(shop, mid).values())
    worker.beat()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(parent.frame("dashboard", embed_url(shop)["url"]))
    frame = status_frame(page)
    assert frame.url.endswith("/status/s/shop.example.com/")
    assert frame.locator("h1").inner_text().startswith("Mail status")
    assert [frame.locator(f'[data-window="24h"][data-field="{f}"]').inner_text()
            for f in ("accepted", "delivered", "bounced", "deferred")] == ["23", "20", "3", "1"]
    assert "gone0@gmail.com" in frame.locator("body").inner_text()
    assert frame.locator("svg").count() == 3
    shot = tmp_path / "status-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20000
    if os.environ.get("WPBRIDGE_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["WPBRIDGE_SCREENSHOTS"]) / f"status-page-{engine.dialect.name}.png")

    # Resend from inside the frame, as an admin would: a real form POST with its CSRF token.
    # (A hard bounce suppressed the address; the page says so rather than sending again.)
    frame.locator("form.inline button").first.click()
    frame.wait_for_url(re.compile(r"resent=suppressed$"))
    assert "on this site's suppression list" in frame.locator("body").inner_text()


def test_used_expired_and_foreign_urls_show_nothing(served, browser, engine):
    app, worker, shop, other, sink, parent = served
    context = browser.new_context()
    page = context.new_page()
    url = embed_url(shop)["url"]
    page.goto(parent.frame("first", url))
    assert "Mail status" in status_frame(page).locator("body").inner_text()

    # The same URL a second time (another browser): refused.
    page2 = browser.new_context().new_page()
    page2.goto(parent.frame("again", url))
    assert "used already or has expired" in status_frame(page2).locator("body").inner_text()

    with engine.begin() as conn:
        site_id = conn.execute(select(Site.id).where(Site.name == "shop.example.com")).scalar()
        expired, _ = access.issue_embed_token(conn, site_id, utcnow() - timedelta(minutes=6))
    page3 = browser.new_context().new_page()
    page3.goto(parent.frame("expired", f"{app.extensions['wpbridge'].settings.public_base}/status/embed/{expired}"))
    assert "used already or has expired" in status_frame(page3).locator("body").inner_text()

    # Another site's URL opens that site's page only; shop's page stays closed to it.
    page4 = browser.new_context().new_page()
    page4.goto(parent.frame("other", embed_url(other)["url"]))
    assert status_frame(page4).url.endswith("/status/s/other.example.net/")
    page4.goto(app.extensions["wpbridge"].settings.public_base + "/status/s/shop.example.com/")
    assert "needs a fresh link" in page4.locator("body").inner_text()


def test_an_unregistered_origin_cannot_frame_the_page(served, browser):
    app, worker, shop, other, sink, parent = served
    stranger = Parent()
    try:
        page = browser.new_context().new_page()
        page.goto(stranger.frame("evil", embed_url(shop)["url"]))
        frame = status_frame(page)
        assert frame.url.startswith("chrome-error://"), frame.url  # blocked by frame-ancestors
        assert "Mail status" not in frame.locator("body").inner_text()
    finally:
        stranger.close()

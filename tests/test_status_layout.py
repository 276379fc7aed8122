"""The status page and the dashboard widget in a real browser (Debian's headless Chromium,
driven by Playwright) at 480, 800 and 1,280 px: no card, table or chart wider than its card,
no text under 12 px (SVG text measured as drawn), and what needs attention above the figures.

Screenshots go to $WPBRIDGE_ARTIFACTS, else tests/artifacts/ (gitignored; CI keeps it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import message
from tests.test_relay import drain, states
from tests.test_status import embed_url
from tests.test_status_browser import browser, served  # noqa: F401 - fixtures

WIDTHS = (480, 800, 1280)

# Every finding that breaks the layout rules, as text (empty: all good).
MEASURE = """() => {
  const bad = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) bad.push(`page scrolls sideways: ${doc.scrollWidth} > ${doc.clientWidth}`);
  for (const card of document.querySelectorAll('.card, .banner, main.widget')) {
    const box = card.getBoundingClientRect();
    const name = (card.querySelector('h2') || card).textContent.trim().slice(0, 30);
    if (card.scrollWidth > card.clientWidth + 1) bad.push(`card "${name}" overflows: ${card.scrollWidth} > ${card.clientWidth}`);
    for (const el of card.querySelectorAll('table, svg, td, th')) {
      const r = el.getBoundingClientRect();
      if (!r.width) continue;
      if (r.right > box.right + 1 || r.left < box.left - 1) bad.push(`${el.tagName} in "${name}" sticks out: ${Math.round(r.left)}..${Math.round(r.right)} of ${Math.round(box.left)}..${Math.round(box.right)}`);
      if ((el.tagName === 'TD' || el.tagName === 'TH') && el.scrollWidth > el.clientWidth + 1) bad.push(`cell "${el.textContent.trim().slice(0, 30)}" in "${name}" is clipped`);
    }
  }
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const text = walk.currentNode.textContent.trim();
    const el = walk.currentNode.parentElement;
    if (!text || el.closest('title') || !el.getClientRects().length) continue;
    let px = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement) { const m = el.getScreenCTM(); px *= Math.hypot(m.a, m.b); }
    if (px < 11.95) bad.push(`"${text.slice(0, 30)}" is ${px.toFixed(1)} px`);
  }
  return bad;
}"""


def artifacts() -> Path:
    where = Path(os.environ.get("WPBRIDGE_ARTIFACTS") or Path(__file__).parent / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def traffic(served):
    """12 decided recipients (2 hard bounces), long addresses and a long subject, one
    deferral: below the 20 the bounce-rate alert needs."""
    app, worker, shop, other, sink, parent = served
    script = {"gone-with-a-rather-long-local-part-for-layout@gmail.com": ["550 5.1.1 The email account "
              "that you tried to reach does not exist. Please try double-checking the recipient's email "
              "address for typos or unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser"],
              "spf@outlook.com": ["550 5.7.23 The message was rejected because of Sender Policy "
                                  "Framework violation (SPF)"],
              "later@yahoo.com": ["451 4.7.0 Try again later"] * 50}
    sink.handler.rcpt_script = script
    to = [f"customer{i}@gmail.com" for i in range(10)] + list(script)
    mid = shop.post("/api/v1/messages", message(
        to=to, subject="Your Example Shop order #100123 has been received and is being processed "
                       "by our warehouse team")).json["id"]
    drain(worker, lambda: states(shop, mid).get("later@yahoo.com") == "queued"
          and sum(s != "queued" for s in states(shop, mid).values()) == 12)
    worker.beat()
    return served


@pytest.mark.parametrize("view", ["page", "widget", "messages"])
def test_fits_every_width_with_readable_text(traffic, browser, engine, view):  # noqa: F811
    app, worker, shop, other, sink, parent = traffic
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    url = embed_url(shop)["url"] + ("?view=widget" if view == "widget" else "")
    page.goto(url)
    assert page.url.endswith("/widget" if view == "widget" else "/status/s/shop.example.com/")
    if view == "messages":
        page.goto(page.url + "messages")
        assert page.locator("tbody tr").count() == 13
    else:
        headline = page.locator("[data-headline]").inner_text()
        assert headline == "Too few messages to judge (12 of 20)"
    if view == "page":
        # What needs attention comes before the figures, with the provider's answer and actions.
        attention = page.locator("#attention").bounding_box()
        for later in ("Queue", "Last 24 hours", "By recipient domain"):
            assert attention["y"] < page.locator("h2", has_text=later).bounding_box()["y"]
        body = page.locator("#attention").inner_text()
        assert "does not exist" in body and "Try again later" in body
        spf = page.locator("#attention tbody tr", has_text="spf@outlook.com")
        assert spf.locator("button", has_text="Re-check DNS").count() == 1
        assert spf.locator("button", has_text="Resend").count() == 1  # a policy refusal: not suppressed
        gone = page.locator("#attention tbody tr", has_text="gone-with")
        assert gone.locator("button", has_text="Remove from suppressions").count() == 1
        assert gone.locator("button", has_text="Resend").count() == 0
        assert page.locator("#attention tbody tr", has_text="later@yahoo.com").get_attribute("data-kind") == "held"
        ticks = page.locator("svg.chart").first.evaluate(
            "s => [...s.querySelectorAll('text[text-anchor=end]')].map(t => t.textContent)")
        assert ticks[0] == "0" and len(ticks) >= 2, ticks
        assert [int(t) for t in ticks] == sorted({int(t) for t in ticks}), ticks  # no "1, 0, 0"
    elif view == "widget":
        cells = {k: page.locator(f'[data-count="{k}"] .big').inner_text()
                 for k in ("sent", "delivered", "deferred", "failed")}
        assert cells == {"sent": "13", "delivered": "10", "deferred": str(cells["deferred"]), "failed": "2"}
        assert int(cells["deferred"]) >= 1
        assert "does not exist" in page.locator(".last-failure").inner_text() or \
            "Sender Policy" in page.locator(".last-failure").inner_text()
        assert page.locator("[data-full-page]").get_attribute("href") == "/status/s/shop.example.com/"
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(50)
        page.screenshot(path=str(artifacts() / f"status-{view}-{width}px-{engine.dialect.name}.png"),
                        full_page=True)
        problems = page.evaluate(MEASURE)
        assert problems == [], f"at {width} px: {problems}"
    context.close()

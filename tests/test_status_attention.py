"""The status page puts trouble first and can act on it; health says when it cannot judge;
the dashboard widget is a view of its own (issue 13). Real mail through a loopback SMTP
server, the page through HTTP with the session an embed URL buys."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.test_status import SITE_PAGE, csrf_of, embed_url, flow, send_traffic  # noqa: F401
from wpbridge.auth import dns_store
from wpbridge.auth.dns_store import _T as DNS_CHECKS
from wpbridge.models import Suppression, utcnow
from wpbridge.status import alerts, charts

WIDGET = SITE_PAGE + "widget"


def signed_in(app, shop, view: str = ""):
    browser = app.test_client()
    resp = browser.get(urlsplit(embed_url(shop)["url"]).path + view)
    assert resp.status_code == 303
    return browser, resp


def test_trouble_comes_first_with_the_answer_and_the_remove_button(flow):
    app, worker, shop, other, sink = flow
    send_traffic(flow)
    browser, _ = signed_in(app, shop)
    page = browser.get(SITE_PAGE).text
    attention = page.index('id="attention"')
    assert attention < page.index("<h2>Queue</h2>") < page.index("By recipient domain")
    section = page[attention:page.index("</section>", attention)]
    assert "gone@gmail.com" in section and "does not exist" in section
    assert "suppressed: hard_bounce" in section and "Remove from suppressions" in section
    assert "x@example.org" not in page  # the other site's mail
    # The remove button works, and needs the page's CSRF token.
    refused = browser.post(SITE_PAGE + "unsuppress", data={"address": "gone@gmail.com"})
    assert refused.status_code == 403
    with app.extensions["wpbridge"].engine.connect() as conn:
        assert conn.execute(select(Suppression.address)).scalars().all() == ["gone@gmail.com"]
    done = browser.post(SITE_PAGE + "unsuppress", data={"address": "gone@gmail.com",
                                                       "csrf": csrf_of(page), "back": SITE_PAGE})
    assert done.status_code == 303 and done.headers["Location"].endswith("?done=unsuppressed")
    after = browser.get(done.headers["Location"]).text
    assert "off the suppression list" in after
    row = re.search(r'<tr data-kind="failed">.*?gone@gmail.com.*?</tr>', after, re.S).group(0)
    assert ">Resend</button>" in row and "Remove from suppressions" not in row


def test_another_sites_session_cannot_remove_or_recheck(flow):
    app, worker, shop, other, sink = flow
    send_traffic(flow)
    browser, _ = signed_in(app, other)
    assert browser.get("/status/s/other.example.net/").status_code == 200
    for action in ("unsuppress", "recheck-dns"):
        resp = browser.post(SITE_PAGE + action, data={"address": "gone@gmail.com", "csrf": "x"})
        assert resp.status_code == 403 and "needs a fresh link" in resp.text
    with app.extensions["wpbridge"].engine.connect() as conn:
        assert conn.execute(select(Suppression.address)).scalars().all() == ["gone@gmail.com"]


def test_recheck_dns_makes_the_sending_domains_due(flow):
    app, worker, shop, other, sink = flow
    engine = app.extensions["wpbridge"].engine
    dns_store.sync(engine)
    later = utcnow() + timedelta(hours=6)
    with engine.begin() as conn:
        conn.execute(DNS_CHECKS.update().values(expires_at=later))
    browser, _ = signed_in(app, shop)
    page = browser.get(SITE_PAGE).text
    resp = browser.post(SITE_PAGE + "recheck-dns", data={"csrf": csrf_of(page)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("?done=dns_due")
    with engine.connect() as conn:
        due = dict(conn.execute(select(DNS_CHECKS.c.domain, DNS_CHECKS.c.expires_at)).all())
    assert due["example.com"] <= utcnow() and due["example.net"] == later  # only this site's


def test_health_says_it_cannot_judge_below_the_minimum(flow):
    app, worker, shop, other, sink = flow
    send_traffic(flow)  # 4 delivered + 1 bounced decided in the last hour
    browser, _ = signed_in(app, shop)
    page = browser.get(SITE_PAGE).text
    assert "Too few messages to judge (5 of 20)" in page and "All good" not in page
    assert "bounce rate (1 h): too few messages to judge (5 of 20 needed)" in page
    # With a minimum the site's mail reaches, the same figures are judged: 20% bounced is critical.
    s = app.extensions["wpbridge"].settings
    lowered = dataclasses.replace(s, alert_thresholds={"bounce_rate": {"min_volume": 5}})
    with app.extensions["wpbridge"].engine.connect() as conn:
        h = alerts.health(conn, lowered, 1, utcnow())
    assert h.level == alerts.CRITICAL and h.headline == "Critical"
    assert "bounce rate (1 h) is 20% (threshold 8%)" in " ".join(h.reasons)


def test_widget_is_a_compact_view_of_its_own(flow):
    app, worker, shop, other, sink = flow
    send_traffic(flow)
    browser, resp = signed_in(app, shop, "?view=widget")
    assert resp.headers["Location"].endswith(WIDGET)
    page = browser.get(WIDGET)
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' https://shop.example.com http://shop.example.com")
    counts = dict(re.findall(r'data-count="(\w+)"><span class="big">(\d+)<', page.text))
    assert counts == {"sent": "5", "delivered": "4", "deferred": "1", "failed": "1"}
    assert "gone@gmail.com" in page.text and "does not exist" in page.text
    assert f'href="{SITE_PAGE}"' in page.text
    assert "Queue</h2>" not in page.text and "<svg" not in page.text  # not the whole page
    assert app.test_client().get(WIDGET).status_code == 403  # no session, no widget


@pytest.mark.parametrize("top,integer,expected", [
    (1, True, [0, 1]), (0, True, [0, 1]), (3, True, [0, 1, 2, 3]), (7, True, [0, 2, 4, 6, 8]),
    (130, True, [0, 50, 100, 150]), (0.1, False, [0, 0.02, 0.04, 0.06, 0.08, 0.1]),
])
def test_axis_ticks_are_round_and_never_repeat(top, integer, expected):
    ticks = charts.nice_ticks(top, integer)
    assert ticks == pytest.approx(expected)
    labels = [f"{t:.0f}" for t in ticks] if integer else [f"{t * 100:.3g}%" for t in ticks]
    assert len(set(labels)) == len(labels)

"""The bridge's root URL: what this is, whether it is healthy, where to go; no site names."""

from __future__ import annotations

from tests.conftest import make_site
from wpbridge.worker import Worker


def test_root_says_what_this_is_and_whether_it_is_healthy(app, settings, engine):
    make_site(app, settings)
    client = app.test_client()
    page = client.get("/")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "wpbridge mail bridge" in body and "Not healthy: no worker has reported yet" in body
    assert 'href="/status/login"' in body and 'href="/api/v1/openapi.yaml"' in body
    assert "shop.example.com" not in body and "example.com" not in body
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    worker = Worker(settings, engine, name="root-test")
    try:
        worker.beat()
    finally:
        worker.close()
    body = client.get("/").get_data(as_text=True)
    assert "Healthy: the database answers and a delivery worker reported" in body

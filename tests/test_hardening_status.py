"""Issue 15, also seen: behind a TLS proxy the status cookies lacked ``Secure`` (the proxy's
X-Forwarded-Proto was ignored), and the 8-hour status cookie could not be revoked."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from tests.conftest import make_site
from tests.test_status import cli_env, cookie_header, embed_url
from wpbridge import settings as settings_mod
from wpbridge.app import create_app
from wpbridge.status import access
from wpbridge.status.cli import admin_command

PAGE = "/status/s/{}/"


def _cookie_via(app, site, peer: str, headers: dict) -> str:
    client = app.test_client()
    resp = client.get(urlsplit(embed_url(site)["url"]).path, headers=headers,
                      environ_base={"REMOTE_ADDR": peer})
    assert resp.status_code == 303
    return cookie_header(resp, access.SITE_COOKIE)


@pytest.mark.parametrize("trusted, peer, secure", [
    (("127.0.0.1",), "127.0.0.1", True),          # the TLS proxy on this host
    (("10.0.0.0/8",), "10.1.2.3", True),          # a proxy network
    (("10.0.0.0/8",), "192.0.2.7", False),        # anyone else claiming https
    ((), "127.0.0.1", False),                     # no proxy trusted: the header means nothing
])
def test_forwarded_proto_is_believed_only_from_trusted_proxies(settings, engine, trusted, peer, secure):
    s = settings.replace(trusted_proxies=trusted)
    app = create_app(s, engine)
    shop = make_site(app, s)
    cookie = _cookie_via(app, shop, peer, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert ("Secure" in cookie) is secure, cookie
    assert ("SameSite=None" in cookie) is secure


def test_trusted_proxies_setting_is_checked(tmp_path):
    loaded = settings_mod.load({"WPBRIDGE_DATA": str(tmp_path),
                                "WPBRIDGE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    assert loaded.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8")
    with pytest.raises(settings_mod.SettingsError, match="WPBRIDGE_TRUSTED_PROXIES.*'proxy.example'"):
        settings_mod.load({"WPBRIDGE_DATA": str(tmp_path), "WPBRIDGE_TRUSTED_PROXIES": "proxy.example"})


def test_revoke_sessions_ends_status_cookies(app, settings):
    shop = make_site(app, settings)
    other = make_site(app, settings, "other.example.net", ["example.net"])
    browsers = {}
    for site in (shop, other):
        browsers[site.name] = client = app.test_client()
        assert client.get(urlsplit(embed_url(site)["url"]).path).status_code == 303
        assert client.get(PAGE.format(site.name)).status_code == 200

    out = CliRunner().invoke(admin_command, ["revoke-sessions", "--site", "shop.example.com"],
                             env=cli_env(settings))
    assert out.exit_code == 0, out.output
    assert browsers[shop.name].get(PAGE.format(shop.name)).status_code == 403
    assert browsers[other.name].get(PAGE.format(other.name)).status_code == 200, "only that site's"

    fresh = app.test_client()  # wp-admin opens the page again with a new link
    assert fresh.get(urlsplit(embed_url(shop)["url"]).path).status_code == 303
    assert fresh.get(PAGE.format(shop.name)).status_code == 200

    out = CliRunner().invoke(admin_command, ["revoke-sessions"], env=cli_env(settings))
    assert out.exit_code == 0 and "2 site(s)" in out.output, out.output
    assert fresh.get(PAGE.format(shop.name)).status_code == 403
    assert browsers[other.name].get(PAGE.format(other.name)).status_code == 403

    out = CliRunner().invoke(admin_command, ["revoke-sessions", "--site", "nope.example"],
                             env=cli_env(settings))
    assert out.exit_code != 0 and "no site named 'nope.example'" in out.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_behind_a_tls_proxy_gunicorn_sets_secure_cookies(tmp_path, database_url):
    """The same through ``wpbridge web`` (gunicorn) as a user runs it behind a proxy on
    this host; and the same request from a bridge that trusts no proxy."""
    import json
    import os
    import signal
    import subprocess
    import sys

    import requests

    from tests.smtp_sink import free_port
    from tests.test_processes import _up, wait_for
    from wpbridge.ingest.signing import sign_headers

    env = dict(os.environ, WPBRIDGE_DATA=str(tmp_path / "data"))
    subprocess.run([sys.executable, "-m", "wpbridge", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    creds = json.loads(subprocess.run(
        [sys.executable, "-m", "wpbridge", "site", "add", "shop.example.com", "--domain", "example.com",
         "--json"], env=env, check=True, capture_output=True, text=True).stdout)
    for trusted, secure in (("127.0.0.1", True), ("", False)):
        port = free_port()
        web = subprocess.Popen([sys.executable, "-m", "wpbridge", "web", "--http", f"127.0.0.1:{port}"],
                               env=dict(env, WPBRIDGE_TRUSTED_PROXIES=trusted),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: _up(port), 60, "wpbridge web", [web])
            body = b"{}"
            url = requests.post(f"http://127.0.0.1:{port}/api/v1/embed-token", data=body, headers={
                **sign_headers(creds["key_id"], creds["secret"], "POST", "/api/v1/embed-token", body),
                "Content-Type": "application/json"}, timeout=30).json()["url"]
            resp = requests.get(f"http://127.0.0.1:{port}{urlsplit(url).path}", allow_redirects=False,
                                headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
                                timeout=30)
            assert resp.status_code == 303
            cookie = resp.headers["Set-Cookie"]
            assert ("Secure" in cookie) is secure, (trusted, cookie)
        finally:
            web.send_signal(signal.SIGTERM)
            web.communicate(timeout=30)

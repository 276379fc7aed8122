"""Multisite: network activation gives every site its spool table (sites created later
too), network-wide settings reach every site while a site's own settings win, and
uninstall cleans every site. Driven from PHP CLI (tests/wordpress/php/multisite.php)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.wordpress import wp_harness as h
from tests.wordpress.conftest import wait_received

NETWORK = {"MULTISITE": True, "SUBDOMAIN_INSTALL": False, "DOMAIN_CURRENT_SITE": "example.com",
           "PATH_CURRENT_SITE": "/", "SITE_ID_CURRENT_SITE": 1, "BLOG_ID_CURRENT_SITE": 1,
           # The sites are on example.com, the bridge on 127.0.0.1.
           "WP_ACCESSIBLE_HOSTS": "127.0.0.1"}


@pytest.fixture
def network(wp_env, tmp_path):
    wp = h.WordPress(tmp_path / "network", {"WP_HOME": None, "WP_SITEURL": None}, wp_env.wp.source)
    try:
        wp.install(h.build_plugin_zip(tmp_path / "dist"),
                   [h.PHP_DIR / "mu-plugins" / "wpbridge-test-mail.php"],
                   installer=("multisite.php", "install"))
        wp.php("multisite.php", "convert")
        wp.constants.update(NETWORK)
        wp.write_config()
        yield wp
    finally:
        wp.drop_tables()
        shutil.rmtree(wp.root, ignore_errors=True)


def ms(wp: h.WordPress, *args: str):
    return json.loads(wp.php("multisite.php", *args).strip().splitlines()[-1])


def test_network_activation_settings_and_uninstall(wp_env, network):
    wp, bridge = network, wp_env.bridge
    ms(wp, "add-site", "/second/")
    assert ms(wp, "network-activate") == "ok"
    ms(wp, "add-site", "/third/")
    state = ms(wp, "state")
    assert state["multisite"] and state["network_active"]
    assert sorted(state["tables"]) == sorted(
        [f"{wp.prefix}wpbridge_spool", f"{wp.prefix}2_wpbridge_spool", f"{wp.prefix}3_wpbridge_spool"])

    wp.php("multisite.php", "set-network-option", json.dumps(
        {"url": bridge.url, "key_id": bridge.key_id, "secret": bridge.secret}))
    sent = ms(wp, "send", "/second/")
    assert sent["result"] is True and sent["key_source"] == "network"
    [queued] = sent["queued"]
    assert bridge.message(queued["id"])["context"]["site_url"] == "http://example.com/second/"
    assert wait_received(wp_env.bridge_sink, lambda r: r.message["Subject"] == "From /second/")

    # A site's own key wins over the network's: here a wrong one, so the bridge refuses the
    # site (401) and the message waits in that site's own spool.
    wp.php("multisite.php", "set-site-option", "/third/", json.dumps({"key_id": "wpb_not_a_key"}))
    sent = ms(wp, "send", "/third/")
    assert sent["key_source"] == "site" and sent["key_id"] == "wpb_not_a_key"
    assert sent["result"] is True and sent["queued"] == []

    wp.php("multisite.php", "uninstall")
    state = ms(wp, "state")
    assert state["tables"] == [] and state["network_option"] is None

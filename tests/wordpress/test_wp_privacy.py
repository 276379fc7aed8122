"""WordPress's personal-data tools reach the bridge: Tools > Erase Personal Data erases the
address on the bridge and in the plugin's spool; the exporter lists the spooled mail."""

from __future__ import annotations

import json
import sqlite3
import uuid

from tests.wordpress.conftest import subject_is, unique, wait_received

# Core's own admin-ajax handler behind Tools > Erase Personal Data, run as the admin for a
# new erasure request (and, for export, the registered exporter as core calls it).
PRIVACY_PHP = r"""<?php
define( 'WP_ADMIN', true );
define( 'DOING_AJAX', true );
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/admin.php';
require_once ABSPATH . 'wp-admin/includes/ajax-actions.php';
wp_set_current_user( get_user_by( 'login', 'admin' )->ID );
$email = $argv[3];
if ( 'export' === $argv[2] ) {
	$exporters = apply_filters( 'wp_privacy_personal_data_exporters', array() );
	echo wp_json_encode( call_user_func( $exporters['wpbridge']['callback'], $email, 1 ) );
	exit;
}
$request_id = wp_create_user_request( $email, 'remove_personal_data', array(), 'confirmed' );
if ( is_wp_error( $request_id ) ) {
	fwrite( STDERR, $request_id->get_error_message() . "\n" );
	exit( 1 );
}
$keys  = array_keys( apply_filters( 'wp_privacy_personal_data_erasers', array() ) );
$index = array_search( 'wpbridge', $keys, true );
if ( false === $index ) {
	fwrite( STDERR, "no wpbridge eraser among: " . implode( ', ', $keys ) . "\n" );
	exit( 1 );
}
$_POST    = array(
	'id'       => $request_id,
	'eraser'   => $index + 1,
	'page'     => 1,
	'security' => wp_create_nonce( 'wp-privacy-erase-personal-data-' . $request_id ),
);
$_REQUEST = $_POST;
wp_ajax_wp_privacy_erase_personal_data();
"""


def privacy(env, tmp_path, action: str, email: str) -> dict:
    script = tmp_path / "privacy.php"
    script.write_text(PRIVACY_PHP)
    return json.loads(env.wp.php(str(script), action, email))


def bridge_holds(env, address: str) -> list[str]:
    """Subjects of the messages in the bridge's own database that name ``address``, in a
    delivery row or in their bytes."""
    with sqlite3.connect(env.bridge.data_dir / "wpbridge.db") as db:
        return sorted(s for (s,) in db.execute(
            "SELECT subject FROM messages WHERE instr(lower(CAST(raw AS TEXT)), ?) > 0 OR id IN "
            "(SELECT message_id FROM recipients WHERE lower(address) = ?)", (address, address)))


def test_core_eraser_erases_the_address_on_the_bridge_and_in_the_spool(env, tmp_path):
    tag = uuid.uuid4().hex[:8]
    address, keep = f"erase-{tag}@example.net", f"keep-{tag}@example.net"
    subjects = {k: unique(k) for k in ("delivered", "kept", "spooled", "shared")}
    sent = env.wp.send(to=[address], subject=subjects["delivered"], message="Your order.")
    kept = env.wp.send(to=[keep], subject=subjects["kept"], message="Your order.")
    erased_id, kept_id = sent["queued"][0]["id"], kept["queued"][0]["id"]
    for subject in (subjects["delivered"], subjects["kept"]):
        assert wait_received(env.bridge_sink, subject_is(subject)), subject
    assert bridge_holds(env, address) == [subjects["delivered"]]

    env.bridge.stop()  # two more wait in the spool: one for the address alone, one shared
    assert env.wp.send(to=[address], subject=subjects["spooled"], message="x")["spooled"]
    shared = env.wp.send(to=[f"Erase-{tag}@Example.net", keep], subject=subjects["shared"], message="x")
    assert shared["spooled"]
    env.bridge.start()

    exported = privacy(env, tmp_path, "export", address)
    assert exported["done"] is True
    assert sorted(item["data"][0]["value"] for item in exported["data"]) == \
        sorted([subjects["spooled"], subjects["shared"]])

    answer = privacy(env, tmp_path, "erase", address)
    assert answer["success"] is True, answer
    result = answer["data"]
    assert result["done"] is True and result["items_removed"] is True
    assert result["items_retained"] is True, "the shared spooled message still names the address"
    assert any("delivery records 1, messages 1, events 0" in m for m in result["messages"]), result

    assert env.bridge.request("GET", f"/api/v1/messages/{erased_id}")[0] == 404
    assert env.bridge.request("GET", f"/api/v1/messages/{kept_id}")[0] == 200
    # What is left is the notice WordPress itself mails once the request is fulfilled.
    assert bridge_holds(env, address) == ["[wpbridge test shop] Erasure Request Fulfilled"]
    spool = env.wp.driver("state")["spool"]
    assert [(row["subject"], row["recipients"]) for row in spool] == [(subjects["shared"], keep)]
    assert privacy(env, tmp_path, "export", address)["data"] == []

    # The shared message still reaches the other recipient, and only them.
    assert env.wp.cli("wpbridge", "flush").returncode == 0
    [copy] = wait_received(env.bridge_sink, subject_is(subjects["shared"]))
    assert copy.rcpt_tos == [keep]


def test_eraser_reports_an_unreachable_bridge_instead_of_completing(env, tmp_path):
    env.bridge.stop()
    answer = privacy(env, tmp_path, "erase", f"gone-{uuid.uuid4().hex[:8]}@example.net")
    assert answer["success"] is False, answer
    [error] = answer["data"]
    assert error["code"] == "wpbridge_erase_failed"
    assert "could not be reached" in error["message"] and "run the eraser again" in error["message"]

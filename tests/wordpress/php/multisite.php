<?php
/**
 * A WordPress network driven from the command line (no web server; multisite wants a
 * host name, and the tests have only 127.0.0.1).
 *
 * php multisite.php SITE_DIR install|convert|state|add-site PATH|send PATH|network-activate|
 *                            set-network-option JSON|set-site-option PATH JSON|uninstall
 */

$_SERVER['HTTP_HOST']   = 'example.com';
$_SERVER['REQUEST_URI'] = '/';
$wpbridge_site                   = $argv[1];
$wpbridge_action                 = $argv[2];

if ( 'install' === $wpbridge_action ) {
	define( 'WP_INSTALLING', true );
}
if ( 'convert' === $wpbridge_action ) {
	define( 'WP_INSTALLING_NETWORK', true ); // makes the schema include the network tables
}
require $wpbridge_site . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

$wpbridge_plugin = 'wpbridge/wpbridge.php';

/** @return string[] The spool tables that exist. */
function wpbridge_test_spool_tables(): array {
	global $wpdb;
	return $wpdb->get_col( $wpdb->prepare( 'SHOW TABLES LIKE %s', $wpdb->esc_like( $wpdb->base_prefix ) . '%' . $wpdb->esc_like( 'wpbridge_spool' ) ) );
}

function wpbridge_test_blog_id( string $path ): int {
	return (int) get_blog_id_from_url( 'example.com', $path );
}

switch ( $wpbridge_action ) {
	case 'install':
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		add_filter( 'pre_wp_mail', '__return_true' );
		wp_install( 'wpbridge network', 'admin', 'admin@example.com', true, '', 'password' );
		echo "installed\n";
		break;
	case 'convert':
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		require_once ABSPATH . 'wp-admin/includes/network.php';
		// As wp-admin/network.php does: name the network tables before creating them.
		foreach ( $wpdb->tables( 'ms_global' ) as $table => $prefixed_table ) {
			$wpdb->$table = $prefixed_table;
		}
		install_network();
		$result = populate_network( 1, 'example.com', 'admin@example.com', 'wpbridge network', '/', false );
		if ( is_wp_error( $result ) ) {
			fwrite( STDERR, $result->get_error_message() . "\n" );
			exit( 1 );
		}
		echo "converted\n";
		break;
	case 'add-site':
		add_filter( 'pre_wp_mail', '__return_true' ); // the "new site" notice
		$id = wp_insert_site(
			array(
				'domain' => 'example.com',
				'path'   => $argv[3],
				'title'  => 'Site ' . $argv[3],
			)
		);
		echo wp_json_encode( is_wp_error( $id ) ? $id->get_error_message() : $id ), "\n";
		break;
	case 'network-activate':
		$result = activate_plugin( $wpbridge_plugin, '', true );
		echo wp_json_encode( is_wp_error( $result ) ? $result->get_error_message() : 'ok' ), "\n";
		break;
	case 'set-network-option':
		update_site_option( 'wpbridge_settings', json_decode( $argv[3], true ) );
		echo "ok\n";
		break;
	case 'set-site-option':
		switch_to_blog( wpbridge_test_blog_id( $argv[3] ) );
		update_option( 'wpbridge_settings', json_decode( $argv[4], true ) );
		echo "ok\n";
		break;
	case 'send':
		switch_to_blog( wpbridge_test_blog_id( $argv[3] ) );
		$queued = array();
		add_action(
			'wpbridge_queued',
			static function ( $id, $context ) use ( &$queued ) {
				$queued[] = array(
					'id'      => $id,
					'context' => $context,
				);
			},
			10,
			2
		);
		$config = WPBridge\Config::load();
		$ok     = wp_mail( 'alice@example.net', 'From ' . $argv[3], 'Hello from a network site.' );
		echo wp_json_encode(
			array(
				'result'     => $ok,
				'queued'     => $queued,
				'key_source' => $config->source( 'key_id' ),
				'key_id'     => $config->key_id(),
			)
		), "\n";
		break;
	case 'state':
		echo wp_json_encode(
			array(
				'multisite'      => is_multisite(),
				'network_active' => is_plugin_active_for_network( $wpbridge_plugin ),
				'tables'         => wpbridge_test_spool_tables(),
				'network_option' => get_site_option( 'wpbridge_settings', null ),
			)
		), "\n";
		break;
	case 'uninstall':
		deactivate_plugins( $wpbridge_plugin, false, true );
		uninstall_plugin( $wpbridge_plugin );
		echo "uninstalled\n";
		break;
	default:
		fwrite( STDERR, "unknown action $wpbridge_action\n" );
		exit( 1 );
}

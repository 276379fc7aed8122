<?php
/**
 * Activate or deactivate a plugin: php plugins.php SITE_DIR activate|deactivate PLUGIN_FILE
 */

require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

$plugin = $argv[3];
if ( 'activate' === $argv[2] ) {
	$result = activate_plugin( $plugin );
	if ( is_wp_error( $result ) ) {
		fwrite( STDERR, $result->get_error_message() . "\n" );
		exit( 1 );
	}
} else {
	deactivate_plugins( $plugin );
}
echo wp_json_encode( get_option( 'active_plugins' ) ), "\n";

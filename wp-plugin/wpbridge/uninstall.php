<?php
/**
 * Deleting the plugin drops its spool table and options, on every site of a network.
 *
 * @package wpbridge
 */

defined( 'ABSPATH' ) || exit;
defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

/**
 * Remove this site's table, options and cron event.
 */
function wpbridge_uninstall_site(): void {
	global $wpdb;
	$table = $wpdb->prefix . 'wpbridge_spool';
	$wpdb->query( "DROP TABLE IF EXISTS `{$table}`" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name only.
	foreach ( array( 'wpbridge_settings', 'wpbridge_state', 'wpbridge_db_version' ) as $option ) {
		delete_option( $option );
	}
	wp_clear_scheduled_hook( 'wpbridge_retry_spool' );
}

if ( is_multisite() ) {
	foreach ( get_sites( array( 'fields' => 'ids', 'number' => 0 ) ) as $wpbridge_site_id ) {
		switch_to_blog( $wpbridge_site_id );
		wpbridge_uninstall_site();
		restore_current_blog();
	}
	delete_site_option( 'wpbridge_settings' );
} else {
	wpbridge_uninstall_site();
}

<?php
/**
 * Plugin Name:       wpbridge
 * Description:       Hands every wp_mail() message to a wpbridge mail bridge in one short signed HTTP call. Mail the bridge cannot take right now waits in a local spool and is retried from WP-Cron, so nothing is dropped and checkout never waits for SMTP.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            wpbridge
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       wpbridge
 *
 * @package wpbridge
 */

defined( 'ABSPATH' ) || exit;

define( 'WPBRIDGE_VERSION', '0.1.0' );
define( 'WPBRIDGE_PLUGIN_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-config.php';
require_once __DIR__ . '/includes/class-state.php';
require_once __DIR__ . '/includes/class-client.php';
require_once __DIR__ . '/includes/class-message.php';
require_once __DIR__ . '/includes/class-spool.php';
require_once __DIR__ . '/includes/class-diverter.php';
require_once __DIR__ . '/includes/class-privacy.php';

WPBridge\Diverter::init();
WPBridge\Spool::init();
WPBridge\Privacy::init();

register_activation_hook( __FILE__, array( 'WPBridge\Spool', 'activate' ) );
register_deactivation_hook( __FILE__, array( 'WPBridge\Spool', 'deactivate' ) );

if ( is_admin() || ( defined( 'WP_CLI' ) && WP_CLI ) ) {
	require_once __DIR__ . '/includes/class-conflicts.php';
	require_once __DIR__ . '/includes/class-test-mail.php';
}

if ( is_admin() ) {
	require_once __DIR__ . '/includes/class-admin.php';
	WPBridge\Admin::init();
}

if ( defined( 'WP_CLI' ) && WP_CLI ) {
	require_once __DIR__ . '/includes/class-cli.php';
	WP_CLI::add_command( 'wpbridge', 'WPBridge\CLI' );
}

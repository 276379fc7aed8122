<?php
/**
 * Install the test site from the command line: php install.php SITE_DIR
 */

define( 'WP_INSTALLING', true );
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

// Swallow the "new site" mail, which would otherwise go to the system's sendmail.
add_filter( 'pre_wp_mail', '__return_true' );
$result = wp_install( 'wpbridge test shop', 'admin', 'admin@example.com', true, '', 'password' );
if ( is_wp_error( $result ) ) {
	fwrite( STDERR, $result->get_error_message() . "\n" );
	exit( 1 );
}
echo "installed\n";

<?php
/**
 * Plugin Name: wpbridge test mail set-up (tests only)
 * Description: Stock WordPress's mail goes over SMTP to the test's loopback sink, and the
 * site's default From is on example.com (WordPress would use wordpress@127.0.0.1, which
 * is no mail domain).
 *
 * @package wpbridge-tests
 */

defined( 'ABSPATH' ) || exit;

add_filter(
	'wp_mail_from',
	static function ( $from ) {
		return 'wordpress@127.0.0.1' === $from ? 'wordpress@example.com' : $from;
	},
	1
);

if ( defined( 'WPBRIDGE_TEST_SMTP_PORT' ) ) {
	add_action(
		'phpmailer_init',
		static function ( $mailer ) {
			$mailer->isSMTP();
			$mailer->Host        = '127.0.0.1';
			$mailer->Port        = WPBRIDGE_TEST_SMTP_PORT;
			$mailer->SMTPAuth    = false;
			$mailer->SMTPAutoTLS = false;
		}
	);
}

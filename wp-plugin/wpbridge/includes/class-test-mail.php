<?php
/**
 * "Send test email", shared by wp-admin and WP-CLI.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

final class Test_Mail {

	/**
	 * Send one test message through wp_mail() and say what became of it.
	 *
	 * @return array{ok: bool, message: string}
	 */
	public static function send( string $to ): array {
		$queued    = '';
		$spooled   = '';
		$failed    = '';
		$on_queue  = static function ( $id ) use ( &$queued ) {
			$queued = (string) $id;
		};
		$on_spool  = static function ( $spool_id, $error ) use ( &$spooled ) {
			$spooled = (string) $error;
		};
		$on_failed = static function ( $error ) use ( &$failed ) {
			$failed = is_wp_error( $error ) ? $error->get_error_message() : __( 'unknown error', 'wpbridge' );
		};
		add_action( 'wpbridge_queued', $on_queue );
		add_action( 'wpbridge_spooled', $on_spool, 10, 2 );
		add_action( 'wp_mail_failed', $on_failed );
		$sent = wp_mail(
			$to,
			/* translators: %s: site name. */
			sprintf( __( 'wpbridge test message from %s', 'wpbridge' ), wp_specialchars_decode( get_bloginfo( 'name' ), ENT_QUOTES ) ),
			__( 'This message was sent from WordPress through wpbridge to check that mail is delivered.', 'wpbridge' )
		);
		remove_action( 'wpbridge_queued', $on_queue );
		remove_action( 'wpbridge_spooled', $on_spool, 10 );
		remove_action( 'wp_mail_failed', $on_failed );

		if ( '' !== $queued ) {
			/* translators: %s: the bridge's message id. */
			return array( 'ok' => true, 'message' => sprintf( __( 'The bridge queued the test message (id %s).', 'wpbridge' ), $queued ) );
		}
		if ( '' !== $spooled ) {
			/* translators: %s: why the bridge could not take the message. */
			return array( 'ok' => false, 'message' => sprintf( __( 'The bridge could not take the test message now; it waits in the spool. %s', 'wpbridge' ), $spooled ) );
		}
		if ( ! $sent ) {
			/* translators: %s: error message. */
			return array( 'ok' => false, 'message' => sprintf( __( 'The test message was refused: %s', 'wpbridge' ), $failed ) );
		}
		return array( 'ok' => true, 'message' => __( 'WordPress sent the test message with its own mailer (the bridge is not configured, or fallback mode handed it back).', 'wpbridge' ) );
	}
}

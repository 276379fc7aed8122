<?php
/**
 * What the plugin last saw of the bridge, for the admin screens.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Kept in one autoloaded option and written only when something changes, so a
 * healthy site pays no database write per message.
 */
final class State {

	public const OPTION = 'wpbridge_state';

	/**
	 * @return array{reachable: ?bool, last_error: string, last_error_at: int, last_ok_at: int}
	 */
	public static function get(): array {
		$state = get_option( self::OPTION );
		return array_merge(
			array(
				'reachable'     => null,
				'last_error'    => '',
				'last_error_at' => 0,
				'last_ok_at'    => 0,
			),
			is_array( $state ) ? $state : array()
		);
	}

	/**
	 * The bridge answered as expected: the last error is over, so it is cleared at once (a
	 * stale "Connection refused" beside a bridge that delivers would not be true).
	 */
	public static function record_ok(): void {
		$state = self::get();
		// Refresh the timestamp at most once a minute: enough for "last contact" in wp-admin.
		if ( true === $state['reachable'] && '' === $state['last_error'] && time() - $state['last_ok_at'] < 60 ) {
			return;
		}
		$state['reachable']     = true;
		$state['last_ok_at']    = time();
		$state['last_error']    = '';
		$state['last_error_at'] = 0;
		update_option( self::OPTION, $state, true );
	}

	/**
	 * Something went wrong.
	 *
	 * @param string $message   What happened, for the admin.
	 * @param bool   $reachable False when the bridge could not be reached or cannot store
	 *                          mail right now (the message was spooled); true when the bridge
	 *                          answered but refused one message.
	 */
	public static function record_error( string $message, bool $reachable ): void {
		$state = self::get();
		if ( $state['reachable'] === $reachable && $state['last_error'] === $message && time() - $state['last_error_at'] < 60 ) {
			return;
		}
		$state['reachable']     = $reachable;
		$state['last_error']    = $message;
		$state['last_error_at'] = time();
		update_option( self::OPTION, $state, true );
	}
}

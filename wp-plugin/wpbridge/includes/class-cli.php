<?php
/**
 * WP-CLI: wp wpbridge status|test|flush.
 *
 * @package wpbridge
 */

namespace WPBridge;

use WP_CLI;

defined( 'ABSPATH' ) || exit;

/**
 * Operate the wpbridge mail diverter.
 */
final class CLI {

	/**
	 * Show the configuration, whether the bridge answers, the spool and conflicting plugins.
	 *
	 * ## EXAMPLES
	 *
	 *     wp wpbridge status
	 *
	 * @param array $args       Unused.
	 * @param array $assoc_args Unused.
	 */
	public function status( $args, $assoc_args ): void {
		$config = Config::load();
		WP_CLI::line( sprintf( 'URL:      %s (%s)', $config->url() ? $config->url() : '-', $config->source( 'url' ) ) );
		WP_CLI::line( sprintf( 'Key id:   %s (%s)', $config->key_id() ? $config->key_id() : '-', $config->source( 'key_id' ) ) );
		WP_CLI::line( sprintf( 'Secret:   %s (%s)', $config->secret() ? 'set' : 'not set', $config->source( 'secret' ) ) );
		WP_CLI::line( sprintf( 'Timeout:  %s s', $config->timeout() ) );
		WP_CLI::line( sprintf( 'When unreachable: %s', $config->fallback() ? 'hand mail back to WordPress\'s mailer' : 'spool and retry' ) );
		if ( $config->is_complete() ) {
			$ping = ( new Client( $config ) )->ping();
			WP_CLI::line( 'Bridge:   ' . ( $ping->is_ok() ? 'reachable' : $ping->error_message() ) );
		} else {
			WP_CLI::line( 'Bridge:   not configured: WordPress sends mail itself' );
		}
		$state = State::get();
		if ( '' !== $state['last_error'] ) {
			WP_CLI::line( sprintf( 'Last error: %s (%s)', $state['last_error'], gmdate( 'Y-m-d H:i:s', $state['last_error_at'] ) . ' UTC' ) );
		}
		WP_CLI::line( sprintf( 'Spool:    %d message(s) waiting', Spool::count() ) );
		foreach ( Spool::peek( 10 ) as $row ) {
			WP_CLI::line(
				sprintf(
					'  #%d to %s, "%s", %d attempt(s), next %s UTC: %s',
					$row->id,
					$row->recipients,
					$row->subject,
					$row->attempts,
					gmdate( 'Y-m-d H:i:s', (int) $row->next_attempt_at ),
					$row->last_error
				)
			);
		}
		foreach ( Conflicts::detect() as $warning ) {
			WP_CLI::warning( $warning );
		}
	}

	/**
	 * Check the connection with a signed ping; optionally send a test message.
	 *
	 * ## OPTIONS
	 *
	 * [--to=<email>]
	 * : Also send a test message to this address through wp_mail().
	 *
	 * ## EXAMPLES
	 *
	 *     wp wpbridge test
	 *     wp wpbridge test --to=admin@example.com
	 *
	 * @param array $args       Unused.
	 * @param array $assoc_args --to.
	 */
	public function test( $args, $assoc_args ): void {
		$config = Config::load();
		if ( ! $config->is_complete() ) {
			WP_CLI::error( 'The bridge is not configured: set WPBRIDGE_URL, WPBRIDGE_KEY_ID and WPBRIDGE_SECRET in wp-config.php or fill in Settings > Mail bridge.' );
		}
		$ping = ( new Client( $config ) )->ping();
		if ( ! $ping->is_ok() ) {
			State::record_error( $ping->error_message(), ! $ping->is_temporary() );
			WP_CLI::error( $ping->error_message() );
		}
		State::record_ok();
		WP_CLI::success( sprintf( 'The bridge at %s accepts this site\'s key (site %s).', $config->url(), (string) ( $ping->data['site'] ?? '?' ) ) );
		if ( empty( $assoc_args['to'] ) ) {
			return;
		}
		$outcome = Test_Mail::send( (string) $assoc_args['to'] );
		if ( $outcome['ok'] ) {
			WP_CLI::success( $outcome['message'] );
		} else {
			WP_CLI::error( $outcome['message'] );
		}
	}

	/**
	 * Hand every spooled message to the bridge now, whatever its backoff.
	 *
	 * Each message keeps its Idempotency-Key, so one the bridge already took is not
	 * stored twice.
	 *
	 * ## EXAMPLES
	 *
	 *     wp wpbridge flush
	 *
	 * @param array $args       Unused.
	 * @param array $assoc_args Unused.
	 */
	public function flush( $args, $assoc_args ): void {
		$result = Spool::deliver( true );
		WP_CLI::line( sprintf( 'Handed to the bridge %d, refused by the bridge %d, still waiting %d.', $result['handed'], $result['refused'], $result['waiting'] ) );
		if ( $result['waiting'] > 0 ) {
			WP_CLI::error( $result['error'] ? $result['error'] : 'Some messages are still waiting (held by another run?).' );
		}
		if ( 0 === $result['waiting'] ) {
			wp_clear_scheduled_hook( Spool::CRON_HOOK );
		}
		WP_CLI::success( 'The spool is empty.' );
	}
}

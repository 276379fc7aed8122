<?php
/**
 * Mail the bridge could not take yet, kept in this site's own table and retried from
 * WP-Cron with the message's original Idempotency-Key.
 *
 * @package wpbridge
 */

namespace WPBridge;

use WP_Error;

defined( 'ABSPATH' ) || exit;

/**
 * The spool table: one row per message, holding the exact JSON body that was (and will
 * again be) posted. A row leaves the table when the bridge accepts the message, or when
 * the bridge refuses the message itself (then wp_mail_failed fires): nothing waits
 * forever for an answer that cannot change.
 */
final class Spool {

	public const CRON_HOOK     = 'wpbridge_retry_spool';
	public const CRON_SCHEDULE = 'wpbridge_every_minute';
	public const DB_VERSION    = '1';

	/** Seconds a worker may hold a row before another may take it. */
	private const LEASE = 120;

	public static function init(): void {
		add_filter( 'cron_schedules', array( self::class, 'cron_schedules' ) );
		add_action( self::CRON_HOOK, array( self::class, 'run_cron' ) );
		add_action( 'wp_initialize_site', array( self::class, 'install_for_new_site' ), 200 );
		add_filter( 'wpmu_drop_tables', array( self::class, 'drop_with_site' ) );
	}

	public static function table(): string {
		global $wpdb;
		return $wpdb->prefix . 'wpbridge_spool';
	}

	/**
	 * Activation: create the table on this site, or on every site when network-activated.
	 *
	 * @param bool $network_wide True for a network activation.
	 */
	public static function activate( $network_wide = false ): void {
		if ( is_multisite() && $network_wide ) {
			foreach ( get_sites( array( 'fields' => 'ids', 'number' => 0 ) ) as $site_id ) {
				switch_to_blog( $site_id );
				self::install();
				restore_current_blog();
			}
			return;
		}
		self::install();
	}

	public static function deactivate( $network_wide = false ): void {
		if ( is_multisite() && $network_wide ) {
			foreach ( get_sites( array( 'fields' => 'ids', 'number' => 0 ) ) as $site_id ) {
				switch_to_blog( $site_id );
				wp_clear_scheduled_hook( self::CRON_HOOK );
				restore_current_blog();
			}
			return;
		}
		wp_clear_scheduled_hook( self::CRON_HOOK );
	}

	/** A site created later on a network where the plugin is network-active. */
	public static function install_for_new_site( $site ): void {
		if ( ! function_exists( 'is_plugin_active_for_network' ) ) {
			require_once ABSPATH . 'wp-admin/includes/plugin.php';
		}
		if ( is_plugin_active_for_network( plugin_basename( WPBRIDGE_PLUGIN_FILE ) ) ) {
			switch_to_blog( $site->blog_id );
			self::install();
			restore_current_blog();
		}
	}

	/** Deleting a site in a network drops its spool too. */
	public static function drop_with_site( array $tables ): array {
		$tables[] = self::table();
		return $tables;
	}

	/** Create or upgrade the table (dbDelta is idempotent). */
	public static function install(): void {
		global $wpdb;
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$table   = self::table();
		$collate = $wpdb->get_charset_collate();
		dbDelta(
			"CREATE TABLE {$table} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  idempotency_key varchar(64) NOT NULL,
  payload longtext NOT NULL,
  recipients text NOT NULL,
  subject text NOT NULL,
  attempts int(10) unsigned NOT NULL DEFAULT 0,
  created_at bigint(20) unsigned NOT NULL,
  next_attempt_at bigint(20) unsigned NOT NULL,
  locked_until bigint(20) unsigned NOT NULL DEFAULT 0,
  last_error text NOT NULL,
  PRIMARY KEY  (id),
  UNIQUE KEY idempotency_key (idempotency_key),
  KEY next_attempt_at (next_attempt_at)
) {$collate};"
		);
		update_option( 'wpbridge_db_version', self::DB_VERSION, true );
		if ( self::count() > 0 ) {
			self::schedule();
		}
	}

	/**
	 * Keep one message for later.
	 *
	 * @param string   $key        Its Idempotency-Key, reused on every retry.
	 * @param string   $payload    The exact JSON body.
	 * @param string[] $recipients For the admin listing.
	 * @param string   $subject    For the admin listing.
	 * @param Response $response   Why it could not be handed over now.
	 * @return int Row id, 0 when the row could not be written.
	 */
	public static function add( string $key, string $payload, array $recipients, string $subject, Response $response ): int {
		global $wpdb;
		$now = time();
		$ok  = $wpdb->insert(
			self::table(),
			array(
				'idempotency_key' => $key,
				'payload'         => $payload,
				'recipients'      => implode( ', ', $recipients ),
				'subject'         => $subject,
				'attempts'        => 1,
				'created_at'      => $now,
				'next_attempt_at' => $now + self::backoff( 1, $response->retry_after ),
				'locked_until'    => 0,
				'last_error'      => $response->error_message(),
			),
			array( '%s', '%s', '%s', '%s', '%d', '%d', '%d', '%d', '%s' )
		);
		if ( ! $ok ) {
			return 0;
		}
		self::schedule();
		return (int) $wpdb->insert_id;
	}

	/**
	 * Seconds to wait before attempt number $attempts + 1: one minute, doubling, at most an
	 * hour, never sooner than the bridge's Retry-After. A little jitter keeps sites that
	 * lost the bridge together from coming back together.
	 */
	public static function backoff( int $attempts, int $retry_after = 0 ): int {
		$delay = (int) min( 3600, 60 * ( 2 ** max( 0, $attempts - 1 ) ) );
		return max( $delay, $retry_after ) + wp_rand( 0, 10 );
	}

	/** Messages waiting. */
	public static function count(): int {
		global $wpdb;
		$table = self::table();
		// A missing table (plugin files present, never activated) counts as empty.
		$wpdb->suppress_errors( true );
		$count = $wpdb->get_var( "SELECT COUNT(*) FROM {$table}" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name only.
		$wpdb->suppress_errors( false );
		return (int) $count;
	}

	/**
	 * The oldest waiting messages, for wp-admin and WP-CLI.
	 *
	 * @return array<int, object{id: string, recipients: string, subject: string, attempts: string, created_at: string, next_attempt_at: string, last_error: string}>
	 */
	public static function peek( int $limit = 20 ): array {
		global $wpdb;
		$table = self::table();
		return (array) $wpdb->get_results(
			$wpdb->prepare(
				"SELECT id, recipients, subject, attempts, created_at, next_attempt_at, last_error FROM {$table} ORDER BY id LIMIT %d", // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
				$limit
			)
		);
	}

	/**
	 * Try to hand waiting messages over.
	 *
	 * @param bool $all   True: every message now (`wp wpbridge flush`); false: only those
	 *                    whose backoff has run out (WP-Cron).
	 * @param int  $limit At most this many rows in one run.
	 * @return array{handed: int, refused: int, waiting: int, error: string} (handed: stored by the bridge, which delivers them later)
	 */
	public static function deliver( bool $all = false, int $limit = 500 ): array {
		global $wpdb;
		$table  = self::table();
		$config = Config::load();
		$result = array(
			'handed'    => 0,
			'refused'   => 0,
			'waiting'   => 0,
			'error'     => '',
		);
		if ( ! $config->is_complete() ) {
			$result['error']   = __( 'The bridge is not configured (URL, key id and secret).', 'wpbridge' );
			$result['waiting'] = self::count();
			return $result;
		}
		$client = new Client( $config );
		$now    = time();
		$ids    = $wpdb->get_col(
			$wpdb->prepare(
				"SELECT id FROM {$table} WHERE next_attempt_at <= %d AND locked_until < %d ORDER BY id LIMIT %d", // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
				$all ? PHP_INT_MAX : $now,
				$now,
				$limit
			)
		);
		foreach ( $ids as $id ) {
			$now = time();
			// Claim the row: a cron run and a `flush` racing each other never both send it.
			$claimed = $wpdb->query(
				$wpdb->prepare(
					"UPDATE {$table} SET locked_until = %d WHERE id = %d AND locked_until < %d", // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
					$now + self::LEASE,
					$id,
					$now
				)
			);
			if ( 1 !== $claimed ) {
				continue;
			}
			$row = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM {$table} WHERE id = %d", $id ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			if ( ! $row ) {
				continue;
			}
			$response = $client->post_message( $row->payload, $row->idempotency_key );
			if ( $response->is_ok() ) {
				$wpdb->delete( $table, array( 'id' => $row->id ), array( '%d' ) );
				State::record_ok();
				++$result['handed'];
				continue;
			}
			if ( $response->is_refusal() ) {
				$wpdb->delete( $table, array( 'id' => $row->id ), array( '%d' ) );
				State::record_error( $response->error_message(), true );
				do_action(
					'wp_mail_failed',
					new WP_Error(
						'wp_mail_failed',
						$response->error_message(),
						array(
							'to'              => $row->recipients,
							'subject'         => $row->subject,
							'wpbridge_status' => $response->status,
							'wpbridge_error'  => $response->data['error'] ?? null,
						)
					)
				);
				++$result['refused'];
				continue;
			}
			$attempts = (int) $row->attempts + 1;
			$wpdb->update(
				$table,
				array(
					'attempts'        => $attempts,
					'next_attempt_at' => $now + self::backoff( $attempts, $response->retry_after ),
					'locked_until'    => 0,
					'last_error'      => $response->error_message(),
				),
				array( 'id' => $row->id ),
				array( '%d', '%d', '%d', '%s' ),
				array( '%d' )
			);
			State::record_error( $response->error_message(), false );
			$result['error'] = $response->error_message();
			break; // The bridge is down or busy: the rest waits for the next run.
		}
		$result['waiting'] = self::count();
		return $result;
	}

	/** The WP-Cron job; unschedules itself once the spool is empty. */
	public static function run_cron(): void {
		$result = self::deliver();
		if ( 0 === $result['waiting'] ) {
			wp_clear_scheduled_hook( self::CRON_HOOK );
		}
	}

	public static function cron_schedules( array $schedules ): array {
		$schedules[ self::CRON_SCHEDULE ] = array(
			'interval' => MINUTE_IN_SECONDS,
			'display'  => __( 'Every minute (wpbridge spool)', 'wpbridge' ),
		);
		return $schedules;
	}

	private static function schedule(): void {
		if ( ! wp_next_scheduled( self::CRON_HOOK ) ) {
			wp_schedule_event( time() + MINUTE_IN_SECONDS, self::CRON_SCHEDULE, self::CRON_HOOK );
		}
	}
}

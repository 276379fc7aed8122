<?php
/**
 * WordPress's personal-data tools (Tools > Erase / Export Personal Data) for the mail the
 * bridge and the spool hold.
 *
 * @package wpbridge
 */

namespace WPBridge;

use WP_Error;

defined( 'ABSPATH' ) || exit;

/**
 * The eraser takes the address out of the spool first (so that no spooled copy reaches the
 * bridge after the erasure), then asks the bridge, signed, to erase its delivery records,
 * events and the messages that had no other recipient. The bridge keeps the address on its
 * suppression list: an unsubscribe or a hard bounce must keep being honoured.
 */
final class Privacy {

	public const KEY = 'wpbridge';

	public static function init(): void {
		add_filter( 'wp_privacy_personal_data_erasers', array( self::class, 'register_eraser' ) );
		add_filter( 'wp_privacy_personal_data_exporters', array( self::class, 'register_exporter' ) );
	}

	public static function register_eraser( array $erasers ): array {
		$erasers[ self::KEY ] = array(
			'eraser_friendly_name' => __( 'Mail bridge (wpbridge)', 'wpbridge' ),
			'callback'             => array( self::class, 'erase' ),
		);
		return $erasers;
	}

	public static function register_exporter( array $exporters ): array {
		$exporters[ self::KEY ] = array(
			'exporter_friendly_name' => __( 'Mail waiting for the mail bridge (wpbridge)', 'wpbridge' ),
			'callback'               => array( self::class, 'export' ),
		);
		return $exporters;
	}

	/**
	 * The eraser callback. One page does everything: the spool only holds mail while the
	 * bridge is unreachable, and the bridge erases in one call.
	 *
	 * @param string $email_address The address to erase.
	 * @param int    $page          Page number (always 1 here).
	 * @return array|WP_Error WP_Error when the bridge could not erase: the request stays open
	 *                        and the eraser can be run again.
	 */
	public static function erase( $email_address, $page = 1 ) {
		$address  = strtolower( trim( (string) $email_address ) );
		$spool    = self::erase_from_spool( $address );
		$messages = array();
		if ( $spool['deleted'] ) {
			/* translators: %d: number of messages. */
			$messages[] = sprintf( _n( '%d message waiting in the spool was deleted.', '%d messages waiting in the spool were deleted.', $spool['deleted'], 'wpbridge' ), $spool['deleted'] );
		}
		if ( $spool['trimmed'] ) {
			/* translators: %d: number of messages. */
			$messages[] = sprintf( _n( '%d message waiting in the spool is also addressed to others: this address was taken off its recipients, the message still names it in its headers.', '%d messages waiting in the spool are also addressed to others: this address was taken off their recipients, the messages still name it in their headers.', $spool['trimmed'], 'wpbridge' ), $spool['trimmed'] );
		}
		$removed = $spool['deleted'] + $spool['trimmed'] > 0;

		$config = Config::load();
		if ( ! $config->is_complete() ) {
			$messages[] = __( 'The mail bridge is not configured (URL, key id and secret), so nothing was erased there; erase the address on the bridge with: wpbridge privacy erase ADDRESS', 'wpbridge' );
		} else {
			$response = ( new Client( $config ) )->erase_address( $address );
			if ( ! $response->is_ok() ) {
				return new WP_Error(
					'wpbridge_erase_failed',
					esc_html(
						sprintf(
							/* translators: %s: the bridge's error, e.g. "The bridge could not be reached: ...". */
							__( 'The mail bridge did not erase this address: %s. Fix the connection (Settings > Mail bridge > Test connection) and run the eraser again.', 'wpbridge' ),
							$response->error_message()
						)
					)
				);
			}
			$erased     = (array) ( $response->data['erased'] ?? array() );
			$removed    = $removed || array_sum( array_map( 'intval', $erased ) ) > 0;
			$messages[] = sprintf(
				/* translators: 1: delivery records, 2: messages, 3: events (bounces, complaints). */
				__( 'Erased on the mail bridge: delivery records %1$d, messages %2$d, events %3$d. The address stays on the suppression list where it is listed, so that it is never mailed against an unsubscribe or a bounce.', 'wpbridge' ),
				(int) ( $erased['recipients'] ?? 0 ),
				(int) ( $erased['messages'] ?? 0 ),
				(int) ( $erased['events'] ?? 0 )
			);
		}
		return array(
			'items_removed'  => $removed,
			'items_retained' => $spool['trimmed'] > 0,
			'messages'       => array_map( 'esc_html', $messages ),
			'done'           => true,
		);
	}

	/**
	 * The exporter callback: the spooled messages addressed to this address.
	 *
	 * @param string $email_address The address to export.
	 * @param int    $page          Page number (always 1 here).
	 */
	public static function export( $email_address, $page = 1 ): array {
		$items = array();
		foreach ( self::spool_rows( strtolower( trim( (string) $email_address ) ) ) as $row ) {
			$items[] = array(
				'group_id'          => 'wpbridge-spool',
				'group_label'       => __( 'Mail waiting to be sent', 'wpbridge' ),
				'group_description' => __( 'Messages to you that this site keeps until its mail bridge takes them.', 'wpbridge' ),
				'item_id'           => 'wpbridge-spool-' . $row->id,
				'data'              => array(
					array(
						'name'  => __( 'Subject', 'wpbridge' ),
						'value' => $row->subject,
					),
					array(
						'name'  => __( 'Recipients', 'wpbridge' ),
						'value' => $row->recipients,
					),
					array(
						'name'  => __( 'Written', 'wpbridge' ),
						'value' => wp_date( 'Y-m-d H:i:s', (int) $row->created_at ),
					),
				),
			);
		}
		return array(
			'data' => $items,
			'done' => true,
		);
	}

	/**
	 * Delete spooled messages addressed only to $address; take $address off the envelope of
	 * those addressed to others too (their mail is still delivered).
	 *
	 * @return array{deleted: int, trimmed: int}
	 */
	private static function erase_from_spool( string $address ): array {
		global $wpdb;
		$table  = Spool::table();
		$result = array(
			'deleted' => 0,
			'trimmed' => 0,
		);
		foreach ( self::spool_rows( $address ) as $row ) {
			$others = array_values( array_diff( self::split( $row->recipients ), array( $address ) ) );
			if ( ! $others ) {
				$result['deleted'] += (int) $wpdb->delete( $table, array( 'id' => $row->id ), array( '%d' ) );
				continue;
			}
			$payload = json_decode( $row->payload, true );
			if ( ! is_array( $payload ) || ! isset( $payload['envelope']['to'] ) ) {
				continue;
			}
			$payload['envelope']['to'] = array_values(
				array_filter(
					(array) $payload['envelope']['to'],
					static fn( $to ) => strtolower( (string) $to ) !== $address
				)
			);
			$result['trimmed'] += (int) $wpdb->update(
				$table,
				array(
					'payload'    => (string) wp_json_encode( $payload ),
					'recipients' => implode( ', ', $others ),
				),
				array( 'id' => $row->id ),
				array( '%s', '%s' ),
				array( '%d' )
			);
		}
		return $result;
	}

	/** Spool rows with $address among their envelope recipients. */
	private static function spool_rows( string $address ): array {
		global $wpdb;
		if ( '' === $address || ! Spool::count() ) {
			return array();
		}
		$table = Spool::table();
		$rows  = (array) $wpdb->get_results(
			$wpdb->prepare(
				"SELECT id, payload, recipients, subject, created_at FROM {$table} WHERE recipients LIKE %s ORDER BY id", // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name only.
				'%' . $wpdb->esc_like( $address ) . '%'
			)
		);
		// LIKE also finds longer addresses that contain this one: keep exact matches only.
		return array_values( array_filter( $rows, static fn( $row ) => in_array( $address, self::split( $row->recipients ), true ) ) );
	}

	/** The spool's "a@example.org, b@example.org" column as lower-case addresses. */
	private static function split( string $recipients ): array {
		return array_map( static fn( $a ) => strtolower( trim( $a ) ), explode( ',', $recipients ) );
	}
}

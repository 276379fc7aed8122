<?php
/**
 * wp-admin tabs for what WP Mail SMTP and FluentSMTP users expect: the email log, one
 * logged message (headers and body), resend, the suppression list, alert settings.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Reads and writes go to the bridge as signed, site-scoped calls (see Client); nothing is
 * kept in WordPress. Every write checks the capability, then the nonce (Admin::check_request).
 */
final class Admin_Mail {

	public const TABS = array( 'status', 'log', 'suppressions', 'alerts' );

	public static function init(): void {
		add_action( 'admin_post_wpbridge_resend', array( self::class, 'handle_resend' ) );
		add_action( 'admin_post_wpbridge_unsuppress', array( self::class, 'handle_unsuppress' ) );
		add_action( 'admin_post_wpbridge_alert_settings', array( self::class, 'handle_alert_settings' ) );
	}

	public static function tab(): string {
		$tab = sanitize_key( wp_unslash( (string) ( $_GET['tab'] ?? 'status' ) ) ); // phpcs:ignore WordPress.Security.NonceVerification.Recommended -- navigation only.
		return in_array( $tab, self::TABS, true ) ? $tab : 'status';
	}

	public static function url( string $tab, array $args = array() ): string {
		return add_query_arg( array_merge( array( 'tab' => $tab ), $args ), Admin::page_url() );
	}

	public static function render_tabs( string $current ): void {
		$labels = array(
			'status'       => __( 'Status and settings', 'wpbridge' ),
			'log'          => __( 'Email log', 'wpbridge' ),
			'suppressions' => __( 'Suppressions', 'wpbridge' ),
			'alerts'       => __( 'Alerts and summary', 'wpbridge' ),
		);
		echo '<nav class="nav-tab-wrapper">';
		foreach ( $labels as $tab => $label ) {
			printf(
				'<a href="%s" class="nav-tab%s">%s</a>',
				esc_url( self::url( $tab ) ),
				$tab === $current ? ' nav-tab-active' : '',
				esc_html( $label )
			);
		}
		echo '</nav>';
	}

	/** The client, or null after printing why there is none. */
	private static function client(): ?Client {
		$config = Config::load();
		if ( ! $config->is_complete() ) {
			printf( '<p>%s</p>', esc_html__( 'Fill in the bridge URL, key id and secret first.', 'wpbridge' ) );
			return null;
		}
		return new Client( $config );
	}

	private static function error( Response $response ): void {
		printf( '<div class="notice notice-error inline"><p>%s</p></div>', esc_html( $response->error_message() ) );
	}

	/** Hidden fields and a button that post $action with its nonce to admin-post.php. */
	private static function post_button( string $action, string $nonce, array $fields, string $label, string $class = 'secondary' ): void {
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" style="display:inline-block;margin:0 .5em .3em 0">';
		wp_nonce_field( $nonce );
		echo '<input type="hidden" name="action" value="' . esc_attr( $action ) . '">';
		foreach ( $fields as $name => $value ) {
			echo '<input type="hidden" name="' . esc_attr( $name ) . '" value="' . esc_attr( (string) $value ) . '">';
		}
		submit_button( $label, $class, 'submit', false );
		echo '</form>';
	}

	public static function remove_button( string $address ): void {
		self::post_button( 'wpbridge_unsuppress', 'wpbridge_unsuppress', array( 'address' => $address ), __( 'Remove from suppressions', 'wpbridge' ) );
	}

	// -- the email log and one message ------------------------------------------------------

	public static function render_log(): void {
		$id = sanitize_text_field( wp_unslash( (string) ( $_GET['message'] ?? '' ) ) ); // phpcs:ignore WordPress.Security.NonceVerification.Recommended -- a read.
		if ( '' !== $id ) {
			self::render_message( $id );
			return;
		}
		$client = self::client();
		if ( ! $client ) {
			return;
		}
		$response = $client->list_log();
		if ( ! $response->is_ok() ) {
			self::error( $response );
			return;
		}
		$entries = (array) ( $response->data['entries'] ?? array() );
		if ( ! $entries ) {
			printf( '<p>%s</p>', esc_html__( 'The bridge has no mail of this site yet.', 'wpbridge' ) );
			return;
		}
		echo '<table class="widefat striped wpbridge-log"><thead><tr>';
		foreach ( array( __( 'Date (UTC)', 'wpbridge' ), __( 'Recipient', 'wpbridge' ), __( 'Subject', 'wpbridge' ), __( 'State', 'wpbridge' ), __( 'Provider\'s answer', 'wpbridge' ), '' ) as $heading ) {
			echo '<th>' . esc_html( $heading ) . '</th>';
		}
		echo '</tr></thead><tbody>';
		foreach ( $entries as $e ) {
			printf(
				'<tr><td>%1$s</td><td>%2$s</td><td>%3$s</td><td>%4$s</td><td>%5$s</td><td><a href="%6$s">%7$s</a></td></tr>',
				esc_html( str_replace( array( 'T', 'Z' ), array( ' ', '' ), (string) ( $e['created_at'] ?? '' ) ) ),
				esc_html( (string) ( $e['address'] ?? '' ) ),
				esc_html( (string) ( $e['subject'] ?? '' ) ),
				esc_html( (string) ( $e['state'] ?? '' ) ),
				esc_html( (string) ( $e['last_response'] ?? '' ) ),
				esc_url( self::url( 'log', array( 'message' => (string) ( $e['id'] ?? '' ) ) ) ),
				esc_html__( 'View', 'wpbridge' )
			);
		}
		echo '</tbody></table>';
	}

	private static function render_message( string $id ): void {
		printf( '<p><a href="%s">&larr; %s</a></p>', esc_url( self::url( 'log' ) ), esc_html__( 'Email log', 'wpbridge' ) );
		$client = self::client();
		if ( ! $client ) {
			return;
		}
		$record  = $client->get_message( $id );
		$content = $client->message_content( $id );
		if ( ! $record->is_ok() || ! $content->is_ok() ) {
			self::error( $record->is_ok() ? $content : $record );
			return;
		}
		$m = $content->data;
		printf( '<h2>%s</h2>', esc_html( (string) ( $m['subject'] ?? '' ) ) );
		echo '<table class="widefat striped" style="max-width:70em"><thead><tr><th>' . esc_html__( 'Recipient', 'wpbridge' ) . '</th><th>' . esc_html__( 'State', 'wpbridge' ) . '</th><th>' . esc_html__( 'Provider\'s answer', 'wpbridge' ) . '</th></tr></thead><tbody>';
		foreach ( (array) ( $record->data['recipients'] ?? array() ) as $r ) {
			printf(
				'<tr><td>%s</td><td>%s</td><td>%s</td></tr>',
				esc_html( (string) ( $r['address'] ?? '' ) ),
				esc_html( (string) ( $r['state'] ?? '' ) ),
				esc_html( (string) ( $r['last_response'] ?? '' ) )
			);
		}
		echo '</tbody></table>';
		if ( ! empty( $m['body_pruned'] ) ) {
			printf( '<div class="notice notice-info inline wpbridge-pruned"><p>%s</p></div>', esc_html( (string) ( $m['note'] ?? __( 'The body was removed by the bridge\'s retention.', 'wpbridge' ) ) ) );
			return;
		}
		echo '<p>';
		self::post_button( 'wpbridge_resend', 'wpbridge_resend_' . $id, array( 'message' => $id ), __( 'Resend', 'wpbridge' ), 'primary' );
		echo '</p><h3>' . esc_html__( 'Headers', 'wpbridge' ) . '</h3><table class="widefat striped wpbridge-headers" style="max-width:70em"><tbody>';
		foreach ( (array) ( $m['headers'] ?? array() ) as $header ) {
			printf( '<tr><th scope="row" style="width:12em">%s</th><td>%s</td></tr>', esc_html( (string) $header[0] ), esc_html( (string) $header[1] ) );
		}
		echo '</tbody></table>';
		if ( null !== ( $m['text'] ?? null ) ) {
			printf( '<h3>%s</h3><pre class="wpbridge-text" style="white-space:pre-wrap;background:#fff;border:1px solid #dcdcde;padding:1em;max-width:70em">%s</pre>', esc_html__( 'Text', 'wpbridge' ), esc_html( (string) $m['text'] ) );
		}
		if ( null !== ( $m['html'] ?? null ) ) {
			// A sandbox without scripts: the mail's HTML is shown, never run, and cannot reach wp-admin.
			printf(
				'<h3>%s</h3><iframe class="wpbridge-html" sandbox="" referrerpolicy="no-referrer" title="%s" srcdoc="%s" style="width:100%%;max-width:70em;height:480px;border:1px solid #dcdcde;background:#fff"></iframe>',
				esc_html__( 'HTML', 'wpbridge' ),
				esc_attr__( 'The message as HTML', 'wpbridge' ),
				esc_attr( (string) $m['html'] )
			);
		}
		$attachments = (array) ( $m['attachments'] ?? array() );
		if ( $attachments ) {
			echo '<h3>' . esc_html__( 'Attachments', 'wpbridge' ) . '</h3><ul>';
			foreach ( $attachments as $a ) {
				printf( '<li>%s (%s, %s)</li>', esc_html( (string) ( $a['filename'] ?? '' ) ), esc_html( (string) ( $a['content_type'] ?? '' ) ), esc_html( size_format( (int) ( $a['size'] ?? 0 ) ) ) );
			}
			echo '</ul>';
		}
	}

	public static function handle_resend(): void {
		$id = sanitize_text_field( wp_unslash( (string) ( $_POST['message'] ?? '' ) ) ); // phpcs:ignore WordPress.Security.NonceVerification.Missing -- checked next.
		Admin::check_request( 'wpbridge_resend_' . $id );
		$back   = self::url( 'log', array( 'message' => $id ) );
		$config = Config::load();
		if ( ! $config->is_complete() ) {
			Admin::finish( false, __( 'Fill in the bridge URL, key id and secret first.', 'wpbridge' ), $back );
		}
		$response = ( new Client( $config ) )->resend( $id );
		if ( $response->is_ok() ) {
			/* translators: %s: id of the new message. */
			Admin::finish( true, sprintf( __( 'Handed to the bridge again as message %s.', 'wpbridge' ), (string) ( $response->data['id'] ?? '' ) ), $back );
		}
		$error = (array) ( $response->data['error'] ?? array() );
		if ( 409 === $response->status && 'suppressed' === ( $error['code'] ?? '' ) ) {
			$address = (string) ( $error['address'] ?? '' );
			/* translators: %s: email address. */
			Admin::finish( false, sprintf( __( 'Not resent: %s is on this site\'s suppression list (it bounced or complained). Remove it if you are sure it receives mail again, then resend.', 'wpbridge' ), $address ), $back, $address );
		}
		Admin::finish( false, $response->error_message(), $back );
	}

	// -- suppressions -----------------------------------------------------------------------

	public static function render_suppressions(): void {
		$client = self::client();
		if ( ! $client ) {
			return;
		}
		$response = $client->suppressions();
		if ( ! $response->is_ok() ) {
			self::error( $response );
			return;
		}
		$rows = (array) ( $response->data['suppressions'] ?? array() );
		printf( '<p>%s</p>', esc_html__( 'The bridge sends nothing to these addresses: they bounced, complained or unsubscribed. Remove one only when you know it works again.', 'wpbridge' ) );
		if ( ! $rows ) {
			printf( '<p>%s</p>', esc_html__( 'No address is suppressed.', 'wpbridge' ) );
			return;
		}
		echo '<table class="widefat striped wpbridge-suppressions"><thead><tr><th>' . esc_html__( 'Address', 'wpbridge' ) . '</th><th>' . esc_html__( 'Scope', 'wpbridge' ) . '</th><th>' . esc_html__( 'Reason', 'wpbridge' ) . '</th><th>' . esc_html__( 'Since (UTC)', 'wpbridge' ) . '</th><th></th></tr></thead><tbody>';
		foreach ( $rows as $row ) {
			printf(
				'<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>',
				esc_html( (string) ( $row['address'] ?? '' ) ),
				esc_html( (string) ( $row['scope'] ?? '' ) ),
				esc_html( (string) ( $row['reason'] ?? '' ) ),
				esc_html( (string) ( $row['created_at'] ?? '' ) )
			);
			self::post_button( 'wpbridge_unsuppress', 'wpbridge_unsuppress', array( 'address' => (string) ( $row['address'] ?? '' ) ), __( 'Remove', 'wpbridge' ) );
			echo '</td></tr>';
		}
		echo '</tbody></table>';
	}

	public static function handle_unsuppress(): void {
		Admin::check_request( 'wpbridge_unsuppress' );
		$address = sanitize_email( wp_unslash( (string) ( $_POST['address'] ?? '' ) ) );
		$back    = wp_get_referer() ? wp_get_referer() : self::url( 'suppressions' );
		$config  = Config::load();
		if ( '' === $address || ! $config->is_complete() ) {
			Admin::finish( false, __( 'Enter a valid email address, and configure the bridge first.', 'wpbridge' ), $back );
		}
		$response = ( new Client( $config ) )->remove_suppression( $address );
		if ( $response->is_ok() ) {
			/* translators: %s: email address. */
			Admin::finish( true, sprintf( __( '%s is off the suppression list: mail to it is sent again.', 'wpbridge' ), $address ), $back );
		}
		Admin::finish( false, $response->error_message(), $back );
	}

	// -- alerts and the weekly summary ------------------------------------------------------

	public static function render_alerts(): void {
		$client = self::client();
		if ( ! $client ) {
			return;
		}
		$response = $client->alert_settings();
		if ( ! $response->is_ok() ) {
			self::error( $response );
			return;
		}
		$s = $response->data;
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '">';
		wp_nonce_field( 'wpbridge_alert_settings' );
		echo '<input type="hidden" name="action" value="wpbridge_alert_settings"><table class="form-table"><tbody>';
		printf(
			'<tr><th scope="row"><label for="wpbridge_contact">%s</label></th><td><input type="text" id="wpbridge_contact" name="contact_email" value="%s" class="regular-text" placeholder="%s"><p class="description">%s</p></td></tr>',
			esc_html__( 'Alert contact', 'wpbridge' ),
			esc_attr( (string) ( $s['contact_email'] ?? '' ) ),
			esc_attr( (string) get_option( 'admin_email' ) ),
			esc_html__( 'Who hears when bounces, complaints or delays pass a level (comma-separated addresses; empty: nobody).', 'wpbridge' )
		);
		printf(
			'<tr><th scope="row">%s</th><td><label><input type="checkbox" name="weekly_summary" value="1"%s> %s</label></td></tr>',
			esc_html__( 'Weekly summary', 'wpbridge' ),
			checked( ! empty( $s['weekly_summary']['enabled'] ), true, false ),
			/* translators: %s: the site's admin email address. */
			esc_html( sprintf( __( 'Email a summary of last week\'s mail every Monday to %s', 'wpbridge' ), (string) get_option( 'admin_email' ) ) )
		);
		foreach ( (array) ( $s['thresholds'] ?? array() ) as $t ) {
			$percent = '%' === ( $t['unit'] ?? '%' );
			$factor  = $percent ? 100 : 1;
			$metric  = (string) $t['metric'];
			printf(
				'<tr><th scope="row">%1$s</th><td><label>%2$s <input type="number" step="any" min="0" name="thresholds[%3$s][warn]" value="%4$s" class="small-text"></label> <label>%5$s <input type="number" step="any" min="0" name="thresholds[%3$s][critical]" value="%6$s" class="small-text"></label> %7$s<p class="description">%8$s</p></td></tr>',
				esc_html( ucfirst( (string) $t['label'] ) ),
				esc_html__( 'warning at', 'wpbridge' ),
				esc_attr( $metric ),
				esc_attr( (string) round( (float) $t['warn'] * $factor, 4 ) ),
				esc_html__( 'critical at', 'wpbridge' ),
				esc_attr( (string) round( (float) $t['critical'] * $factor, 4 ) ),
				$percent ? '%' : esc_html__( 'seconds', 'wpbridge' ),
				esc_html(
					sprintf(
						/* translators: 1: default warning level, 2: default critical level, 3: unit, 4: number of messages. */
						__( 'Default %1$s / %2$s %3$s. Judged once %4$d messages are behind the figure.', 'wpbridge' ),
						(string) round( (float) $t['default_warn'] * $factor, 4 ),
						(string) round( (float) $t['default_critical'] * $factor, 4 ),
						$percent ? '%' : __( 'seconds', 'wpbridge' ),
						(int) $t['min_volume']
					)
				)
			);
		}
		echo '</tbody></table>';
		submit_button( __( 'Save alert settings', 'wpbridge' ) );
		echo '</form>';
	}

	public static function handle_alert_settings(): void {
		Admin::check_request( 'wpbridge_alert_settings' );
		$back   = self::url( 'alerts' );
		$config = Config::load();
		if ( ! $config->is_complete() ) {
			Admin::finish( false, __( 'Fill in the bridge URL, key id and secret first.', 'wpbridge' ), $back );
		}
		$client  = new Client( $config );
		$current = $client->alert_settings();
		if ( ! $current->is_ok() ) {
			Admin::finish( false, $current->error_message(), $back );
		}
		// Only levels that differ from the bridge's defaults become the site's own, so that
		// the others follow the bridge when its operator changes them.
		$levels = array();
		$posted = wp_unslash( (array) ( $_POST['thresholds'] ?? array() ) ); // phpcs:ignore WordPress.Security.ValidatedSanitizedInput.InputNotSanitized -- each value is cast below.
		foreach ( (array) ( $current->data['thresholds'] ?? array() ) as $t ) {
			$metric = (string) $t['metric'];
			$factor = '%' === ( $t['unit'] ?? '%' ) ? 100 : 1;
			if ( ! isset( $posted[ $metric ]['warn'], $posted[ $metric ]['critical'] ) ) {
				continue;
			}
			$warn     = (float) $posted[ $metric ]['warn'] / $factor;
			$critical = (float) $posted[ $metric ]['critical'] / $factor;
			if ( abs( $warn - (float) $t['default_warn'] ) > 1e-9 || abs( $critical - (float) $t['default_critical'] ) > 1e-9 ) {
				$levels[ $metric ] = array(
					'warn'     => $warn,
					'critical' => $critical,
				);
			}
		}
		$response = $client->save_alert_settings(
			array(
				'contact_email'  => sanitize_text_field( wp_unslash( (string) ( $_POST['contact_email'] ?? '' ) ) ),
				'weekly_summary' => array(
					'enabled' => ! empty( $_POST['weekly_summary'] ),
					'to'      => (string) get_option( 'admin_email' ),
				),
				'thresholds'     => (object) $levels,
			)
		);
		if ( $response->is_ok() ) {
			Admin::finish( true, __( 'Alert settings saved at the bridge.', 'wpbridge' ), $back );
		}
		Admin::finish( false, $response->error_message(), $back );
	}
}

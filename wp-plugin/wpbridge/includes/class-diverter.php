<?php
/**
 * Diverts wp_mail() to the bridge.
 *
 * @package wpbridge
 */

namespace WPBridge;

use WP_Error;

defined( 'ABSPATH' ) || exit;

/**
 * The pre_wp_mail handler: build the message as core would, add context for the
 * bridge's classifier, make one signed POST, and act on the answer:
 *
 * - 202: wp_mail() returns true.
 * - no answer, timeout, 429, 5xx (or the site's key refused): the message goes to the
 *   spool (or back to WordPress's own mailer in fallback mode) and wp_mail() returns true.
 * - the message itself refused (400, 413, 422): wp_mail() returns false and
 *   wp_mail_failed fires with the bridge's explanation. Nothing is spooled.
 */
final class Diverter {

	/**
	 * Late, so filters that deliberately stop mail (return false) or send it themselves
	 * earlier in the chain keep working; their answer is passed through untouched.
	 */
	public const PRIORITY = 1000;

	/**
	 * Context from the last woocommerce_email_headers / woocommerce_mail_callback_params
	 * call, waiting for the wp_mail() call it belongs to.
	 *
	 * @var array<string, string|int>
	 */
	private static array $pending_context = array();

	/**
	 * Core filters that each build one kind of WordPress core mail just before its
	 * wp_mail() call; the filter's name tells the bridge's classifier what the mail is.
	 */
	private const CORE_MAIL_FILTERS = array(
		'retrieve_password_notification_email', 'wp_new_user_notification_email',
		'wp_new_user_notification_email_admin', 'wp_password_change_notification_email',
		'password_change_email', 'email_change_email', 'new_user_email_content',
		'user_request_action_email_content', 'user_request_confirmed_email_content',
		'wp_privacy_personal_data_email_content', 'user_erasure_fulfillment_email_content',
		'comment_moderation_text', 'comment_notification_text', 'new_admin_email_content',
		'site_admin_email_change_email', 'auto_core_update_email', 'auto_plugin_theme_update_email',
		'automatic_updates_debug_email', 'recovery_mode_email', 'wp_installed_email',
		'wpmu_signup_user_notification_email', 'wpmu_signup_blog_notification_email',
		'update_welcome_email', 'update_welcome_user_email', 'newblog_notify_siteadmin',
		'newuser_notify_siteadmin',
	);

	public static function init(): void {
		foreach ( self::CORE_MAIL_FILTERS as $filter ) {
			add_filter( $filter, array( self::class, 'capture_core_kind' ), PHP_INT_MAX );
		}
		add_filter( 'pre_wp_mail', array( self::class, 'pre_wp_mail' ), self::PRIORITY, 2 );
		add_filter( 'woocommerce_email_headers', array( self::class, 'capture_wc_headers' ), PHP_INT_MAX, 4 );
		add_filter( 'woocommerce_mail_callback_params', array( self::class, 'capture_wc_params' ), PHP_INT_MAX, 2 );
		add_action( 'woocommerce_email_sent', array( self::class, 'forget_context' ) );
	}

	/**
	 * @param null|bool $result Another filter's answer; anything but null is passed through.
	 * @param array     $atts   wp_mail() arguments after the wp_mail filter.
	 * @return null|bool Null hands the call back to core (not configured, or fallback mode).
	 */
	public static function pre_wp_mail( $result, $atts ) {
		if ( null !== $result ) {
			return $result;
		}
		$config = Config::load();
		if ( ! $config->is_complete() ) {
			return null;
		}
		$context               = self::context();
		self::$pending_context = array();

		$message = Message::build( (array) $atts );
		if ( $message instanceof WP_Error ) {
			do_action( 'wp_mail_failed', $message );
			return false;
		}

		$key      = wp_generate_uuid4();
		$body     = wp_json_encode(
			array(
				'raw'      => base64_encode( $message->raw ),
				'envelope' => array(
					'from' => $message->sender,
					'to'   => $message->recipients,
				),
				'context'  => $context,
			)
		);
		if ( false === $body ) {
			return null; // Unencodable context: let WordPress send it rather than lose it.
		}
		$response = ( new Client( $config ) )->post_message( $body, $key );

		if ( $response->is_ok() ) {
			State::record_ok();
			/**
			 * The bridge accepted a message.
			 *
			 * @param string $id      The bridge's message id.
			 * @param array  $context The context sent with it.
			 */
			do_action( 'wpbridge_queued', (string) ( $response->data['id'] ?? '' ), $context );
			do_action( 'wp_mail_succeeded', $message->mail_data );
			return true;
		}

		if ( $response->is_temporary() ) {
			State::record_error( $response->error_message(), false );
			if ( $config->fallback() ) {
				return null;
			}
			$spool_id = Spool::add( $key, $body, $message->recipients, $message->subject, $response );
			if ( ! $spool_id ) {
				return null; // Could not even spool it: let WordPress try its own mailer rather than lose it.
			}
			/**
			 * A message could not be handed over now and waits in the spool.
			 *
			 * @param int    $spool_id Row id in the spool table.
			 * @param string $error    Why.
			 */
			do_action( 'wpbridge_spooled', $spool_id, $response->error_message() );
			do_action( 'wp_mail_succeeded', $message->mail_data );
			return true;
		}

		State::record_error( $response->error_message(), true );
		$data = $message->mail_data + array(
			'wpbridge_status' => $response->status,
			'wpbridge_error'  => $response->data['error'] ?? null,
		);
		do_action( 'wp_mail_failed', new WP_Error( 'wp_mail_failed', $response->error_message(), $data ) );
		return false;
	}

	/**
	 * Remember WooCommerce's email id (and order id) for the wp_mail() call that follows.
	 * Hooked to woocommerce_email_headers( $headers, $email_id, $object, $email ).
	 *
	 * @param mixed $headers Passed through unchanged.
	 */
	public static function capture_wc_headers( $headers, $email_id = '', $object = null, $email = null ) {
		if ( is_string( $email_id ) && '' !== $email_id ) {
			self::$pending_context = self::wc_context( $email_id, $object );
		}
		return $headers;
	}

	/**
	 * Same, from woocommerce_mail_callback_params( $params, $email ), which runs right
	 * before WC_Email calls wp_mail().
	 */
	public static function capture_wc_params( $params, $email = null ) {
		if ( is_object( $email ) && isset( $email->id ) && is_string( $email->id ) ) {
			self::$pending_context = self::wc_context( $email->id, $email->object ?? null );
		}
		return $params;
	}

	/**
	 * Remember which core mail the next wp_mail() sends (comment notices fire their filter
	 * once for several recipients: only the first copy gets the kind).
	 *
	 * @param mixed $value Passed through unchanged.
	 */
	public static function capture_core_kind( $value ) {
		self::$pending_context = array( 'wp_mail_kind' => current_filter() );
		return $value;
	}

	/** Don't let a WooCommerce context outlive the email it came from. */
	public static function forget_context(): void {
		self::$pending_context = array();
	}

	private static function wc_context( string $email_id, $object ): array {
		$context = array( 'wc_email_id' => $email_id );
		if ( is_object( $object ) && is_a( $object, 'WC_Abstract_Order' ) && method_exists( $object, 'get_id' ) ) {
			$context['wc_order_id'] = (int) $object->get_id();
		}
		return $context;
	}

	/** What the bridge's classifier may use. Never the subject. */
	private static function context(): array {
		$context = array(
			'source'   => 'wp_mail',
			'site_url' => home_url( '/' ),
		) + self::$pending_context;
		$plugin = self::calling_plugin();
		if ( '' !== $plugin ) {
			$context['plugin'] = $plugin;
		}
		return $context;
	}

	/**
	 * The plugin (or must-use plugin) whose code called wp_mail(), from the file of the
	 * wp_mail() call site; '' for core and themes.
	 */
	private static function calling_plugin(): string {
		$file = '';
		foreach ( debug_backtrace( DEBUG_BACKTRACE_IGNORE_ARGS, 12 ) as $frame ) {
			if ( 'wp_mail' === ( $frame['function'] ?? '' ) && ! isset( $frame['class'] ) ) {
				$file = wp_normalize_path( $frame['file'] ?? '' );
				break;
			}
		}
		foreach ( array( WP_PLUGIN_DIR, WPMU_PLUGIN_DIR ) as $dir ) {
			$dir = trailingslashit( wp_normalize_path( $dir ) );
			if ( '' !== $file && str_starts_with( $file, $dir ) ) {
				$first = strtok( substr( $file, strlen( $dir ) ), '/' );
				return preg_replace( '/\.php$/', '', (string) $first );
			}
		}
		return '';
	}
}

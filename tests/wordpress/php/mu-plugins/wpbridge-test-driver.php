<?php
/**
 * Plugin Name: wpbridge test driver (tests only)
 * Description: Lets the end-to-end tests call wp_mail() inside a real request and read the
 * plugin's spool. Answers only requests carrying the run's random token.
 *
 * @package wpbridge-tests
 */

defined( 'ABSPATH' ) || exit;

if ( ! defined( 'WPBRIDGE_TEST_TOKEN' ) || ! isset( $_GET['wpbridge_test'] ) ) {
	return;
}

if ( ! class_exists( 'WC_Abstract_Order' ) ) {
	/** Stand-ins for the WooCommerce classes the plugin looks at (WooCommerce cannot be installed here). */
	abstract class WC_Abstract_Order {
		abstract public function get_id();
	}
	class WC_Order extends WC_Abstract_Order {
		private int $id;

		public function __construct( int $id ) {
			$this->id = $id;
		}

		public function get_id() {
			return $this->id;
		}
	}
}

/**
 * Does what WC_Email::trigger() / send() do around wp_mail(), in the same order: the headers
 * (filtered through woocommerce_email_headers with the email id and object), temporary
 * wp_mail_from / wp_mail_from_name / wp_mail_content_type filters,
 * woocommerce_mail_callback_params, wp_mail(), woocommerce_email_sent.
 */
final class WPBridge_Test_WC_Email {
	public string $id;
	public $object;
	private array $spec;

	public function __construct( array $spec ) {
		$this->id     = $spec['email_id'];
		$this->object = isset( $spec['order_id'] ) ? new WC_Order( (int) $spec['order_id'] ) : null;
		$this->spec   = $spec;
	}

	public function get_from_address() {
		return $this->spec['from'] ?? 'shop@example.com';
	}

	public function get_from_name() {
		return $this->spec['from_name'] ?? 'Test Shop';
	}

	public function get_content_type() {
		return $this->spec['content_type'] ?? 'text/html';
	}

	public function get_headers() {
		$header = 'Content-Type: ' . $this->get_content_type() . "\r\n";
		return apply_filters( 'woocommerce_email_headers', $header, $this->id, $this->object, $this );
	}

	public function send( $to, $subject, $message, $headers, $attachments ) {
		add_filter( 'wp_mail_from', array( $this, 'get_from_address' ) );
		add_filter( 'wp_mail_from_name', array( $this, 'get_from_name' ) );
		add_filter( 'wp_mail_content_type', array( $this, 'get_content_type' ) );
		$params = array( $to, $subject, $message, $headers, $attachments );
		if ( empty( $this->spec['skip_callback_params'] ) ) {
			$params = apply_filters( 'woocommerce_mail_callback_params', $params, $this );
		}
		$return = wp_mail( ...$params );
		remove_filter( 'wp_mail_from', array( $this, 'get_from_address' ) );
		remove_filter( 'wp_mail_from_name', array( $this, 'get_from_name' ) );
		remove_filter( 'wp_mail_content_type', array( $this, 'get_content_type' ) );
		do_action( 'woocommerce_email_sent', $return, $this->id, $this );
		return $return;
	}
}

/**
 * One wp_mail() call as the spec says. Spec keys: to, subject, message, headers,
 * attachments (list of {file, content (base64), name?}), attachments_as_string,
 * filters ({hook: value}), alt_body, woo ({email_id, order_id, ...}).
 */
function wpbridge_test_send( array $spec ): array {
	$undo = array();
	foreach ( (array) ( $spec['filters'] ?? array() ) as $hook => $value ) {
		$callback = static function () use ( $value ) {
			return $value;
		};
		add_filter( $hook, $callback, 20 );
		$undo[] = array( $hook, $callback, 20 );
	}
	if ( isset( $spec['alt_body'] ) ) {
		// WooCommerce's multipart mail does exactly this.
		$callback = static function ( $mailer ) use ( $spec ) {
			$mailer->AltBody = $spec['alt_body'];
		};
		add_action( 'phpmailer_init', $callback );
		$undo[] = array( 'phpmailer_init', $callback, 10 );
	}

	$outcome = array(
		'failed'  => array(),
		'queued'  => array(),
		'spooled' => array(),
	);
	$hooks   = array(
		'wp_mail_failed'   => static function ( $error ) use ( &$outcome ) {
			$outcome['failed'][] = array(
				'message' => $error->get_error_message(),
				'data'    => array_intersect_key( (array) $error->get_error_data(), array_flip( array( 'to', 'subject', 'wpbridge_status', 'wpbridge_error', 'phpmailer_exception_code' ) ) ),
			);
		},
		'wpbridge_queued'  => static function ( $id, $context ) use ( &$outcome ) {
			$outcome['queued'][] = array(
				'id'      => $id,
				'context' => $context,
			);
		},
		'wpbridge_spooled' => static function ( $spool_id, $error ) use ( &$outcome ) {
			$outcome['spooled'][] = array(
				'id'    => $spool_id,
				'error' => $error,
			);
		},
		'wp_mail_succeeded' => static function () use ( &$outcome ) {
			$outcome['succeeded'] = ( $outcome['succeeded'] ?? 0 ) + 1;
		},
	);
	foreach ( $hooks as $hook => $callback ) {
		add_action( $hook, $callback, 10, 2 );
	}

	$dir = trailingslashit( get_temp_dir() ) . 'wpbridge-test-' . wp_generate_password( 12, false );
	wp_mkdir_p( $dir );
	$attachments = array();
	foreach ( (array) ( $spec['attachments'] ?? array() ) as $att ) {
		$path = $dir . '/' . basename( $att['file'] );
		file_put_contents( $path, base64_decode( $att['content'] ) );
		if ( isset( $att['name'] ) ) {
			$attachments[ $att['name'] ] = $path;
		} else {
			$attachments[] = $path;
		}
	}
	if ( ! empty( $spec['attachments_as_string'] ) ) {
		$attachments = implode( "\n", $attachments );
	}

	$start = microtime( true );
	if ( isset( $spec['core_password_reset'] ) ) {
		// WordPress core's own password-reset mail, sent by core for that user.
		$result = retrieve_password( $spec['core_password_reset'] );
		$result = true === $result;
	} elseif ( isset( $spec['woo'] ) ) {
		$email  = new WPBridge_Test_WC_Email( $spec['woo'] );
		$result = $email->send( $spec['to'], $spec['subject'] ?? '', $spec['message'] ?? '', $email->get_headers(), $attachments );
	} else {
		$result = wp_mail( $spec['to'], $spec['subject'] ?? '', $spec['message'] ?? '', $spec['headers'] ?? '', $attachments );
	}
	$outcome['ms'] = ( microtime( true ) - $start ) * 1000;

	// Callers delete temporary attachments right after wp_mail() returns; so do we.
	foreach ( glob( $dir . '/*' ) as $file ) {
		unlink( $file );
	}
	rmdir( $dir );
	foreach ( $hooks as $hook => $callback ) {
		remove_action( $hook, $callback, 10 );
	}
	foreach ( $undo as list( $hook, $callback, $priority ) ) {
		remove_filter( $hook, $callback, $priority );
	}
	$outcome['result'] = $result;
	return $outcome;
}

function wpbridge_test_spool_table(): string {
	global $wpdb;
	return $wpdb->prefix . 'wpbridge_spool';
}

function wpbridge_test_dispatch(): void {
	global $wpdb;
	$token = isset( $_SERVER['HTTP_X_TEST_TOKEN'] ) ? (string) $_SERVER['HTTP_X_TEST_TOKEN'] : '';
	if ( ! hash_equals( WPBRIDGE_TEST_TOKEN, $token ) ) {
		wp_send_json( array( 'error' => 'bad token' ), 403 );
	}
	$input  = json_decode( (string) file_get_contents( 'php://input' ), true );
	$input  = is_array( $input ) ? $input : array();
	$action = sanitize_key( wp_unslash( $_GET['wpbridge_test'] ) );
	$table  = wpbridge_test_spool_table();
	require_once ABSPATH . 'wp-admin/includes/plugin.php';
	switch ( $action ) {
		case 'send':
			wp_send_json( wpbridge_test_send( $input ) );
			break;
		case 'state':
			$wpdb->suppress_errors( true );
			$rows = $wpdb->get_results( "SELECT id, idempotency_key, recipients, subject, attempts, created_at, next_attempt_at, last_error FROM $table ORDER BY id", ARRAY_A );
			wp_send_json(
				array(
					'spool'          => $rows ? $rows : array(),
					'table_exists'   => (bool) $wpdb->get_var( $wpdb->prepare( 'SHOW TABLES LIKE %s', $table ) ),
					'cron_next'      => wp_next_scheduled( 'wpbridge_retry_spool' ),
					'state'          => get_option( 'wpbridge_state' ),
					'active_plugins' => get_option( 'active_plugins' ),
					'options'        => array_keys( array_filter( array( 'wpbridge_settings' => get_option( 'wpbridge_settings' ), 'wpbridge_db_version' => get_option( 'wpbridge_db_version' ) ) ) ),
				)
			);
			break;
		case 'spool-export':
			wp_send_json( $wpdb->get_results( "SELECT * FROM $table ORDER BY id", ARRAY_A ) );
			break;
		case 'spool-import':
			foreach ( $input as $row ) {
				unset( $row['id'] );
				$wpdb->insert( $table, $row );
			}
			wp_send_json( array( 'imported' => count( $input ) ) );
			break;
		case 'make-due':
			// Let time pass: every spooled message and the retry event are due now.
			$wpdb->query( "UPDATE $table SET next_attempt_at = 0" );
			$next = wp_next_scheduled( 'wpbridge_retry_spool' );
			if ( $next ) {
				wp_unschedule_event( $next, 'wpbridge_retry_spool' );
				wp_schedule_event( time() - 1, 'wpbridge_every_minute', 'wpbridge_retry_spool' );
			}
			wp_send_json( array( 'cron_next' => wp_next_scheduled( 'wpbridge_retry_spool' ) ) );
			break;
		case 'reset-options':
			delete_option( 'wpbridge_settings' );
			delete_option( 'wpbridge_state' );
			wp_send_json( array( 'error' => null ) );
			break;
		case 'create-user':
			$id = username_exists( $input['login'] );
			if ( ! $id ) {
				$id = wp_insert_user(
					array(
						'user_login' => $input['login'],
						'user_pass'  => $input['password'],
						'user_email' => $input['login'] . '@example.com',
						'role'       => $input['role'],
					)
				);
			}
			wp_send_json( array( 'id' => is_wp_error( $id ) ? $id->get_error_message() : $id ) );
			break;
		case 'activate':
			$result = activate_plugin( $input['plugin'] );
			wp_send_json( array( 'error' => is_wp_error( $result ) ? $result->get_error_message() : null ) );
			break;
		case 'deactivate':
			deactivate_plugins( $input['plugin'] );
			wp_send_json( array( 'error' => null ) );
			break;
		default:
			wp_send_json( array( 'error' => "unknown action $action" ), 400 );
	}
}
add_action( 'wp_loaded', 'wpbridge_test_dispatch', 1 );

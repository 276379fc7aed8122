<?php
/**
 * Signed HTTP calls to the bridge.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

/**
 * One short blocking request per call, signed as the bridge expects:
 * HMAC-SHA256(secret, key_id \n timestamp \n METHOD \n target \n body).
 */
final class Client {

	private Config $config;

	public function __construct( Config $config ) {
		$this->config = $config;
	}

	/**
	 * Hand one message to the bridge.
	 *
	 * @param string $json            Request body, sent byte for byte (it is what gets signed).
	 * @param string $idempotency_key The same key on every retry: the bridge never stores the
	 *                                message twice.
	 */
	public function post_message( string $json, string $idempotency_key ): Response {
		return $this->request( 'POST', '/api/v1/messages', $json, array( 'Idempotency-Key' => $idempotency_key ) );
	}

	/** The bridge's record of one message (with its context). */
	public function get_message( string $id ): Response {
		return $this->request( 'GET', '/api/v1/messages/' . rawurlencode( $id ) );
	}

	/** Erase what the bridge holds about one recipient of this site (WordPress's eraser). */
	public function erase_address( string $address ): Response {
		return $this->request( 'POST', '/api/v1/privacy/erase', (string) wp_json_encode( array( 'address' => $address ) ) );
	}

	/** This site's log at the bridge, newest first (one entry per recipient). */
	public function list_log(): Response {
		return $this->request( 'GET', '/api/v1/messages' );
	}

	/** Headers and bodies of one logged message, while the bridge's retention keeps them. */
	public function message_content( string $id ): Response {
		return $this->request( 'GET', '/api/v1/messages/' . rawurlencode( $id ) . '/content' );
	}

	/** Send a logged message again (delivered ones too), as a new message. */
	public function resend( string $id ): Response {
		return $this->request( 'POST', '/api/v1/messages/' . rawurlencode( $id ) . '/resend' );
	}

	/** This site's suppression list at the bridge, newest first. */
	public function suppressions(): Response {
		return $this->request( 'GET', '/api/v1/suppressions' );
	}

	/** Take an address off this site's suppression list (every scope). */
	public function remove_suppression( string $address ): Response {
		return $this->request( 'DELETE', '/api/v1/suppressions/' . rawurlencode( $address ) );
	}

	/** Alert contact, per-site levels and the opt-in weekly summary. */
	public function alert_settings(): Response {
		return $this->request( 'GET', '/api/v1/alert-settings' );
	}

	/**
	 * Change the alert settings (fields left out stay as they are).
	 *
	 * @param array $settings contact_email, weekly_summary {enabled, to}, thresholds {metric: {warn, critical}}.
	 */
	public function save_alert_settings( array $settings ): Response {
		return $this->request( 'PUT', '/api/v1/alert-settings', (string) wp_json_encode( $settings ) );
	}

	/** A signed no-op: proves URL, key id, secret and clock are right. */
	public function ping(): Response {
		return $this->request( 'GET', '/api/v1/ping' );
	}

	/**
	 * The signature header value for one request: HMAC-SHA256 over
	 * key id, timestamp, nonce (when sent), method, target and body, one per line.
	 */
	public static function sign( string $key_id, string $secret, int $timestamp, string $method, string $target, string $body, string $nonce = '' ): string {
		$data = $key_id . "\n" . $timestamp . "\n" . ( '' === $nonce ? '' : $nonce . "\n" ) . strtoupper( $method ) . "\n" . $target . "\n" . $body;
		return 'v1=' . hash_hmac( 'sha256', $data, $secret );
	}

	/**
	 * The signing headers for one request. Every request gets a fresh random nonce, which
	 * the bridge accepts once (replay protection): a retry of a spooled message signs
	 * again with a new nonce and keeps its Idempotency-Key.
	 *
	 * @return array<string,string>
	 */
	public static function signed_headers( Config $config, string $method, string $target, string $body ): array {
		$timestamp = time();
		$nonce     = bin2hex( random_bytes( 16 ) );
		return array(
			'X-WPBridge-Key-Id'    => $config->key_id(),
			'X-WPBridge-Timestamp' => (string) $timestamp,
			'X-WPBridge-Nonce'     => $nonce,
			'X-WPBridge-Signature' => self::sign( $config->key_id(), $config->secret(), $timestamp, $method, $target, $body, $nonce ),
		);
	}

	private function request( string $method, string $path, string $body = '', array $headers = array() ): Response {
		$url       = $this->config->url() . $path;
		$target    = (string) wp_parse_url( $url, PHP_URL_PATH );
		$headers  += self::signed_headers( $this->config, $method, $target, $body );
		$headers  += array( 'Accept' => 'application/json' );
		if ( '' !== $body ) {
			$headers['Content-Type'] = 'application/json';
		}
		$result = wp_remote_request(
			$url,
			array(
				'method'      => $method,
				'timeout'     => $this->config->timeout(),
				'redirection' => 0,
				'headers'     => $headers,
				'body'        => '' === $body ? null : $body,
				'user-agent'  => 'wpbridge-plugin/' . WPBRIDGE_VERSION . '; ' . home_url( '/' ),
			)
		);
		if ( is_wp_error( $result ) ) {
			return Response::network_failure( $result->get_error_message() );
		}
		return new Response(
			(int) wp_remote_retrieve_response_code( $result ),
			(string) wp_remote_retrieve_body( $result ),
			(string) wp_remote_retrieve_header( $result, 'retry-after' )
		);
	}
}

/**
 * The bridge's answer, sorted into the three outcomes the plugin acts on.
 */
final class Response {

	/** HTTP status, 0 when no answer arrived (connection refused, timeout, DNS, TLS). */
	public int $status;

	/** Decoded JSON body (empty array when there was none). */
	public array $data;

	/** Seconds the bridge asked us to wait (429, 503), 0 when unset. */
	public int $retry_after;

	private string $transport_error = '';

	public function __construct( int $status, string $body, string $retry_after = '' ) {
		$this->status      = $status;
		$decoded           = '' === $body ? null : json_decode( $body, true );
		$this->data        = is_array( $decoded ) ? $decoded : array();
		$this->retry_after = ctype_digit( $retry_after ) ? (int) $retry_after : 0;
	}

	public static function network_failure( string $error ): self {
		$response                  = new self( 0, '' );
		$response->transport_error = $error;
		return $response;
	}

	/** The bridge stored the message (202) or answered a read. */
	public function is_ok(): bool {
		return $this->status >= 200 && $this->status < 300;
	}

	/**
	 * Worth retrying later with the same Idempotency-Key: no answer, rate limit, the
	 * bridge's own trouble, or a refusal of the site rather than of the message (wrong
	 * key, wrong URL), which the admin fixes without the mail being lost meanwhile.
	 */
	public function is_temporary(): bool {
		if ( $this->is_ok() ) {
			return false;
		}
		return 0 === $this->status
			|| $this->status >= 500
			|| ( $this->status >= 300 && $this->status < 400 )
			|| in_array( $this->status, array( 401, 403, 404, 408, 429 ), true );
	}

	/** The bridge refused this message for what it contains (400, 413, 422, ...). */
	public function is_refusal(): bool {
		return ! $this->is_ok() && ! $this->is_temporary();
	}

	/** The bridge's error code ('invalid_address', ...) or a local one. */
	public function error_code(): string {
		if ( 0 === $this->status ) {
			return 'unreachable';
		}
		$error = $this->data['error'] ?? null;
		return is_array( $error ) && isset( $error['code'] ) ? (string) $error['code'] : 'http_' . $this->status;
	}

	/** One line for the admin and for wp_mail_failed: what happened and how to fix it. */
	public function error_message(): string {
		if ( 0 === $this->status ) {
			/* translators: %s: transport error such as "cURL error 7: Failed to connect". */
			return sprintf( __( 'The bridge could not be reached: %s', 'wpbridge' ), $this->transport_error );
		}
		$error = $this->data['error'] ?? null;
		if ( is_array( $error ) && ! empty( $error['message'] ) ) {
			$message = (string) $error['message'];
			if ( ! empty( $error['field'] ) ) {
				// Name the field the bridge refused, so the admin knows which address is at fault.
				$message = $error['field'] . ': ' . $message;
			}
			if ( ! empty( $error['fix'] ) ) {
				$message .= ' (' . $error['fix'] . ')';
			}
			/* translators: 1: HTTP status code, 2: the bridge's error message. */
			return sprintf( __( 'The bridge answered %1$d: %2$s', 'wpbridge' ), $this->status, $message );
		}
		/* translators: %d: HTTP status code. */
		return sprintf( __( 'The bridge answered HTTP %d without an explanation.', 'wpbridge' ), $this->status );
	}
}

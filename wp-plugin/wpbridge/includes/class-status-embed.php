<?php
/**
 * The bridge's status page inside wp-admin.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Asks the bridge, server-side and signed, for a one-time URL of this site's status page
 * and frames it. The secret never reaches the browser: the URL works once, for about five
 * minutes, and only buys a cookie for this site's page.
 */
final class Status_Embed {

	/**
	 * A fresh one-time URL, or why there is none.
	 *
	 * @return array{url?: string, error?: string}
	 */
	public static function fetch(): array {
		$config = Config::load();
		if ( ! $config->is_complete() ) {
			return array( 'error' => __( 'The bridge is not configured.', 'wpbridge' ) );
		}
		$url       = $config->url() . '/api/v1/embed-token';
		$target    = (string) wp_parse_url( $url, PHP_URL_PATH );
		$body      = (string) wp_json_encode( array( 'origin' => self::admin_origin() ) );
		$result    = wp_remote_post(
			$url,
			array(
				'timeout'     => min( $config->timeout(), 5.0 ),
				'redirection' => 0,
				'headers'     => Client::signed_headers( $config, 'POST', $target, $body ) + array(
					'Content-Type' => 'application/json',
					'Accept'       => 'application/json',
				),
				'body'        => $body,
				'user-agent'  => 'wpbridge-plugin/' . WPBRIDGE_VERSION . '; ' . home_url( '/' ),
			)
		);
		if ( is_wp_error( $result ) ) {
			return array( 'error' => Response::network_failure( $result->get_error_message() )->error_message() );
		}
		$response = new Response( (int) wp_remote_retrieve_response_code( $result ), (string) wp_remote_retrieve_body( $result ) );
		if ( ! $response->is_ok() ) {
			return array( 'error' => $response->error_message() );
		}
		$frame = (string) ( $response->data['url'] ?? '' );
		// Only ever frame a status page (the host may differ: the bridge's public URL).
		$path = (string) wp_parse_url( $frame, PHP_URL_PATH );
		if ( ! in_array( wp_parse_url( $frame, PHP_URL_SCHEME ), array( 'http', 'https' ), true ) || 0 !== strpos( $path, '/status/embed/' ) ) {
			return array( 'error' => __( 'The bridge did not answer with a status page URL; update the bridge.', 'wpbridge' ) );
		}
		if ( ! empty( $response->data['warning'] ) ) {
			return array( 'error' => (string) $response->data['warning'] );
		}
		return array( 'url' => $frame );
	}

	/** The scheme, host and port wp-admin is served from: the origin that frames the page. */
	public static function admin_origin(): string {
		$parts = wp_parse_url( admin_url() );
		$port  = isset( $parts['port'] ) ? ':' . $parts['port'] : '';
		return ( $parts['scheme'] ?? 'https' ) . '://' . ( $parts['host'] ?? '' ) . $port;
	}

	/**
	 * Print the frame; false (and nothing printed but a note) when the bridge cannot give
	 * a URL, so that the caller shows the plugin's own status instead.
	 *
	 * @param int    $height Frame height in pixels.
	 * @param string $view   'page' (the whole status page) or 'widget' (the dashboard's compact view).
	 */
	public static function render( int $height, string $view = 'page' ): bool {
		$embed = self::fetch();
		if ( empty( $embed['url'] ) ) {
			printf(
				'<p class="wpbridge-embed-error">%s %s</p>',
				esc_html__( 'The bridge\'s status page cannot be shown here:', 'wpbridge' ),
				esc_html( (string) ( $embed['error'] ?? '' ) )
			);
			return false;
		}
		printf(
			'<iframe class="wpbridge-status" src="%1$s" title="%2$s" style="width:100%%;height:%3$dpx;border:1px solid #dcdcde;background:#fff" sandbox="allow-forms allow-same-origin" referrerpolicy="no-referrer" loading="lazy"></iframe>',
			esc_url( 'widget' === $view ? add_query_arg( 'view', 'widget', $embed['url'] ) : $embed['url'], array( 'http', 'https' ) ),
			esc_attr__( 'Mail status from the bridge', 'wpbridge' ),
			(int) $height
		);
		return true;
	}
}

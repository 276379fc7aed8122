<?php
/**
 * Other plugins that send WordPress's mail themselves.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

/**
 * What keeps mail from reaching the bridge although the plugin is active: mail plugins
 * that replace wp_mail() (a pluggable function defined before core's) or the global
 * $phpmailer, and WP_HTTP_BLOCK_EXTERNAL without the bridge's host allowed.
 */
final class Conflicts {

	/** Plugin folder => name. */
	private const PLUGINS = array(
		'wp-mail-smtp'     => 'WP Mail SMTP',
		'wp-mail-smtp-pro' => 'WP Mail SMTP Pro',
		'fluent-smtp'      => 'FluentSMTP',
		'post-smtp'        => 'Post SMTP',
		'postman-smtp'     => 'Post SMTP',
		'mailster'         => 'Mailster',
	);

	/**
	 * One translated sentence per problem found; empty when there is none.
	 *
	 * @return string[]
	 */
	public static function detect(): array {
		$active = (array) get_option( 'active_plugins', array() );
		if ( is_multisite() ) {
			$active = array_merge( $active, array_keys( (array) get_site_option( 'active_sitewide_plugins', array() ) ) );
		}
		$warnings = array();
		$seen     = array();
		foreach ( $active as $plugin ) {
			$folder = dirname( (string) $plugin );
			if ( ! isset( self::PLUGINS[ $folder ] ) || isset( $seen[ self::PLUGINS[ $folder ] ] ) ) {
				continue;
			}
			$name          = self::PLUGINS[ $folder ];
			$seen[ $name ] = true;
			if ( 'Mailster' === $name ) {
				$warnings[] = __( 'Mailster is active. If its option to send all WordPress mail ("system mails") through Mailster is on, that mail bypasses the bridge: turn it off, or send Mailster through the bridge\'s SMTP listener.', 'wpbridge' );
				continue;
			}
			$warnings[] = sprintf(
				/* translators: %s: plugin name, e.g. "WP Mail SMTP". */
				__( '%s is active and also takes over how WordPress sends mail: some mail may bypass the bridge or be sent twice. Deactivate it while wpbridge is active.', 'wpbridge' ),
				$name
			);
		}
		$url = Config::load()->url();
		if ( '' !== $url && defined( 'WP_HTTP_BLOCK_EXTERNAL' ) && WP_HTTP_BLOCK_EXTERNAL && _wp_http_get_object()->block_request( $url ) ) {
			$warnings[] = sprintf(
				/* translators: %s: host name of the bridge. */
				__( 'WP_HTTP_BLOCK_EXTERNAL blocks requests to the bridge: add %s to WP_ACCESSIBLE_HOSTS in wp-config.php. Until then all mail waits in the spool.', 'wpbridge' ),
				(string) wp_parse_url( $url, PHP_URL_HOST )
			);
		}
		global $phpmailer;
		if ( is_object( $phpmailer ) && \PHPMailer\PHPMailer\PHPMailer::class !== get_class( $phpmailer ) && empty( $seen ) ) {
			$warnings[] = sprintf(
				/* translators: %s: PHP class name. */
				__( 'The global $phpmailer is replaced by %s: a plugin sends WordPress mail its own way. Mail that goes through wp_mail() still reaches the bridge; check that plugin\'s other mail.', 'wpbridge' ),
				get_class( $phpmailer )
			);
		}
		$file = self::wp_mail_file();
		if ( '' !== $file ) {
			$warnings[] = sprintf(
				/* translators: %s: path of the PHP file that defines wp_mail(). */
				__( 'wp_mail() is replaced by %s, so WordPress\'s own wp_mail() and its pre_wp_mail filter may never run: mail sent through the replacement bypasses the bridge.', 'wpbridge' ),
				$file
			);
		}
		return $warnings;
	}

	/** The file defining wp_mail() when it is not core's pluggable.php, else ''. */
	private static function wp_mail_file(): string {
		if ( ! function_exists( 'wp_mail' ) ) {
			return '';
		}
		$file = wp_normalize_path( (string) ( new \ReflectionFunction( 'wp_mail' ) )->getFileName() );
		$core = wp_normalize_path( ABSPATH . WPINC . '/pluggable.php' );
		return $file === $core ? '' : $file;
	}
}

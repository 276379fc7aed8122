<?php
/**
 * Other plugins that send WordPress's mail themselves.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

/**
 * Mail plugins that replace wp_mail() (a pluggable function defined before core's) or
 * the global $phpmailer: with one of them active, some or all mail may bypass the bridge.
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

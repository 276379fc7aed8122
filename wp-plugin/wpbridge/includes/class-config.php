<?php
/**
 * Where the plugin finds the bridge: wp-config constants first, then this site's
 * settings, then the network's.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

/**
 * One resolved configuration, read fresh for every message (get_option() is cached).
 */
final class Config {

	public const OPTION          = 'wpbridge_settings';
	public const DEFAULT_TIMEOUT = 2.0;

	/**
	 * Values by field name.
	 *
	 * @var array{url: string, key_id: string, secret: string, timeout: float, fallback: bool}
	 */
	private array $values;

	/**
	 * Where each field came from: 'constant', 'site', 'network' or 'default'.
	 *
	 * @var array<string, string>
	 */
	private array $sources;

	/**
	 * Field name => wp-config constant that overrides it.
	 */
	public const CONSTANTS = array(
		'url'      => 'WPBRIDGE_URL',
		'key_id'   => 'WPBRIDGE_KEY_ID',
		'secret'   => 'WPBRIDGE_SECRET',
		'timeout'  => 'WPBRIDGE_TIMEOUT',
		'fallback' => 'WPBRIDGE_FALLBACK',
	);

	private function __construct( array $values, array $sources ) {
		$this->values  = $values;
		$this->sources = $sources;
	}

	/**
	 * Resolve every field: constant, else this site's option, else the network's option
	 * (multisite), else the default.
	 */
	public static function load(): self {
		$site    = (array) get_option( self::OPTION, array() );
		$network = is_multisite() ? (array) get_site_option( self::OPTION, array() ) : array();
		$values  = array();
		$sources = array();
		foreach ( self::CONSTANTS as $field => $constant ) {
			if ( defined( $constant ) ) {
				$values[ $field ]  = constant( $constant );
				$sources[ $field ] = 'constant';
			} elseif ( isset( $site[ $field ] ) && '' !== $site[ $field ] ) {
				$values[ $field ]  = $site[ $field ];
				$sources[ $field ] = 'site';
			} elseif ( isset( $network[ $field ] ) && '' !== $network[ $field ] ) {
				$values[ $field ]  = $network[ $field ];
				$sources[ $field ] = 'network';
			} else {
				$values[ $field ]  = null;
				$sources[ $field ] = 'default';
			}
		}
		$timeout = (float) ( $values['timeout'] ?? self::DEFAULT_TIMEOUT );
		return new self(
			array(
				'url'      => untrailingslashit( trim( (string) $values['url'] ) ),
				'key_id'   => trim( (string) $values['key_id'] ),
				'secret'   => (string) $values['secret'],
				'timeout'  => $timeout > 0 ? min( $timeout, 30.0 ) : self::DEFAULT_TIMEOUT,
				'fallback' => (bool) $values['fallback'],
			),
			$sources
		);
	}

	/** True when URL, key id and secret are all set: only then is mail diverted. */
	public function is_complete(): bool {
		return '' !== $this->values['url'] && '' !== $this->values['key_id'] && '' !== $this->values['secret'];
	}

	public function url(): string {
		return $this->values['url'];
	}

	public function key_id(): string {
		return $this->values['key_id'];
	}

	public function secret(): string {
		return $this->values['secret'];
	}

	/** Seconds one HTTP call to the bridge may take before the message is spooled. */
	public function timeout(): float {
		return $this->values['timeout'];
	}

	/** Hand mail back to WordPress's own mailer instead of spooling it. */
	public function fallback(): bool {
		return $this->values['fallback'];
	}

	/** 'constant', 'site', 'network' or 'default'. */
	public function source( string $field ): string {
		return $this->sources[ $field ] ?? 'default';
	}
}

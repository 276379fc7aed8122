<?php
/**
 * wp-admin: settings page, status, dashboard widget, notices.
 *
 * @package wpbridge
 */

namespace WPBridge;

defined( 'ABSPATH' ) || exit;

require_once __DIR__ . '/class-status-embed.php';
require_once __DIR__ . '/class-admin-mail.php';

/**
 * Everything the site's administrators see. Every write checks the capability and a
 * nonce; the secret is never printed back into a page.
 */
final class Admin {

	public const PAGE       = 'wpbridge';
	public const CAPABILITY = 'manage_options';

	public static function init(): void {
		add_action( 'admin_menu', array( self::class, 'menu' ) );
		add_action( 'admin_init', array( self::class, 'register_settings' ) );
		add_action( 'admin_post_wpbridge_test_connection', array( self::class, 'handle_test_connection' ) );
		add_action( 'admin_post_wpbridge_send_test', array( self::class, 'handle_send_test' ) );
		add_action( 'admin_post_wpbridge_flush', array( self::class, 'handle_flush' ) );
		add_action( 'wp_dashboard_setup', array( self::class, 'dashboard_setup' ) );
		add_action( 'admin_notices', array( self::class, 'notices' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( WPBRIDGE_PLUGIN_FILE ), array( self::class, 'action_links' ) );
		Admin_Mail::init();
	}

	public static function menu(): void {
		add_options_page(
			__( 'Mail bridge', 'wpbridge' ),
			__( 'Mail bridge', 'wpbridge' ),
			self::CAPABILITY,
			self::PAGE,
			array( self::class, 'render_page' )
		);
	}

	public static function action_links( array $links ): array {
		array_unshift( $links, '<a href="' . esc_url( self::page_url() ) . '">' . esc_html__( 'Settings', 'wpbridge' ) . '</a>' );
		return $links;
	}

	public static function register_settings(): void {
		register_setting(
			self::PAGE,
			Config::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( self::class, 'sanitize' ),
				'default'           => array(),
			)
		);
		add_settings_section( 'wpbridge_connection', __( 'Connection', 'wpbridge' ), '__return_null', self::PAGE );
		$fields = array(
			'url'      => __( 'Bridge URL', 'wpbridge' ),
			'key_id'   => __( 'Key id', 'wpbridge' ),
			'secret'   => __( 'Secret', 'wpbridge' ),
			'timeout'  => __( 'Timeout (seconds)', 'wpbridge' ),
			'fallback' => __( 'When the bridge is unreachable', 'wpbridge' ),
		);
		foreach ( $fields as $field => $label ) {
			add_settings_field(
				'wpbridge_' . $field,
				$label,
				array( self::class, 'render_field' ),
				self::PAGE,
				'wpbridge_connection',
				array(
					'field'     => $field,
					'label_for' => 'wpbridge_' . $field,
				)
			);
		}
	}

	/**
	 * Settings API sanitize callback. An empty secret keeps the stored one, since the
	 * form never shows it.
	 *
	 * @param mixed $input Submitted values.
	 */
	public static function sanitize( $input ): array {
		$input  = is_array( $input ) ? $input : array();
		$stored = (array) get_option( Config::OPTION, array() );
		$url    = esc_url_raw( trim( (string) ( $input['url'] ?? '' ) ), array( 'http', 'https' ) );
		$secret = trim( (string) ( $input['secret'] ?? '' ) );
		$time   = (float) ( $input['timeout'] ?? Config::DEFAULT_TIMEOUT );
		return array(
			'url'      => untrailingslashit( $url ),
			'key_id'   => sanitize_text_field( (string) ( $input['key_id'] ?? '' ) ),
			'secret'   => '' !== $secret ? $secret : (string) ( $stored['secret'] ?? '' ),
			'timeout'  => $time > 0 ? min( $time, 10.0 ) : Config::DEFAULT_TIMEOUT,
			'fallback' => empty( $input['fallback'] ) ? 0 : 1,
		);
	}

	/**
	 * One settings field; fields fixed by a wp-config constant are shown read-only.
	 *
	 * @param array $args add_settings_field() arguments.
	 */
	public static function render_field( array $args ): void {
		$field    = $args['field'];
		$config   = Config::load();
		$stored   = (array) get_option( Config::OPTION, array() );
		$locked   = 'constant' === $config->source( $field );
		$id       = 'wpbridge_' . $field;
		$name     = Config::OPTION . '[' . $field . ']';
		$disabled = $locked ? ' disabled' : '';
		switch ( $field ) {
			case 'secret':
				$has = '' !== $config->secret();
				printf(
					'<input type="password" id="%1$s" name="%2$s" value="" class="regular-text" autocomplete="new-password" placeholder="%3$s"%4$s>',
					esc_attr( $id ),
					esc_attr( $name ),
					esc_attr( $has ? __( 'stored; leave empty to keep it', 'wpbridge' ) : '' ),
					$disabled // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- fixed string.
				);
				break;
			case 'fallback':
				printf(
					'<label><input type="checkbox" id="%1$s" name="%2$s" value="1"%3$s%4$s> %5$s</label><p class="description">%6$s</p>',
					esc_attr( $id ),
					esc_attr( $name ),
					checked( $config->fallback(), true, false ),
					$disabled, // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- fixed string.
					esc_html__( 'Hand the message back to WordPress\'s own mailer', 'wpbridge' ),
					esc_html__( 'Unchecked (recommended): keep it in the spool and retry from WP-Cron.', 'wpbridge' )
				);
				break;
			default:
				$value = $locked ? ( 'timeout' === $field ? $config->timeout() : ( 'url' === $field ? $config->url() : $config->key_id() ) ) : ( $stored[ $field ] ?? '' );
				printf(
					'<input type="%1$s" id="%2$s" name="%3$s" value="%4$s" class="%5$s"%6$s%7$s>',
					'timeout' === $field ? 'number' : ( 'url' === $field ? 'url' : 'text' ),
					esc_attr( $id ),
					esc_attr( $name ),
					esc_attr( (string) $value ),
					'timeout' === $field ? 'small-text' : 'regular-text',
					'timeout' === $field ? ' step="0.1" min="0.2" max="10" placeholder="2"' : '',
					$disabled // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- fixed string.
				);
		}
		if ( $locked ) {
			printf(
				'<p class="description">%s</p>',
				/* translators: %s: constant name, e.g. WPBRIDGE_URL. */
				esc_html( sprintf( __( 'Set by %s in wp-config.php.', 'wpbridge' ), Config::CONSTANTS[ $field ] ) )
			);
		}
	}

	public static function render_page(): void {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage the mail bridge.', 'wpbridge' ), 403 );
		}
		echo '<div class="wrap"><h1>' . esc_html__( 'Mail bridge', 'wpbridge' ) . '</h1>';
		self::render_flash();
		$tab = Admin_Mail::tab();
		Admin_Mail::render_tabs( $tab );
		if ( 'status' !== $tab ) {
			call_user_func( array( Admin_Mail::class, 'render_' . $tab ) );
			echo '</div>';
			return;
		}
		echo '<h2>' . esc_html__( 'Delivery', 'wpbridge' ) . '</h2>';
		Status_Embed::render( 1400 );
		echo '<h2>' . esc_html__( 'Status', 'wpbridge' ) . '</h2>';
		self::render_status();
		self::render_spool();
		echo '<form method="post" action="' . esc_url( admin_url( 'options.php' ) ) . '">';
		settings_fields( self::PAGE );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form>';
		echo '<h2>' . esc_html__( 'Tools', 'wpbridge' ) . '</h2>';
		self::render_action_form( 'wpbridge_test_connection', __( 'Test connection', 'wpbridge' ) );
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '">';
		wp_nonce_field( 'wpbridge_send_test' );
		echo '<input type="hidden" name="action" value="wpbridge_send_test">';
		printf(
			'<p><label for="wpbridge_test_to">%s</label> <input type="email" id="wpbridge_test_to" name="to" value="%s" class="regular-text"> ',
			esc_html__( 'Send a test email to', 'wpbridge' ),
			esc_attr( (string) wp_get_current_user()->user_email )
		);
		submit_button( __( 'Send test email', 'wpbridge' ), 'secondary', 'submit', false );
		echo '</p></form>';
		if ( Spool::count() > 0 ) {
			self::render_action_form( 'wpbridge_flush', __( 'Retry spooled mail now', 'wpbridge' ) );
		}
		echo '</div>';
	}

	/** Spool size, bridge reachability, last error, conflicts: the plugin's own view. */
	private static function render_status(): void {
		$config = Config::load();
		$state  = State::get();
		$count  = Spool::count();
		echo '<table class="widefat striped" style="max-width:60em"><tbody>';
		self::status_row( __( 'Bridge', 'wpbridge' ), $config->is_complete() ? $config->url() : __( 'not configured: WordPress sends mail itself', 'wpbridge' ) );
		if ( null === $state['reachable'] ) {
			$reach = __( 'no contact yet', 'wpbridge' );
		} elseif ( $state['reachable'] ) {
			/* translators: %s: time since the last successful contact, e.g. "5 mins". */
			$reach = sprintf( __( 'reachable (last contact %s ago)', 'wpbridge' ), human_time_diff( $state['last_ok_at'] ) );
		} else {
			$reach = __( 'unreachable', 'wpbridge' );
		}
		self::status_row( __( 'Reachable', 'wpbridge' ), $reach );
		/* translators: %d: number of messages. */
		self::status_row( __( 'Spool', 'wpbridge' ), sprintf( _n( '%d message waiting', '%d messages waiting', $count, 'wpbridge' ), $count ) );
		if ( '' !== $state['last_error'] ) {
			/* translators: 1: error message, 2: time since, e.g. "5 mins". */
			self::status_row( __( 'Last error', 'wpbridge' ), sprintf( __( '%1$s (%2$s ago)', 'wpbridge' ), $state['last_error'], human_time_diff( $state['last_error_at'] ) ) );
		}
		foreach ( Conflicts::detect() as $warning ) {
			self::status_row( __( 'Warning', 'wpbridge' ), $warning );
		}
		echo '</tbody></table>';
	}

	private static function status_row( string $label, string $value ): void {
		printf( '<tr><th scope="row" style="width:10em">%s</th><td>%s</td></tr>', esc_html( $label ), esc_html( $value ) );
	}

	private static function render_spool(): void {
		$rows = Spool::peek( 20 );
		if ( ! $rows ) {
			return;
		}
		echo '<h2>' . esc_html__( 'Waiting in the spool', 'wpbridge' ) . '</h2><table class="widefat striped"><thead><tr>';
		foreach ( array( __( 'Recipients', 'wpbridge' ), __( 'Subject', 'wpbridge' ), __( 'Attempts', 'wpbridge' ), __( 'Next attempt', 'wpbridge' ), __( 'Last error', 'wpbridge' ) ) as $heading ) {
			echo '<th>' . esc_html( $heading ) . '</th>';
		}
		echo '</tr></thead><tbody>';
		foreach ( $rows as $row ) {
			printf(
				'<tr><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>%s</td></tr>',
				esc_html( $row->recipients ),
				esc_html( $row->subject ),
				(int) $row->attempts,
				esc_html( wp_date( 'Y-m-d H:i:s', (int) $row->next_attempt_at ) ),
				esc_html( $row->last_error )
			);
		}
		echo '</tbody></table>';
	}

	private static function render_action_form( string $action, string $label ): void {
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" style="display:inline-block;margin-right:1em">';
		wp_nonce_field( $action );
		echo '<input type="hidden" name="action" value="' . esc_attr( $action ) . '">';
		submit_button( $label, 'secondary', 'submit', false );
		echo '</form>';
	}

	public static function handle_test_connection(): void {
		self::check_request( 'wpbridge_test_connection' );
		$config = Config::load();
		if ( ! $config->is_complete() ) {
			self::finish( false, __( 'Fill in the bridge URL, key id and secret first.', 'wpbridge' ) );
		}
		$ping = ( new Client( $config ) )->ping();
		if ( $ping->is_ok() ) {
			State::record_ok();
			/* translators: %s: site name the bridge knows this key by. */
			self::finish( true, sprintf( __( 'Connected: the bridge accepts this site\'s key (site %s).', 'wpbridge' ), (string) ( $ping->data['site'] ?? '?' ) ) );
		}
		State::record_error( $ping->error_message(), ! $ping->is_temporary() );
		self::finish( false, $ping->error_message() );
	}

	public static function handle_send_test(): void {
		self::check_request( 'wpbridge_send_test' );
		$to = sanitize_email( wp_unslash( (string) ( $_POST['to'] ?? '' ) ) );
		if ( '' === $to ) {
			self::finish( false, __( 'Enter a valid email address.', 'wpbridge' ) );
		}
		$outcome = Test_Mail::send( $to );
		self::finish( $outcome['ok'], $outcome['message'] );
	}

	public static function handle_flush(): void {
		self::check_request( 'wpbridge_flush' );
		$result = Spool::deliver( true );
		$text   = sprintf(
			/* translators: 1, 2, 3: numbers of messages. */
			__( 'Handed to the bridge %1$d (it delivers them and shows each in the Email log), refused by the bridge %2$d, still waiting %3$d.', 'wpbridge' ),
			$result['handed'],
			$result['refused'],
			$result['waiting']
		);
		self::finish( 0 === $result['waiting'], trim( $text . ' ' . $result['error'] ) );
	}

	/** Capability first, then the nonce, on every write. */
	public static function check_request( string $action ): void {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage the mail bridge.', 'wpbridge' ), 403 );
		}
		check_admin_referer( $action );
	}

	/**
	 * Show $message once on the settings page (or $url) after the redirect.
	 *
	 * @param string $remove An address to offer a "Remove from suppressions" button for.
	 */
	public static function finish( bool $ok, string $message, string $url = '', string $remove = '' ): void {
		set_transient(
			'wpbridge_flash_' . get_current_user_id(),
			array(
				'ok'      => $ok,
				'message' => $message,
				'remove'  => $remove,
			),
			MINUTE_IN_SECONDS
		);
		wp_safe_redirect( '' !== $url ? $url : self::page_url() );
		exit;
	}

	private static function render_flash(): void {
		$key   = 'wpbridge_flash_' . get_current_user_id();
		$flash = get_transient( $key );
		if ( ! is_array( $flash ) ) {
			return;
		}
		delete_transient( $key );
		printf(
			'<div class="notice notice-%s is-dismissible"><p>%s</p>',
			$flash['ok'] ? 'success' : 'error',
			esc_html( (string) $flash['message'] )
		);
		if ( ! empty( $flash['remove'] ) ) {
			echo '<p>';
			Admin_Mail::remove_button( (string) $flash['remove'] );
			echo '</p>';
		}
		echo '</div>';
	}

	public static function dashboard_setup(): void {
		if ( current_user_can( self::CAPABILITY ) ) {
			wp_add_dashboard_widget( 'wpbridge_status', __( 'Mail bridge', 'wpbridge' ), array( self::class, 'render_widget' ) );
		}
	}

	/** The bridge's compact widget view; the plugin's own status when the bridge cannot show it. */
	public static function render_widget(): void {
		if ( ! Status_Embed::render( 330, 'widget' ) ) {
			self::render_status();
		}
		printf(
			'<p><a href="%s">%s</a> · <a href="%s">%s</a></p>',
			esc_url( self::page_url() ),
			esc_html__( 'Full status page', 'wpbridge' ),
			esc_url( Admin_Mail::url( 'log' ) ),
			esc_html__( 'Email log', 'wpbridge' )
		);
	}

	/** Tell administrators, on every admin screen, when mail is waiting or cannot leave. */
	public static function notices(): void {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			return;
		}
		$state = State::get();
		$count = Spool::count();
		if ( $count > 0 ) {
			$text = sprintf(
				/* translators: 1: number of messages, 2: how it is retried. */
				_n( 'wpbridge: %1$d message is waiting in the spool; %2$s', 'wpbridge: %1$d messages are waiting in the spool; %2$s', $count, 'wpbridge' ),
				$count,
				self::retry_text()
			);
			if ( '' !== $state['last_error'] ) {
				/* translators: %s: the last error. */
				$text .= ' ' . sprintf( __( 'Last error: %s', 'wpbridge' ), $state['last_error'] );
			}
			self::notice( 'warning', $text );
		} elseif ( false === $state['reachable'] ) {
			/* translators: %s: reason. */
			self::notice( 'warning', sprintf( __( 'wpbridge: the bridge could not be reached on the last attempt: %s', 'wpbridge' ), $state['last_error'] ) );
		}
		foreach ( Conflicts::detect() as $warning ) {
			self::notice( 'warning', 'wpbridge: ' . $warning );
		}
	}

	/**
	 * How spooled mail is retried, truthfully: WP-Cron runs only on page loads, and not at
	 * all with DISABLE_WP_CRON, where only a system cron job (which the plugin cannot see)
	 * runs it.
	 */
	public static function retry_text(): string {
		if ( defined( 'DISABLE_WP_CRON' ) && DISABLE_WP_CRON ) {
			return sprintf(
				/* translators: 1: a crontab line with WP-CLI, 2: a crontab line with curl. */
				__( 'DISABLE_WP_CRON is set, so it is retried only when a system cron job runs the site\'s due events. If it does not yet, add to the crontab: %1$s (or: %2$s).', 'wpbridge' ),
				'*/1 * * * * wp --path=' . untrailingslashit( ABSPATH ) . ' cron event run --due-now',
				'*/1 * * * * curl -s ' . site_url( 'wp-cron.php' ) . ' >/dev/null'
			);
		}
		return __( 'WP-Cron retries it about every minute while the site has visitors (wp wpbridge flush retries it now).', 'wpbridge' );
	}

	private static function notice( string $type, string $text ): void {
		printf(
			'<div class="notice notice-%1$s"><p>%2$s <a href="%3$s">%4$s</a></p></div>',
			esc_attr( $type ),
			esc_html( $text ),
			esc_url( self::page_url() ),
			esc_html__( 'Mail bridge settings', 'wpbridge' )
		);
	}

	public static function page_url(): string {
		return admin_url( 'options-general.php?page=' . self::PAGE );
	}
}

<?php
/**
 * Turns wp_mail() arguments into the exact message WordPress itself would send.
 *
 * @package wpbridge
 */

namespace WPBridge;

use PHPMailer\PHPMailer\Exception as PHPMailerException;
use PHPMailer\PHPMailer\PHPMailer;
use WP_Error;

defined( 'ABSPATH' ) || exit;

/**
 * A complete RFC 5322 message plus its SMTP envelope.
 *
 * pre_wp_mail short-circuits wp_mail() before it does anything, so build() does what
 * wp_mail() would have done next: the same argument handling, the same header parsing,
 * the same filters (wp_mail_from, wp_mail_from_name, wp_mail_content_type,
 * wp_mail_charset) and the phpmailer_init action on the shared PHPMailer instance. Then,
 * instead of sending, it asks PHPMailer for the message it would have put on the wire
 * to an SMTP server. What reaches the bridge is what stock WordPress would have sent,
 * by construction; plugins that add an AltBody, DKIM or embedded images from
 * phpmailer_init keep working.
 */
final class Message {

	/** The message as PHPMailer would send it over SMTP (CRLF line ends). */
	public string $raw;

	/** Envelope sender: PHPMailer's Sender when a plugin set one, else the From address. */
	public string $sender;

	/** Envelope recipients: every To, Cc and Bcc address. */
	public array $recipients;

	/** What core passes to wp_mail_succeeded / wp_mail_failed for this call. */
	public array $mail_data;

	/** The subject as given, for the spool listing. */
	public string $subject;

	private function __construct() {}

	/**
	 * Build the message for one wp_mail() call.
	 *
	 * @param array $atts The (already filtered) arguments pre_wp_mail receives.
	 * @return self|WP_Error WP_Error exactly where core's wp_mail() would fire
	 *                       wp_mail_failed: unusable From, no valid recipient, empty body.
	 */
	public static function build( array $atts ) {
		$to          = $atts['to'] ?? '';
		$subject     = (string) ( $atts['subject'] ?? '' );
		$body        = $atts['message'] ?? '';
		$attachments = $atts['attachments'] ?? array();
		$to          = is_array( $to ) ? $to : explode( ',', (string) $to );
		if ( ! is_array( $attachments ) ) {
			$attachments = explode( "\n", str_replace( "\r\n", "\n", (string) $attachments ) );
		}
		$parsed  = self::parse_headers( $atts['headers'] ?? '' );
		$headers = $parsed['custom'];

		$mailer = self::mailer();
		$mailer->clearAllRecipients();
		$mailer->clearAttachments();
		$mailer->clearCustomHeaders();
		$mailer->clearReplyTos();
		$mailer->Body    = '';
		$mailer->AltBody = '';

		$from_email = apply_filters( 'wp_mail_from', $parsed['from_email'] ?? self::default_from() );
		$from_name  = apply_filters( 'wp_mail_from_name', $parsed['from_name'] ?? 'WordPress' );
		$message    = $body;
		$mail_data  = compact( 'to', 'subject', 'message', 'headers', 'attachments' );
		try {
			$mailer->setFrom( $from_email, $from_name, false );
		} catch ( PHPMailerException $e ) {
			return self::failure( $e, $mail_data );
		}

		$mailer->Subject = $subject;
		$mailer->Body    = $body;
		$adders          = array(
			'addAddress' => $to,
			'addCC'      => $parsed['cc'],
			'addBCC'     => $parsed['bcc'],
			'addReplyTo' => $parsed['reply_to'],
		);
		foreach ( $adders as $method => $addresses ) {
			foreach ( (array) $addresses as $address ) {
				$name = '';
				// "Name <addr>": everything before the last angle-bracketed part is the name.
				if ( preg_match( '/(.*)<(.+)>/', (string) $address, $matches ) ) {
					$name    = $matches[1];
					$address = $matches[2];
				}
				try {
					$mailer->$method( $address, $name );
				} catch ( PHPMailerException $e ) {
					continue; // As core: an unusable address is skipped, the rest still get the mail.
				}
			}
		}

		$mailer->isMail();
		$content_type        = apply_filters( 'wp_mail_content_type', $parsed['content_type'] ?? 'text/plain' );
		$mailer->ContentType = $content_type;
		if ( 'text/html' === $content_type ) {
			$mailer->isHTML( true );
		}
		$mailer->CharSet = apply_filters( 'wp_mail_charset', $parsed['charset'] ?? get_bloginfo( 'charset' ) );

		if ( ! empty( $headers ) ) {
			foreach ( $headers as $name => $value ) {
				if ( in_array( $name, array( 'MIME-Version', 'X-Mailer' ), true ) ) {
					continue; // PHPMailer writes these itself.
				}
				try {
					$mailer->addCustomHeader( sprintf( '%1$s: %2$s', $name, $value ) );
				} catch ( PHPMailerException $e ) {
					continue; // Line breaks in a name or value: dropped, never split into new headers.
				}
			}
			if ( false !== stripos( $content_type, 'multipart' ) && ! empty( $parsed['boundary'] ) ) {
				$mailer->addCustomHeader( sprintf( 'Content-Type: %s; boundary="%s"', $content_type, $parsed['boundary'] ) );
			}
		}

		foreach ( $attachments as $filename => $path ) {
			try {
				// String keys name the attachment (WordPress 6.5+ behaviour, honoured on every version).
				$mailer->addAttachment( $path, is_string( $filename ) ? $filename : '' );
			} catch ( PHPMailerException $e ) {
				continue;
			}
		}

		do_action_ref_array( 'phpmailer_init', array( &$mailer ) );

		// Render the message as PHPMailer would for an SMTP server: To and Subject in the
		// header block, no Bcc header, CRLF line ends. The transport chosen by phpmailer_init
		// is put back afterwards; nothing is sent from here.
		$transport      = $mailer->Mailer;
		$mailer->Mailer = 'smtp';
		try {
			$mailer->preSend();
		} catch ( PHPMailerException $e ) {
			return self::failure( $e, $mail_data );
		} finally {
			$mailer->Mailer = $transport;
		}

		$message             = new self();
		$message->raw        = $mailer->getSentMIMEMessage();
		$message->sender     = '' !== $mailer->Sender ? $mailer->Sender : $mailer->From;
		$message->recipients = array();
		foreach ( array_merge( $mailer->getToAddresses(), $mailer->getCcAddresses(), $mailer->getBccAddresses() ) as $pair ) {
			$message->recipients[] = $pair[0];
		}
		$message->recipients = array_values( array_unique( $message->recipients ) );
		$message->mail_data  = $mail_data;
		$message->subject    = $subject;
		return $message;
	}

	/**
	 * Read headers the way wp_mail() does: a string of lines or an array of
	 * "Name: value" strings; From, Content-Type, Cc, Bcc and Reply-To are taken apart,
	 * anything else is a custom header (a later one of the same name wins).
	 *
	 * @param string|array $headers As given to wp_mail().
	 */
	private static function parse_headers( $headers ): array {
		$parsed = array(
			'custom'   => array(),
			'cc'       => array(),
			'bcc'      => array(),
			'reply_to' => array(),
		);
		if ( empty( $headers ) ) {
			return $parsed;
		}
		$lines = is_array( $headers ) ? $headers : explode( "\n", str_replace( "\r\n", "\n", (string) $headers ) );
		foreach ( $lines as $line ) {
			$line = (string) $line;
			if ( ! str_contains( $line, ':' ) ) {
				// The "boundary=..." continuation line of a folded Content-Type header.
				if ( false !== stripos( $line, 'boundary=' ) ) {
					$parts              = preg_split( '/boundary=/i', trim( $line ) );
					$parsed['boundary'] = trim( str_replace( array( "'", '"' ), '', $parts[1] ) );
				}
				continue;
			}
			list( $name, $value ) = explode( ':', trim( $line ), 2 );
			$name                 = trim( $name );
			$value                = trim( $value );
			switch ( strtolower( $name ) ) {
				case 'from':
					$parsed = self::parse_from( $value ) + $parsed;
					break;
				case 'content-type':
					$parsed = self::parse_content_type( $value ) + $parsed;
					break;
				case 'cc':
				case 'bcc':
				case 'reply-to':
					$key            = str_replace( '-', '_', strtolower( $name ) );
					$parsed[ $key ] = array_merge( $parsed[ $key ], explode( ',', $value ) );
					break;
				default:
					$parsed['custom'][ $name ] = $value;
			}
		}
		return $parsed;
	}

	/** 'Name <addr>', '"Name" <addr>' or 'addr'. */
	private static function parse_from( string $value ): array {
		$bracket = strpos( $value, '<' );
		if ( false === $bracket ) {
			return '' === $value ? array() : array( 'from_email' => $value );
		}
		$from = array( 'from_email' => trim( str_replace( '>', '', substr( $value, $bracket + 1 ) ) ) );
		if ( $bracket > 0 ) {
			$from['from_name'] = trim( str_replace( '"', '', substr( $value, 0, $bracket ) ) );
		}
		return $from;
	}

	/** 'text/html; charset=UTF-8' or 'multipart/alternative; boundary="x"'. */
	private static function parse_content_type( string $value ): array {
		if ( ! str_contains( $value, ';' ) ) {
			return '' === $value ? array() : array( 'content_type' => $value );
		}
		$parts  = explode( ';', $value );
		$params = $parts[1];
		$result = array( 'content_type' => trim( $parts[0] ) );
		if ( false !== stripos( $params, 'charset=' ) ) {
			$result['charset'] = trim( str_replace( array( 'charset=', '"' ), '', $params ) );
		} elseif ( false !== stripos( $params, 'boundary=' ) ) {
			$result['boundary'] = trim( str_replace( array( 'BOUNDARY=', 'boundary=', '"' ), '', $params ) );
			$result['charset']  = '';
		}
		return $result;
	}

	/** wordpress@ the network's host, without a leading "www.". */
	private static function default_from(): string {
		$host = wp_parse_url( network_home_url(), PHP_URL_HOST );
		if ( null === $host ) {
			return 'wordpress@';
		}
		return 'wordpress@' . ( str_starts_with( $host, 'www.' ) ? substr( $host, 4 ) : $host );
	}

	/** The global PHPMailer instance core uses, created the way core creates it. */
	private static function mailer(): PHPMailer {
		global $phpmailer;
		if ( ! ( $phpmailer instanceof PHPMailer ) ) {
			require_once ABSPATH . WPINC . '/PHPMailer/PHPMailer.php';
			require_once ABSPATH . WPINC . '/PHPMailer/SMTP.php';
			require_once ABSPATH . WPINC . '/PHPMailer/Exception.php';
			$phpmailer            = new PHPMailer( true );
			$phpmailer::$validator = static function ( $email ) {
				return (bool) is_email( $email );
			};
		}
		return $phpmailer;
	}

	private static function failure( PHPMailerException $e, array $mail_data ): WP_Error {
		$mail_data['phpmailer_exception_code'] = $e->getCode();
		return new WP_Error( 'wp_mail_failed', $e->getMessage(), $mail_data );
	}
}

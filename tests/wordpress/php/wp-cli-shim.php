<?php
/**
 * A stand-in for WP-CLI's runner, which cannot be installed on the test machines: it
 * loads WordPress with WP_CLI defined, lets the plugin register its command class as it
 * would with WP-CLI, and calls the subcommand the way WP-CLI does (public method named
 * after the subcommand, positional and --assoc arguments). Output and exit codes follow
 * WP-CLI's: "Success: ..." / "Warning: ..." / "Error: ..." (exit 1).
 *
 * php wp-cli-shim.php SITE_DIR wpbridge status|test|flush [--to=x]
 */

define( 'WP_CLI', true );

class WP_CLI {
	public static array $commands = array();

	public static function add_command( string $name, $callable ): void {
		self::$commands[ $name ] = $callable;
	}

	public static function line( string $message = '' ): void {
		echo $message, "\n";
	}

	public static function log( string $message ): void {
		self::line( $message );
	}

	public static function success( string $message ): void {
		self::line( 'Success: ' . $message );
	}

	public static function warning( string $message ): void {
		fwrite( STDERR, 'Warning: ' . $message . "\n" );
	}

	public static function error( string $message ): void {
		fwrite( STDERR, 'Error: ' . $message . "\n" );
		exit( 1 );
	}
}

$site = $argv[1];
$args = array_slice( $argv, 2 );
require $site . '/wp-load.php';

$command = array_shift( $args );
$sub     = array_shift( $args );
if ( ! isset( WP_CLI::$commands[ $command ] ) ) {
	WP_CLI::error( "'$command' is not a registered wp command." );
}
$positional = array();
$assoc      = array();
foreach ( $args as $arg ) {
	if ( preg_match( '/^--([^=]+)(?:=(.*))?$/s', $arg, $m ) ) {
		$assoc[ $m[1] ] = $m[2] ?? true;
	} else {
		$positional[] = $arg;
	}
}
$class  = WP_CLI::$commands[ $command ];
$object = new $class();
if ( ! method_exists( $object, $sub ) ) {
	WP_CLI::error( "'$sub' is not a registered subcommand of '$command'." );
}
$object->$sub( $positional, $assoc );

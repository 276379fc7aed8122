<?php
/**
 * Drop every table of one test run, without loading WordPress (which may be half
 * installed): php drop-tables.php SITE_DIR PREFIX DB_HOST DB_NAME
 */

$prefix = $argv[2];
if ( ! preg_match( '/^wpb[0-9a-f]{8}_$/', $prefix ) ) {
	fwrite( STDERR, "refusing to drop tables for prefix $prefix\n" );
	exit( 1 );
}
list( $host, $port ) = array_pad( explode( ':', $argv[3], 2 ), 2, '3306' );
$db                  = new mysqli( $host, 'root', '', $argv[4], (int) $port );
$tables              = $db->query( "SHOW TABLES LIKE '" . str_replace( '_', '\\_', $prefix ) . "%'" );
foreach ( $tables->fetch_all() as $row ) {
	$db->query( 'DROP TABLE IF EXISTS `' . $row[0] . '`' );
}
echo "dropped\n";

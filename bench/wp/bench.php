<?php
/**
 * Time wp_mail() inside a real WordPress: php bench.php SITE_DIR CALLS WARMUP
 * Prints JSON: "ms" (one duration per timed call), "false" (calls that returned false),
 * "bytes" (size of the HTML body), "spooled" (messages in the plugin's spool afterwards).
 */

require $argv[1] . '/wp-load.php';

$calls  = (int) $argv[2];
$warmup = (int) $argv[3];

/** A WooCommerce-like "order received" mail of about 5 kB. */
function wpbridge_bench_order_html( int $order ): string {
	$rows = '';
	for ( $i = 1; $i <= 16; $i++ ) {
		$rows .= sprintf(
			'<tr><td style="padding:12px;border:1px solid #e5e5e5;text-align:left;">Organic cotton T-shirt &ndash; size %1$s, colour %2$s</td><td style="padding:12px;border:1px solid #e5e5e5;">%3$d</td><td style="padding:12px;border:1px solid #e5e5e5;">&euro;%4$d.90</td></tr>',
			array( 'S', 'M', 'L', 'XL' )[ $i % 4 ],
			array( 'blue', 'grey', 'green' )[ $i % 3 ],
			1 + $i % 3,
			10 + $i
		);
	}
	return '<!DOCTYPE html><html><head><meta charset="UTF-8"><title>Your order</title></head>'
		. '<body style="background:#f7f7f7;margin:0;padding:70px 0;"><table width="600" style="background:#fff;border:1px solid #dedede;">'
		. '<tr><td style="background:#7f54b3;color:#fff;padding:36px 48px;"><h1 style="font-size:30px;margin:0;">Thank you for your order</h1></td></tr>'
		. '<tr><td style="padding:48px;"><p>Hi Jürgen,</p><p>Just to let you know &mdash; we\'ve received your order #' . $order . ', and it is now being processed:</p>'
		. '<h2 style="color:#7f54b3;">[Order #' . $order . '] (27 November 2026)</h2>'
		. '<table cellspacing="0" cellpadding="6" style="width:100%;border:1px solid #e5e5e5;"><thead><tr><th>Product</th><th>Quantity</th><th>Price</th></tr></thead><tbody>'
		. $rows
		. '</tbody><tfoot><tr><th colspan="2">Subtotal:</th><td>&euro;232.80</td></tr><tr><th colspan="2">Shipping:</th><td>&euro;4.90 via DHL</td></tr><tr><th colspan="2">Total:</th><td>&euro;237.70</td></tr></tfoot></table>'
		. '<h2 style="color:#7f54b3;">Billing address</h2><address style="padding:12px;border:1px solid #e5e5e5;">Jürgen Groß<br>Hauptstraße 5<br>50667 Köln<br>Germany</address>'
		. '<p>Thanks for shopping with us.</p></td></tr></table></body></html>';
}

$headers = array( 'Content-Type: text/html; charset=UTF-8', 'From: Test Shop <shop@example.com>' );
$ms      = array();
$false   = 0;
for ( $i = 0; $i < $warmup + $calls; $i++ ) {
	$order = 10000 + $i;
	$html  = wpbridge_bench_order_html( $order );
	$start = microtime( true );
	$ok    = wp_mail( 'Jürgen Groß <customer' . $i . '@example.net>', 'Your Test Shop order #' . $order . ' has been received!', $html, $headers );
	$took  = ( microtime( true ) - $start ) * 1000;
	if ( $i >= $warmup ) {
		$ms[] = $took;
		$false += $ok ? 0 : 1;
	}
}
echo wp_json_encode(
	array(
		'ms'      => $ms,
		'false'   => $false,
		'bytes'   => strlen( wpbridge_bench_order_html( 10000 ) ),
		'spooled' => class_exists( 'WPBridge\\Spool' ) ? WPBridge\Spool::count() : 0,
	)
);

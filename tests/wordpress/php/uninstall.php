<?php
/**
 * Deactivate and delete-uninstall the plugin the way Plugins > Delete does, but keep its
 * files: php uninstall.php SITE_DIR PLUGIN_FILE
 */

require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

deactivate_plugins( $argv[2] );
uninstall_plugin( $argv[2] );
echo "uninstalled\n";

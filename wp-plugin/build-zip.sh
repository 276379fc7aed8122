#!/bin/sh
# Build the installable plugin zip: wp-plugin/dist/wpbridge-<version>.zip
# (one top-level folder "wpbridge/", as Plugins > Add New > Upload expects).
# WPBRIDGE_DIST=<dir> puts it elsewhere (the end-to-end tests do).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^ \* Version: *//p' "$here/wpbridge/wpbridge.php")
dist=${WPBRIDGE_DIST:-$here/dist}
mkdir -p "$dist"
out="$(cd "$dist" && pwd)/wpbridge-$version.zip"
rm -f "$out"
cd "$here"
zip -qr -X "$out" wpbridge -x '*/.*' -x '*~'
echo "$out"

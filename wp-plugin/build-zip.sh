#!/bin/sh
# Build the installable plugin zip: wp-plugin/dist/wpbridge-<version>.zip
# (one top-level folder "wpbridge/", as Plugins > Add New > Upload expects).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^ \* Version: *//p' "$here/wpbridge/wpbridge.php")
mkdir -p "$here/dist"
out="$here/dist/wpbridge-$version.zip"
rm -f "$out"
cd "$here"
zip -qr -X "$out" wpbridge -x '*/.*' -x '*~'
echo "$out"

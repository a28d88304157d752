#!/bin/sh
# Stages the Function App package in bin/deploy: azure.yaml's prepackage hook runs this, and azd
# then zips bin/deploy (the service's `dist`) and deploys the zip to the Flex Consumption app.
#
# The package holds exactly what the Functions host reads, at the paths host.json names:
#   host.json
#   <Function>/function.json     every top-level folder with a function.json (ReportTimer, ...)
#   bin/handler                  the custom handler, built for linux/amd64 without cgo
# and none of the sources, tests, tools or local settings (local.settings.json never ships).
# bin/ is git-ignored, and the developer's own bin/handler (a native build) is left alone.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=bin/deploy

rm -rf "$out"
mkdir -p "$out/bin"

echo "package: building $out/bin/handler (linux/amd64)"
GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/bin/handler" ./handler
# azd's zip keeps the file modes it finds on Linux and macOS (since azd 1.26.0), so this bit ships;
# on Flex Consumption the host also sets the execute bit on the custom handler before starting it.
chmod 0755 "$out/bin/handler"

cp host.json "$out/"
found=0
for f in */function.json; do
	[ -f "$f" ] || continue
	d=${f%/function.json}
	mkdir -p "$out/$d"
	cp "$f" "$out/$d/function.json"
	echo "package: function $d"
	found=$((found + 1))
done
if [ "$found" -eq 0 ]; then
	echo "package: no */function.json found in $root" >&2
	exit 1
fi
echo "package: staged $out"

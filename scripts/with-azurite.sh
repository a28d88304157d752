#!/usr/bin/env bash
# Usage: scripts/with-azurite.sh CMD [ARGS...]
#
# Runs CMD with a private, in-memory Azurite (the Azure Storage emulator)
# listening on random loopback ports, and TENANTREPORT_TEST_STORAGE set to its
# connection string. Azurite is the version pinned in tools/azurite, installed
# with `npm ci` when tools/azurite/node_modules is missing or out of date. The
# script exits with CMD's status and always stops Azurite.
#
# Ports: Azurite is started with port 0 for every service, so the kernel
# picks free ports and there is no race with other processes; the script
# reads the real ports from Azurite's "successfully listening at" log lines.
#
# Environment: AZURITE_START_TIMEOUT (seconds, default 60).
set -euo pipefail

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkg=$repo/tools/azurite
azurite=$pkg/node_modules/.bin/azurite
stamp=$pkg/node_modules/.tenantreport-lock.sha256
timeout=${AZURITE_START_TIMEOUT:-60}

for tool in node npm sha256sum; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "with-azurite: $tool is required (Azurite runs on Node.js; install nodejs and npm)" >&2
		exit 1
	fi
done

# Install when node_modules is missing or was installed from another lockfile.
want=$(sha256sum "$pkg/package-lock.json" | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [[ ! -x $azurite || $have != "$want" ]]; then
	echo "with-azurite: installing Azurite (npm ci in tools/azurite)" >&2
	npm ci --prefix "$pkg" --no-audit --no-fund --loglevel=error >&2
	echo "$want" >"$stamp"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azurite.XXXXXX")
log=$tmp/azurite.log
pid=  # Azurite
cmd=  # CMD, when it runs in a process group of its own

cleanup() {
	local status=$?
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		# Azurite closes its servers within a second; give it 10 s, then force.
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "with-azurite: Azurite (pid $pid) did not stop; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$status"
}
# on_signal stops CMD's whole process group (go test's test binaries
# included) before exiting, which runs cleanup.
on_signal() {
	if [[ -n $cmd ]]; then
		kill -TERM -- "-$cmd" 2>/dev/null || true
		wait "$cmd" 2>/dev/null || true
	fi
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 129' HUP
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# In-memory persistence writes nothing to disk; the temporary working
# directory catches anything Azurite might still create.
(
	cd "$tmp"
	exec "$azurite" \
		--blobHost 127.0.0.1 --blobPort 0 \
		--queueHost 127.0.0.1 --queuePort 0 \
		--tableHost 127.0.0.1 --tablePort 0 \
		--skipApiVersionCheck --disableTelemetry --inMemoryPersistence --loose
) </dev/null >"$log" 2>&1 &
pid=$!

# port SERVICE prints the port from "Azurite SERVICE service is successfully
# listening at http://127.0.0.1:PORT", or nothing yet.
port() {
	sed -n "s#^Azurite $1 service is successfully listening at http://[^/]*:\([0-9][0-9]*\).*#\1#p" "$log" | head -n 1
}

fail() {
	echo "with-azurite: $1" >&2
	echo "---- azurite log ($log) ----" >&2
	cat "$log" >&2 || true
	echo "----" >&2
	exit 1
}

blob= queue=
deadline=$((SECONDS + timeout))
while [[ -z $blob || -z $queue ]]; do
	kill -0 "$pid" 2>/dev/null || fail "Azurite exited during startup"
	((SECONDS < deadline)) || fail "Azurite did not start listening within ${timeout}s"
	sleep 0.1
	blob=$(port Blob)
	queue=$(port Queue)
done
for p in "$blob" "$queue"; do
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || fail "Azurite reported port $p but does not accept connections"
done

# The account and key are Azurite's well-known development credentials.
account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
export TENANTREPORT_TEST_STORAGE="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$blob/$account;QueueEndpoint=http://127.0.0.1:$queue/$account;"
echo "with-azurite: Azurite $(node -p 'require(process.argv[1]).version' "$pkg/node_modules/azurite/package.json") on 127.0.0.1 (blob $blob, queue $queue)" >&2

set +e
if [[ -t 0 ]]; then
	# Interactive: CMD stays in the terminal's foreground process group, so
	# it can read the terminal and gets Ctrl-C directly.
	"$@"
	status=$?
else
	# Not interactive (CI): run CMD as a job, in a process group of its own,
	# and wait for it; unlike a foreground command, `wait` lets the traps
	# above run as soon as a signal arrives.
	set -m
	"$@" <&0 &
	cmd=$!
	wait "$cmd"
	status=$?
	cmd=
	set +m
fi
set -e
if [[ $status -ne 0 ]]; then
	echo "with-azurite: command exited with status $status; last lines of the Azurite log:" >&2
	tail -n 20 "$log" >&2 || true
fi
exit "$status"

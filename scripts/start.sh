#!/usr/bin/env bash
# The main job on an embedded default: prepares this host (Docker, local images, egress guard,
# node modules), then runs a standalone dockerlet agent with the example static pods.
# Try it:  curl http://127.0.0.1:8080/     Stop it: Ctrl-C (the example pods are stopped too).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || exec sudo -E bash "$0" "$@"
bash scripts/setup-host.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error
bash scripts/build-native.sh
node scripts/build-dist.mjs
exec node bin/dockerlet.js agent --pod-manifest-path "$PWD/examples/static" --root-dir /var/lib/dockerlet "$@"

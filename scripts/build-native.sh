#!/usr/bin/env bash
# Builds the native addons against this Node's headers: the proxy's relay (proxy/native/*.c →
# build/relay.node) and the volume manager's mount addon (agent/volumes/native/build.sh).
# Optional, as ws's bufferutil is: without a C compiler or Node's headers it says so and exits 0, and
# the proxy uses its JavaScript data path. Rebuilds only when a source is newer than the addon.
# Env: CC (default gcc), NODE (default node), DOCKERLET_NATIVE_REQUIRED=1 turns "cannot build" into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# The volume manager's mount addon (build/mount.node) has its own script with the same contract.
bash agent/volumes/native/build.sh
out=build/relay.node
srcs=(proxy/native/relay.c proxy/native/loop.c proxy/native/sockets.c proxy/native/affinity.c proxy/native/addon.c proxy/native/relay.h)
cc=${CC:-gcc}
node=${NODE:-node}
skip() {
  echo "build-native: $1; the proxy will use its JavaScript data path" >&2
  [ "${DOCKERLET_NATIVE_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
}
command -v "$cc" >/dev/null || skip "no C compiler ($cc)"
inc=$("$node" -p "require('path').resolve(process.execPath, '..', '..', 'include', 'node')")
[ -f "$inc/node_api.h" ] && [ -f "$inc/uv.h" ] || skip "no Node headers in $inc"
if [ -f "$out" ]; then
  stale=0
  for s in "${srcs[@]}" "$0"; do [ "$s" -nt "$out" ] && stale=1; done
  [ "$stale" = 0 ] && { echo "build-native: $out is up to date"; exit 0; }
fi
mkdir -p build
"$cc" -O2 -Wall -Wextra -Werror -std=gnu11 -shared -fPIC -fvisibility=hidden -I"$inc" \
  -o "$out.tmp" proxy/native/relay.c proxy/native/loop.c proxy/native/sockets.c proxy/native/affinity.c proxy/native/addon.c -lpthread
mv "$out.tmp" "$out"
echo "build-native: built $out"

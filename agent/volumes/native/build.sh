#!/usr/bin/env bash
# Builds the volume manager's mount addon (agent/volumes/native/mount.c → build/mount.node): tmpfs
# mounts for secret/projected/Memory emptyDir volumes as mount(2) calls rather than a mount(8) process
# per volume. Optional, as the proxy's relay is: without a C compiler or Node's headers it says so and
# exits 0, and the volume manager runs mount(8). Rebuilds only when a source is newer than the addon.
# Env: CC (default gcc), NODE (default node), DOCKERLET_NATIVE_REQUIRED=1 turns "cannot build" into a failure.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=build/mount.node
src=agent/volumes/native/mount.c
cc=${CC:-gcc}
node=${NODE:-node}
skip() {
  echo "build-mount: $1; volume mounts will run mount(8)" >&2
  [ "${DOCKERLET_NATIVE_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
}
command -v "$cc" >/dev/null || skip "no C compiler ($cc)"
inc=$("$node" -p "require('path').resolve(process.execPath, '..', '..', 'include', 'node')")
[ -f "$inc/node_api.h" ] || skip "no Node headers in $inc"
if [ -f "$out" ] && [ ! "$src" -nt "$out" ] && [ ! "$0" -nt "$out" ]; then
  echo "build-mount: $out is up to date"
  exit 0
fi
mkdir -p build
"$cc" -O2 -Wall -Wextra -Werror -std=gnu11 -shared -fPIC -fvisibility=hidden -I"$inc" -o "$out.tmp" "$src"
mv "$out.tmp" "$out"
echo "build-mount: built $out"

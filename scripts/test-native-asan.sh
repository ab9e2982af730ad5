#!/usr/bin/env bash
# The native relay's data-path tests again, with the relay built under AddressSanitizer: a memory
# error (use after free, overflow, double free, a race freeing a connection) aborts the test process
# and fails this script. Twice: with 2 relay threads (every [native] test, the 10,000-connection
# fd/CLOSE_WAIT test among them) and with 1 (the 10,000-connection test and the relay's own tests).
# Called by scripts/test.sh; needs gcc's libasan (Debian's gcc package has it).
set -euo pipefail
cd "$(dirname "$0")/.."
inc=$(node -p "require('path').resolve(process.execPath, '..', '..', 'include', 'node')")
asan=$(gcc -print-file-name=libasan.so)
[ -f "$asan" ] || { echo "test-native-asan: no libasan ($asan)" >&2; exit 1; }
mkdir -p build
gcc -O1 -g -fsanitize=address -fno-omit-frame-pointer -std=gnu11 -shared -fPIC -I"$inc" \
  -o build/relay-asan.node proxy/native/relay.c proxy/native/loop.c proxy/native/sockets.c proxy/native/affinity.c proxy/native/addon.c -lpthread
run() { # threads, name pattern, files...
  local threads=$1 pattern=$2
  shift 2
  echo "test-native-asan: $threads relay thread(s)"
  # Leak checking is off: Node itself does not free everything at exit.
  LD_PRELOAD="$asan" ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1 DOCKERLET_NATIVE_RELAY="$PWD/build/relay-asan.node" \
    DOCKERLET_RELAY_THREADS=$threads node --import tsx --test --test-concurrency=1 --test-timeout=180000 --test-reporter=spec --test-name-pattern "$pattern" "$@"
}
run 2 '\[native\]|relay' test/integration/proxy/tcp.test.ts test/integration/proxy/native.test.ts test/unit/proxy/native-*.test.ts
run 1 '10,000' test/integration/proxy/tcp.test.ts
run 1 '\[native\]|relay' test/unit/proxy/native-*.test.ts

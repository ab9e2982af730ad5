#!/usr/bin/env bash
# Version skew: the node against control planes of other releases than the pinned one. The kubelet
# supports an apiserver of its own minor and newer ones (version-skew policy); dockerlet reports
# v1.34 and must pair with 1.34 through 1.36 at least. For each version given (default: the newest
# served 1.35 and 1.36 patch releases) this builds etcd + kube-apiserver + kube-controller-manager +
# kube-scheduler from Go modules (cached by version under /var/cache/dockerlet/controlplane; cold
# 10-25 min each on 2 cores) and runs the suites that exercise what the apiserver version changes:
# registration, Lease and node status, the pod lifecycle and its status patches, static pods and
# their mirrors, the kubelet API through `kubectl logs/exec/port-forward`, the proxy end to end,
# the API-server outage, and the watch client. Not in CI (the builds): run it before a release.
# Usage: bash scripts/test-apiserver-versions.sh [v1.35.4 v1.36.3 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || exec sudo -E bash "$0" "$@"
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(v1.35.4 v1.36.3)
bash scripts/setup-host.sh
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error
bash scripts/build-native.sh
suites=(
  test/integration/node/node.test.ts
  test/integration/kube/watch.test.ts
  test/integration/agent/lifecycle.test.ts
  test/integration/agent/deployment.test.ts
  test/integration/agent/badinput.test.ts
  test/integration/static/mirror.test.ts
  test/integration/server/kubectl.test.ts
  test/integration/streaming/kubectl.test.ts
  test/integration/faults/apiserver-outage.test.ts
  test/integration/proxy-e2e/service.test.ts
  test/integration/resize/resize.test.ts
)
failed=()
for v in "${versions[@]}"; do
  dir=$(DOCKERLET_K8S_VERSION="$v" bash scripts/build-control-plane.sh | tail -n 1)
  echo "== control plane $v: $dir"
  if DOCKERLET_CONTROL_PLANE_DIR="$dir" node --import tsx --test --test-concurrency=1 --test-reporter=spec "${suites[@]}"; then
    echo "== $v: passed"
  else
    echo "== $v: FAILED"
    failed+=("$v")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "failed against: ${failed[*]}" >&2; exit 1; }
echo "every suite passed against: ${versions[*]}"

#!/usr/bin/env bash
# Builds the upstream e2e suite (e2e.test: the test/e2e/common specs, which hold every [NodeConformance] spec
# of common/node and common/storage, plus the common/network ones), agnhost and nonewprivs
# (test/images/...), the ginkgo CLI and netutil (curl/nc for the agnhost image) from Go modules at the control plane's pinned Kubernetes version,
# into a cache outside the repo keyed by version; rebuilds only what is missing or what was built from
# other wrapper sources. The wrapper module is test/conformance/e2e (staging modules replaced by their
# v0.X.Y tags, as test/cluster/k8s does for the control plane).
# Low priority on purpose (shared 2-core machine): nice 19, GOMAXPROCS=2. Prints the cache directory last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mod="$here/test/conformance/e2e"
K8S_VERSION=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit} $1=="require" && $2=="k8s.io/kubernetes" {print $3; exit}' "$mod/go.mod")
[ -n "$K8S_VERSION" ] || { echo "no k8s.io/kubernetes version in $mod/go.mod" >&2; exit 1; }
CACHE_ROOT=${DOCKERLET_CACHE:-/var/cache/dockerlet}
out="$CACHE_ROOT/conformance/$K8S_VERSION"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9 # one build at a time per version
export CGO_ENABLED=0 GOFLAGS=-trimpath GOMAXPROCS=${GOMAXPROCS:-2}
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
# What e2e.test is built from besides the pinned modules: the suite file.
src_hash=$( { echo "$K8S_VERSION"; cat "$mod/suite_test.go"; } | sha256sum | cut -c1-16)
if [ "$(cat "$out/.src-hash" 2>/dev/null)" != "$src_hash" ] && [ -e "$out/.src-hash" ]; then
  rm -f "$out/e2e.test"
fi

KV="-X k8s.io/component-base/version"; CV="-X k8s.io/client-go/pkg/version"
date=$(date -u +%FT%TZ)
LDF="-s -w $KV.gitVersion=$K8S_VERSION $KV.gitMajor=1 $KV.gitMinor=$minor $KV.gitTreeState=clean $KV.buildDate=$date"
LDF="$LDF $CV.gitVersion=$K8S_VERSION $CV.gitMajor=1 $CV.gitMinor=$minor $CV.gitTreeState=clean $CV.buildDate=$date"
build() { # NAME GOCMD(build|test) PACKAGE [go flags...]: at low priority in the wrapper module, wall time logged
  local name=$1 cmd=$2 pkg=$3 t0; shift 3
  [ -x "$out/$name" ] && return 0
  echo "building $name ($K8S_VERSION) into $out" >&2
  t0=$(date +%s)
  if [ "$cmd" = test ]; then
    (cd "$mod" && nice -n 19 go test -c -p 2 "$@" -o "$out/$name.tmp" "$pkg")
  else
    (cd "$mod" && nice -n 19 go build -p 2 "$@" -o "$out/$name.tmp" "$pkg")
  fi
  mv "$out/$name.tmp" "$out/$name"
  echo "$name $K8S_VERSION $(( $(date +%s) - t0 ))s $(date -u +%FT%TZ)" >> "$out/build-times.txt"
}
build agnhost build k8s.io/kubernetes/test/images/agnhost -ldflags '-s -w'
build nnp build k8s.io/kubernetes/test/images/nonewprivs -ldflags '-s -w'
build ginkgo build github.com/onsi/ginkgo/v2/ginkgo -ldflags '-s -w'
# curl/nc stand-in for the agnhost image (test/conformance/e2e/netutil), rebuilt when its source changes
if [ "$mod/netutil/main.go" -nt "$out/netutil" ]; then rm -f "$out/netutil"; fi
build netutil build ./netutil -ldflags '-s -w'
[ -x "$out/e2e.test" ] || echo "e2e.test: cold build 5-40 min on 2 shared cores" >&2
build e2e.test test . -ldflags "$LDF"
echo "$src_hash" > "$out/.src-hash"
echo "$out"

#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kube-scheduler from Go modules
# into a cache outside the repo, keyed by version. Rebuilds only what is missing.
# Prints the cache directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
K8S_VERSION=$(awk '/^require k8s.io\/kubernetes/ {print $3}' "$here/test/cluster/k8s/go.mod")
ETCD_VERSION=$(awk '$1=="require" && $2=="go.etcd.io/etcd/server/v3" {print $3}' "$here/test/cluster/etcd/go.mod")
CACHE_ROOT=${DOCKERLET_CACHE:-/var/cache/dockerlet}
out="$CACHE_ROOT/controlplane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS=-trimpath
minor=$(echo "$K8S_VERSION" | cut -d. -f2)

need=()
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  [ -x "$out/$b" ] || need+=("k8s.io/kubernetes/cmd/$b")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "building ${need[*]} $K8S_VERSION into $out (cold: ~10-25 min on 2 cores)" >&2
  KV="-X k8s.io/component-base/version"; CV="-X k8s.io/client-go/pkg/version"
  date=$(date -u +%FT%TZ)
  LDF="-s -w $KV.gitVersion=$K8S_VERSION $KV.gitMajor=1 $KV.gitMinor=$minor $KV.gitTreeState=clean $KV.buildDate=$date"
  LDF="$LDF $CV.gitVersion=$K8S_VERSION $CV.gitMajor=1 $CV.gitMinor=$minor $CV.gitTreeState=clean $CV.buildDate=$date"
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  (cd "$here/test/cluster/k8s" && go build -ldflags "$LDF" -o "$tmp/" "${need[@]}")
  mv "$tmp"/* "$out/" && rmdir "$tmp"
fi
if [ ! -x "$out/etcd" ]; then
  echo "building etcd $ETCD_VERSION into $out" >&2
  (cd "$here/test/cluster/etcd" && go build -ldflags "-s -w" -o "$out/etcd.tmp" .)
  mv "$out/etcd.tmp" "$out/etcd"
fi
echo "$out"

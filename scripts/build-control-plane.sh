#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kube-scheduler from Go modules
# into a cache outside the repo, keyed by version. Rebuilds only what is missing.
# Prints the cache directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PINNED=$(awk '/^require k8s.io\/kubernetes/ {print $3}' "$here/test/cluster/k8s/go.mod")
# DOCKERLET_K8S_VERSION=v1.36.3 builds another release (version-skew runs: scripts/test-apiserver-versions.sh)
# from a copy of the wrapper module with every staging module replaced by the matching v0.X.Y.
K8S_VERSION=${DOCKERLET_K8S_VERSION:-$PINNED}
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
  moddir="$here/test/cluster/k8s"
  if [ "$K8S_VERSION" != "$PINNED" ]; then
    moddir="$CACHE_ROOT/controlplane/.wrapper-$K8S_VERSION"
    rm -rf "$moddir" && mkdir -p "$moddir"
    cp "$here/test/cluster/k8s/tools.go" "$moddir/"
    staging="v0.${K8S_VERSION#v1.}"
    {
      echo "module dockerlet.invalid/k8sbins"
      echo
      echo "go 1.24.0"
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      echo "replace ("
      awk '/=> k8s.io\// {print $1}' "$here/test/cluster/k8s/go.mod" | sort -u | while read -r m; do
        echo "	$m => $m $staging"
      done
      echo ")"
    } > "$moddir/go.mod"
    (cd "$moddir" && go mod tidy >&2)
  fi
  (cd "$moddir" && go build -ldflags "$LDF" -o "$tmp/" "${need[@]}")
  mv "$tmp"/* "$out/" && rmdir "$tmp"
fi
if [ ! -x "$out/etcd" ]; then
  echo "building etcd $ETCD_VERSION into $out" >&2
  (cd "$here/test/cluster/etcd" && go build -ldflags "-s -w" -o "$out/etcd.tmp" .)
  mv "$out/etcd.tmp" "$out/etcd"
fi
echo "$out"

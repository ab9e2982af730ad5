#!/usr/bin/env bash
# Builds upstream kube-proxy (k8s.io/kubernetes/cmd/kube-proxy) from Go modules, at the same pinned version
# and replaces as the control plane (test/cluster/k8s/go.mod), into a cache outside the repo keyed by version:
# $DOCKERLET_CACHE/kube-proxy/<version>/kube-proxy. It is the peer of bench/proxy-scale.ts (iptables and
# nftables modes, each run inside a network namespace of its own). Prints the binary's path on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
K8S_VERSION=$(awk '/^require k8s.io\/kubernetes/ {print $3}' "$here/test/cluster/k8s/go.mod")
CACHE_ROOT=${DOCKERLET_CACHE:-/var/cache/dockerlet}
out="$CACHE_ROOT/kube-proxy/$K8S_VERSION"
mkdir -p "$out"
if [ ! -x "$out/kube-proxy" ]; then
  echo "building kube-proxy $K8S_VERSION into $out (cold: a few minutes on 2 cores)" >&2
  export CGO_ENABLED=0
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  KV="-X k8s.io/component-base/version"; CV="-X k8s.io/client-go/pkg/version"
  date=$(date -u +%FT%TZ)
  LDF="-s -w $KV.gitVersion=$K8S_VERSION $KV.gitMajor=1 $KV.gitMinor=$minor $KV.gitTreeState=clean $KV.buildDate=$date"
  LDF="$LDF $CV.gitVersion=$K8S_VERSION $CV.gitMajor=1 $CV.gitMinor=$minor $CV.gitTreeState=clean $CV.buildDate=$date"
  # A wrapper module of its own (the control plane's go.mod/go.sum copied, its requires and replaces kept),
  # so the control plane's module is never edited; kube-proxy's extra dependencies resolve with -mod=mod.
  src="$out/src"
  mkdir -p "$src"
  sed 's#^module .*#module dockerlet.invalid/kubeproxybin#' "$here/test/cluster/k8s/go.mod" >"$src/go.mod"
  cp "$here/test/cluster/k8s/go.sum" "$src/go.sum"
  cat >"$src/tools.go" <<'EOF'
//go:build tools

// Package tools keeps the upstream kube-proxy main in the module graph.
package tools

import _ "k8s.io/kubernetes/cmd/kube-proxy"
EOF
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  (cd "$src" && go build -mod=mod -trimpath -buildvcs=false -ldflags "$LDF" -o "$tmp/kube-proxy" k8s.io/kubernetes/cmd/kube-proxy)
  mv "$tmp/kube-proxy" "$out/kube-proxy" && rmdir "$tmp"
fi
echo "$out/kube-proxy"

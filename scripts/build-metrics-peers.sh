#!/usr/bin/env bash
# Builds the metrics bench's peer, cAdvisor, into a cache outside the repo. The module
# github.com/google/cadvisor/cmd (cAdvisor's own main) is not served by the Go module proxy
# ("reading https://proxy.golang.org/github.com/google/cadvisor/cmd/@v/list: 404 Not Found"), so this
# builds a minimal main over cAdvisor's library at a recent tag: the same manager, Docker factory and
# Prometheus collectors cmd/cadvisor.go wires, served on /metrics. Flags as cAdvisor's
# (--docker_only, --housekeeping_interval ...) come from the library packages; --store_container_labels
# and --whitelisted_container_labels are cmd/cadvisor.go's, copied here with its label-function choice.
# `build-metrics-peers.sh metrics-server` builds sigs.k8s.io/metrics-server (for `kubectl top`) instead.
# Prints the binary's path on its last line.
set -euo pipefail
CADVISOR_VERSION=${CADVISOR_VERSION:-v0.53.0}
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
CACHE_ROOT=${DOCKERLET_CACHE:-/var/cache/dockerlet}
export GOPROXY=${GOPROXY:-https://proxy.golang.org} GOFLAGS=-mod=mod CGO_ENABLED=0
if [ "${1:-}" = metrics-server ]; then
  out="$CACHE_ROOT/metrics-peers/metrics-server-$METRICS_SERVER_VERSION"
  bin="$out/metrics-server"
  if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
  mkdir -p "$out/src"
  cd "$out/src"
  [ -f go.mod ] || go mod init dockerlet.local/metrics-server-peer >/dev/null 2>&1
  # `go get <main package>@version` records the program's dependencies without a tidy (a main package cannot be imported)
  go get "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION" >&2
  nice -n 10 go build -trimpath -ldflags "-s -w" -o "$bin.tmp" sigs.k8s.io/metrics-server/cmd/metrics-server >&2
  mv "$bin.tmp" "$bin"
  echo "$bin"
  exit 0
fi
out="$CACHE_ROOT/metrics-peers/cadvisor-$CADVISOR_VERSION-4"
bin="$out/cadvisor"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
src="$out/src"
mkdir -p "$src"
cat > "$src/main.go" <<'GO'
// A minimal cAdvisor main (cmd/cadvisor.go's wiring for /metrics only).
package main

import (
	"flag"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/google/cadvisor/cache/memory"
	"github.com/google/cadvisor/container"
	_ "github.com/google/cadvisor/container/docker/install"
	v2 "github.com/google/cadvisor/info/v2"
	"github.com/google/cadvisor/manager"
	"github.com/google/cadvisor/metrics"
	"github.com/google/cadvisor/utils/sysfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8080", "listen address")
	storeContainerLabels := flag.Bool("store_container_labels", true, "convert container labels and environment variables into labels on prometheus metrics for each container. If flag set to false, then only metrics exported are container name, first alias, and image name")
	whitelistedContainerLabels := flag.String("whitelisted_container_labels", "", "comma separated list of container labels to be converted to labels on prometheus metrics for each container. store_container_labels must be set to false for this to take effect.")
	flag.Parse()
	containerLabelFunc := metrics.DefaultContainerLabels
	if !*storeContainerLabels {
		whitelistedLabels := strings.Split(*whitelistedContainerLabels, ",")
		for i := range whitelistedLabels {
			whitelistedLabels[i] = strings.TrimSpace(whitelistedLabels[i])
		}
		containerLabelFunc = metrics.BaseContainerLabels(whitelistedLabels)
	}
	included := container.MetricSet{
		container.CpuUsageMetrics: struct{}{}, container.MemoryUsageMetrics: struct{}{},
		container.DiskIOMetrics: struct{}{}, container.NetworkUsageMetrics: struct{}{},
		container.ProcessMetrics: struct{}{}, container.OOMMetrics: struct{}{}, container.AppMetrics: struct{}{},
	}
	cache := memory.New(2*time.Minute, nil)
	m, err := manager.New(cache, sysfs.NewRealSysFs(), manager.HousekeepingConfigFlags, included, http.DefaultClient, []string{""}, nil, "", 0)
	if err != nil {
		log.Fatalf("manager: %v", err)
	}
	if err := m.Start(); err != nil {
		log.Fatalf("start: %v", err)
	}
	reg := prometheus.NewRegistry()
	opts := v2.RequestOptions{IdType: v2.TypeName, Count: 1, Recursive: true}
	reg.MustRegister(metrics.NewPrometheusCollector(m, containerLabelFunc, included, clock.RealClock{}, opts))
	reg.MustRegister(metrics.NewPrometheusMachineCollector(m, included))
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	log.Fatal(http.ListenAndServe(*addr, nil))
}
GO
cd "$src"
[ -f go.mod ] || go mod init dockerlet.local/cadvisor-peer >/dev/null 2>&1
go get "github.com/google/cadvisor@$CADVISOR_VERSION" >&2
go mod tidy >&2
nice -n 10 go build -trimpath -ldflags "-s -w" -o "$bin.tmp" . >&2
mv "$bin.tmp" "$bin"
echo "$bin"

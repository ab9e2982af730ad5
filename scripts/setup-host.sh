#!/usr/bin/env bash
# Idempotent host set-up for dockerlet on Debian/Ubuntu, as root:
#  - installs docker.io, iptables, busybox-static (and gcc for the pause and udpecho images) when missing
#  - starts dockerd when it is not running (systemctl under systemd, otherwise setsid + log file)
#  - builds the local images tests and examples use (no registry is reachable)
#  - adds the egress guard: REJECT 10.96.0.0/12 leaving through the default-route interface
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[setup-host] $*" >&2; }
[ "$(id -u)" = 0 ] || { echo "setup-host.sh must run as root" >&2; exit 1; }

SERVICE_CIDR=10.96.0.0/12
PAUSE_IMAGE=${DOCKERLET_PAUSE_IMAGE:-registry.k8s.io/pause:3.10}
BUSYBOX_IMAGE=${DOCKERLET_BUSYBOX_IMAGE:-dockerlet/busybox:1.36}
UDPECHO_IMAGE=dockerlet/udpecho:1.1
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

# 1. packages
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v iptables >/dev/null || missing+=(iptables)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v openssl >/dev/null || missing+=(openssl)
# A real Prometheus and promtool for the metrics tests (the tests start their own server on loopback).
command -v promtool >/dev/null || missing+=(prometheus)
# A local registry with htpasswd for the image pull tests; nftables, iproute2 and curl for the multi-node bed.
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
command -v nft >/dev/null || missing+=(nftables)
command -v ip >/dev/null || missing+=(iproute2)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/aarch64-linux-gnu/libc.a ] || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev >/dev/null; }

# 2. dockerd
if ! docker info >/dev/null 2>&1; then
  if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    log "starting docker.service"
    systemctl start docker
  else
    log "starting dockerd (log: $DOCKERD_LOG)"
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up; see $DOCKERD_LOG" >&2; tail -20 "$DOCKERD_LOG" >&2; exit 1; }
fi

# 3. local images
build_rootfs() { # $1 dir: a busybox-static rootfs with applet links
  mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/proc" "$1/sys" "$1/dev" "$1/var/www" "$1/root"
  cp /bin/busybox "$1/bin/busybox"
  for a in $(/bin/busybox --list); do [ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$1/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> "$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$1/etc/group"
  chmod 1777 "$1/tmp"
}
if ! docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
  log "building $BUSYBOX_IMAGE from busybox-static"
  tmp=$(mktemp -d); build_rootfs "$tmp/root"
  echo 'hello from dockerlet' > "$tmp/root/var/www/index.html"
  tar -C "$tmp/root" -c . | docker import \
    -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$tmp"
fi
# static_image IMAGE NAME [DOCKERFILE LINE...]: a FROM-scratch image of images/NAME/NAME.c built static
static_image() {
  local image=$1 name=$2; shift 2
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  log "building $image"
  local tmp; tmp=$(mktemp -d); mkdir -p "$tmp/root"
  gcc -static -Os -o "$tmp/root/$name" "$here/images/$name/$name.c"
  strip "$tmp/root/$name" || true
  { printf 'FROM scratch\nCOPY %s /%s\n' "$name" "$name"; printf '%s\n' "$@"; printf 'ENTRYPOINT ["/%s"]\n' "$name"; } > "$tmp/root/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$image" "$tmp/root" >/dev/null 2>&1
  rm -rf "$tmp"
}
static_image "$PAUSE_IMAGE" pause 'STOPSIGNAL SIGINT'
static_image "$UDPECHO_IMAGE" udpecho   # UDP echo server for the proxy tests

# 4. egress guard
dev=$(ip route show default | awk '/^default/ {for (i=1;i<=NF;i++) if ($i=="dev") {print $(i+1); exit}}')
if [ -n "$dev" ]; then
  guard=(-d "$SERVICE_CIDR" -o "$dev" -j REJECT -m comment --comment dockerlet-egress-guard)
  iptables -C OUTPUT "${guard[@]}" 2>/dev/null || { log "egress guard in OUTPUT ($dev)"; iptables -I OUTPUT 1 "${guard[@]}"; }
  iptables -nL DOCKER-USER >/dev/null 2>&1 || iptables -N DOCKER-USER
  iptables -C FORWARD -j DOCKER-USER 2>/dev/null || iptables -I FORWARD 1 -j DOCKER-USER
  iptables -C DOCKER-USER "${guard[@]}" 2>/dev/null || { log "egress guard in DOCKER-USER ($dev)"; iptables -I DOCKER-USER 1 "${guard[@]}"; }
else
  log "no default route: no egress guard needed"
fi
log "ready: docker $(docker version -f '{{.Server.Version}}'), images $PAUSE_IMAGE $BUSYBOX_IMAGE $UDPECHO_IMAGE"

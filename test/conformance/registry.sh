#!/usr/bin/env bash
# A real image registry on this host for the conformance run (Debian's docker-registry, distribution v2),
# so pulls, PullAlways, pull failures and registry auth are exercised for real (no registry outside can be
# reached). Two instances on loopback (dockerd treats 127.0.0.0/8 registries as insecure: plain HTTP):
#   127.0.0.1:5037  open        e2e images: promoterE2eRegistry -> 127.0.0.1:5037/e2e-test-images
#   127.0.0.1:5038  htpasswd    stands for gcr.io/authenticated-image-pulling and gcr.io/k8s-authenticated-test
#   127.0.0.1:5039  nothing     stands for invalid.registry.k8s.io (pulls fail at once, on loopback)
# The e2e framework is pointed at them through KUBE_TEST_REPO_LIST (test/utils/image/manifest.go).
# Usage: registry.sh up CACHE_DIR    starts what is not running, pushes the local e2e images; prints the repo-list file
#        registry.sh down CACHE_DIR  stops both
set -euo pipefail
cmd=${1:?usage: registry.sh up|down CACHE_DIR}; cache=${2:?usage: registry.sh up|down CACHE_DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
dir="$cache/registry"; mkdir -p "$dir"
PUBLIC=127.0.0.1:5037 PRIVATE=127.0.0.1:5038
INVALID=127.0.0.1:5039 # nothing listens: the "invalid registry" specs fail to pull without a DNS query leaving the host
log() { echo "[conformance-registry] $*" >&2; }

config() { # NAME ADDR [auth]: a registry config file
  local name=$1 addr=$2
  mkdir -p "$dir/$name"
  {
    echo 'version: 0.1'
    echo 'log: {level: warn, accesslog: {disabled: true}}'
    echo "storage: {filesystem: {rootdirectory: $dir/$name/data}, delete: {enabled: true}}"
    echo "http: {addr: '$addr', headers: {X-Content-Type-Options: [nosniff]}}"
    if [ "${3:-}" = auth ]; then echo "auth: {htpasswd: {realm: dockerlet-conformance, path: $dir/$name/htpasswd}}"; fi
  } > "$dir/$name/config.yml"
}
running() { [ -f "$dir/$1/pid" ] && kill -0 "$(cat "$dir/$1/pid")" 2>/dev/null; }
start() { # NAME ADDR
  running "$1" && return 0
  log "starting $1 registry on $2"
  setsid docker-registry serve "$dir/$1/config.yml" >>"$dir/$1/registry.log" 2>&1 < /dev/null &
  echo $! > "$dir/$1/pid"
  for _ in $(seq 1 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$2/v2/" || true)
    [ "$code" = 200 ] || [ "$code" = 401 ] && return 0
    sleep 0.2
  done
  echo "registry $1 did not answer on $2; see $dir/$1/registry.log" >&2; tail -5 "$dir/$1/registry.log" >&2; exit 1
}
stop() { if running "$1"; then kill "$(cat "$dir/$1/pid")"; fi; rm -f "$dir/$1/pid"; }

case "$cmd" in
  down) stop public; stop private; exit 0 ;;
  up) ;;
  *) echo "usage: registry.sh up|down CACHE_DIR" >&2; exit 2 ;;
esac
if ! command -v docker-registry >/dev/null || ! command -v htpasswd >/dev/null; then
  log "installing docker-registry apache2-utils"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry apache2-utils >/dev/null
fi
config public "$PUBLIC"
config private "$PRIVATE" auth
[ -s "$dir/private/htpasswd" ] || htpasswd -Bbn conformance "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" > "$dir/private/htpasswd"
start public "$PUBLIC"
start private "$PRIVATE"
# Push every local e2e image (as images.sh tagged them) under the public registry's name.
for img in $(bash "$here/test/conformance/images.sh" "$cache"); do
  case "$img" in registry.k8s.io/e2e-test-images/*) ;; *) continue ;; esac
  target="$PUBLIC/e2e-test-images/${img#registry.k8s.io/e2e-test-images/}"
  want=$(docker image inspect -f '{{.Id}}' "$img")
  if [ "$(cat "$dir/public/pushed-${target//[\/:]/_}" 2>/dev/null)" != "$want" ]; then
    docker tag "$img" "$target" && docker push -q "$target" >/dev/null && docker rmi "$target" >/dev/null
    echo "$want" > "$dir/public/pushed-${target//[\/:]/_}"
    log "pushed $target"
  fi
done
cat > "$dir/repo-list.yaml" <<YAML
promoterE2eRegistry: $PUBLIC/e2e-test-images
gcAuthenticatedRegistry: $PRIVATE/authenticated-image-pulling
privateRegistry: $PRIVATE/k8s-authenticated-test
invalidRegistry: $INVALID/invalid
YAML
echo "$dir/repo-list.yaml"

#!/usr/bin/env bash
# Builds dockerlet's image with no container registry. The Dockerfile's bases are build ARGs (default:
# the official Node images, for users); here they are made locally first:
#   dockerlet/base:node-<version>-<rev>      a Debian rootfs of this machine's installed packages (dash,
#                                       coreutils, iptables, util-linux and their dependency closure)
#                                       plus this machine's Node binary;
#   dockerlet/build-base:<node version>  the same plus gcc, libc6-dev, bash and the whole nodejs package
#                                       (npm, Node's headers) for the native relay and `npm prune`.
# Each is `docker import`ed from a tar of the packages' files (dpkg -L), merged-/usr layout, the host's
# iptables alternatives (same backend as the host), and reused while it exists.
#   --systemd: only a systemd base (systemd as PID 1, Node, iptables) for the real-systemd test; prints its name.
# Usage: scripts/build-image.sh [TAG] (default dockerlet:dev) | scripts/build-image.sh --systemd
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-dockerlet:dev}
nodever=$(node -p 'process.versions.node')
# The bases are rebuilt when Node or this script changes.
rev=$(sha256sum "$0" | cut -c1-8)
base=dockerlet/base:node-$nodever-$rev
buildbase=dockerlet/build-base:node-$nodever-$rev
log() { echo "build-image: $*" >&2; }

closure() { # packages → the installed packages of their Depends/Pre-Depends closure
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$@" 2>/dev/null \
    | grep -v '^ ' | grep -v '^<' | sed 's/:.*//' | sort -u \
    | { xargs dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null || true; } | awk '$1 == "ii" { print $2 }' || true
}

make_image() { # $1 image, $2 extra files list (absolute paths), rest: packages
  local image=$1 extra=$2; shift 2
  if docker image inspect "$image" >/dev/null 2>&1; then log "$image exists"; return; fi
  local tmp; tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/root/usr/bin" "$tmp/root/usr/sbin" "$tmp/root/usr/lib" "$tmp/root/usr/lib64" "$tmp/root/etc" "$tmp/root/tmp" "$tmp/root/root"
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$tmp/root/$d"; done
  chmod 1777 "$tmp/root/tmp"
  local pkgs; pkgs=$(closure "$@")
  log "$image: $(echo "$pkgs" | wc -w) packages"
  # shellcheck disable=SC2086
  { dpkg -L $pkgs 2>/dev/null; cat "$extra"; } | sort -u | while read -r f; do
    case $f in /usr/share/doc/* | /usr/share/man/* | /usr/share/locale/* | /usr/share/info/*) continue ;; esac
    if [ -f "$f" ] || [ -L "$f" ]; then echo "${f#/}"; fi
  done > "$tmp/files"
  tar -C / --no-recursion -cf - -T "$tmp/files" | tar -C "$tmp/root" --keep-directory-symlink -xf -
  ln -sf dash "$tmp/root/usr/bin/sh"
  # update-alternatives' links (not in dpkg -L): the host's iptables backend
  mkdir -p "$tmp/root/etc/alternatives"
  for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    if [ -L "/etc/alternatives/$n" ] && [ -L "/usr/sbin/$n" ]; then
      cp -P "/etc/alternatives/$n" "$tmp/root/etc/alternatives/"
      cp -P "/usr/sbin/$n" "$tmp/root/usr/sbin/"
    fi
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$tmp/root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$tmp/root/etc/group"
  : > "$tmp/root/etc/machine-id"
  tar -C "$tmp/root" -cf - . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["/bin/sh"]' - "$image" >/dev/null
  log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0f MiB", $1 / 1048576 }'))"
  # older revisions of this base (an image still built on one keeps it: rmi refuses, quietly)
  docker images --format '{{.Repository}}:{{.Tag}}' "${image%%:*}" | grep -vx "$image" | xargs -r docker rmi >/dev/null 2>&1 || true
}

tmpl=$(mktemp)
trap 'rm -f "$tmpl"' EXIT
if [ "$tag" = --systemd ]; then
  sdbase=dockerlet/systemd-base:node-$nodever-$rev
  echo /usr/bin/node > "$tmpl"
  make_image "$sdbase" "$tmpl" systemd systemd-sysv dash coreutils bash iptables util-linux mount libstdc++6 libgcc-s1 libc6 grep sed
  echo "$sdbase"
  exit 0
fi
# The runtime base: Node's binary only (not npm, not headers).
echo /usr/bin/node > "$tmpl"
mkdir -p /etc/alternatives
make_image "$base" "$tmpl" dash coreutils iptables util-linux mount libstdc++6 libgcc-s1 libc6
{ dpkg -L nodejs; find /usr/lib/node_modules/npm; } > "$tmpl"
ls /etc/alternatives/cc /etc/alternatives/c++ 2>/dev/null >> "$tmpl" || true
make_image "$buildbase" "$tmpl" dash coreutils bash iptables util-linux mount libstdc++6 libgcc-s1 libc6 gcc libc6-dev grep sed findutils


log "building $tag"
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$base" --build-arg "BUILD_BASE=$buildbase" -t "$tag" . >/dev/null
log "built $tag: $(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MiB", $1 / 1048576 }')"
echo "$tag"

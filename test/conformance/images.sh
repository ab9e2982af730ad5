#!/usr/bin/env bash
# Makes, locally, every image the selected e2e specs use, tagged exactly as the e2e framework's image
# manifest (k8s.io/kubernetes/test/utils/image/manifest.go at the pinned version) names them, since no
# registry can be reached. Upstream images and what stands in for them here:
#  - agnhost:   the real agnhost binary (built by scripts/build-conformance.sh) on a busybox-static rootfs
#               instead of alpine: /agnhost, /agnhost-2, porter's /localhost.crt|key, /uploads, user 1000 and
#               group 50000 as upstream; curl and nc are netutil (test/conformance/e2e/netutil, Go), sh and
#               bash the host's dash and bash (upstream installs curl, netcat-openbsd and bash from alpine)
#  - busybox:   busybox-static (Debian) with applet links, as dockerlet/busybox in scripts/setup-host.sh
#  - nginx, httpd: the busybox httpd on port 80 (the specs only need a long-running server image)
#  - nonewprivs: the real nnp binary (setuid root) on busybox; nonroot: busybox with USER 1234
#  - pause:     registry.k8s.io/pause:<manifest tag> from images/pause/pause.c (the setup-host.sh build)
# Usage: images.sh CACHE_DIR (from build-conformance.sh). Rebuilds an image when its inputs changed
# (label dockerlet.conformance.inputs). Prints the image names, one a line.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cache=${1:?usage: images.sh CACHE_DIR}
mod="$here/test/conformance/e2e"
kver=$(basename "$cache")
src=$(go env GOMODCACHE)/k8s.io/kubernetes@$kver
manifest="$src/test/utils/image/manifest.go"
[ -f "$manifest" ] || (cd "$mod" && go mod download k8s.io/kubernetes)
log() { echo "[conformance-images] $*" >&2; }
tag_of() { # manifest ID -> tag, from `configs[ID] = Config{list.X, "name", "tag"}`
  sed -n "s/^\s*configs\[$1\] = Config{list\.[A-Za-z0-9]*, \"[^\"]*\", \"\([^\"]*\)\"}.*/\1/p" "$manifest"
}
E2E=registry.k8s.io/e2e-test-images
declare -A IMG=(
  [agnhost]="$E2E/agnhost:$(tag_of Agnhost)"
  [busybox]="$E2E/busybox:$(tag_of BusyBox)"
  [nginx]="$E2E/nginx:$(tag_of Nginx)"
  [nginxnew]="$E2E/nginx:$(tag_of NginxNew)"
  [httpd]="$E2E/httpd:$(tag_of Httpd)"
  [httpdnew]="$E2E/httpd:$(tag_of HttpdNew)"
  [nonewprivs]="$E2E/nonewprivs:$(tag_of Nonewprivs)"
  [nonroot]="$E2E/nonroot:$(tag_of NonRoot)"
  [pause]="registry.k8s.io/pause:$(tag_of Pause)"
)
for k in "${!IMG[@]}"; do [[ ${IMG[$k]} != *: ]] || { echo "no tag for $k in $manifest" >&2; exit 1; }; done

rootfs() { # DIR: busybox-static with applet links, passwd/group, /tmp 1777
  mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/proc" "$1/sys" "$1/dev" "$1/root" "$1/var/www" "$1/usr/bin" "$1/usr/local/bin"
  cp /bin/busybox "$1/bin/busybox"
  for a in $(/bin/busybox --list); do [ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$1/etc/group"
  chmod 1777 "$1/tmp"
}
# make NAME INPUTS_HASH DIR [docker import -c changes...]: imports DIR as IMG[NAME] unless it is up to date
make_image() {
  local name=$1 inputs=$2 dir=$3; shift 3
  local image=${IMG[$name]} have
  have=$(docker image inspect -f '{{index .Config.Labels "dockerlet.conformance.inputs"}}' "$image" 2>/dev/null || true)
  if [ "$have" = "$inputs" ]; then echo "$image"; return 0; fi
  log "building $image"
  local args=(-c "LABEL dockerlet.conformance.inputs=$inputs")
  for c in "$@"; do args+=(-c "$c"); done
  tar -C "$dir" -c . | docker import "${args[@]}" - "$image" >/dev/null
  echo "$image"
}
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bb_hash=$( { hash_of /bin/busybox "$0"; } )
# busybox
rootfs "$tmp/busybox"
# The busybox image's /bin/sh (stand-in/sh.c) is busybox ash, except when the environment holds names that are
# not shell identifiers (data-1=…): Debian's busybox-static 1.35 ash drops those from what it passes on, where
# upstream's busybox image keeps them; then the host's bash (with its libraries) runs the command.
cp -a "$tmp/busybox" "$tmp/bbsh"; rm -f "$tmp/bbsh/bin/sh"
gcc -static -Os -o "$tmp/bbsh/bin/sh" "$here/test/conformance/stand-in/sh.c"; strip "$tmp/bbsh/bin/sh" || true
install -D -m 0755 /bin/bash "$tmp/bbsh/usr/lib/stand-in/bash"
for lib in $(ldd /bin/bash | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do install -D -m 0755 "$lib" "$tmp/bbsh$lib"; done
make_image busybox "$(hash_of /bin/busybox /bin/bash "$0" "$here/test/conformance/stand-in/sh.c")" "$tmp/bbsh" 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["sh"]'
# nginx / httpd stand-ins: busybox httpd in the foreground on :80
cp -a "$tmp/busybox" "$tmp/web"; echo '<html><body>It works!</body></html>' > "$tmp/web/var/www/index.html"
for n in nginx nginxnew httpd httpdnew; do
  make_image "$n" "$bb_hash" "$tmp/web" 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'EXPOSE 80' 'CMD ["httpd", "-f", "-p", "80", "-h", "/var/www"]'
done
# nonroot: USER 1234
make_image nonroot "$bb_hash" "$tmp/busybox" 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'USER 1234' 'CMD ["sh"]'
# nonewprivs: setuid nnp
cp -a "$tmp/busybox" "$tmp/nnp"; install -m 4755 "$cache/nnp" "$tmp/nnp/usr/local/bin/nnp"
make_image nonewprivs "$(hash_of /bin/busybox "$0" "$cache/nnp")" "$tmp/nnp" 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["nnp"]'
# agnhost
a="$tmp/agnhost"; cp -a "$tmp/busybox" "$a"
install -m 0755 "$cache/agnhost" "$a/agnhost"; ln -s agnhost "$a/agnhost-2"
cp "$src/test/images/agnhost/porter/localhost.crt" "$src/test/images/agnhost/porter/localhost.key" "$a/"
mkdir -p "$a/uploads" "$a/home/user-defined-in-image"
echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh' >> "$a/etc/passwd"
printf 'user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n' >> "$a/etc/group"
# the host's dash as /bin/sh and bash as /bin/bash, with their shared libraries: busybox-static's ash runs its
# own applets before PATH (so its nc, without UDP, would shadow /usr/bin/nc)
copy_dyn() { # BINARY DEST: the binary and the libraries ldd lists, into the agnhost rootfs
  rm -f "$a$2"; install -D -m 0755 "$1" "$a$2"
  for lib in $(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do install -D -m 0755 "$lib" "$a$lib"; done
}
copy_dyn /bin/dash /bin/sh; copy_dyn /bin/bash /bin/bash; rm -f "$a/bin/nc"
install -m 0755 "$cache/netutil" "$a/usr/bin/netutil"; ln -s netutil "$a/usr/bin/curl"; ln -s netutil "$a/usr/bin/nc"
make_image agnhost "$(hash_of /bin/busybox /bin/dash /bin/bash "$0" "$cache/agnhost" "$cache/netutil")" "$a" \
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  'EXPOSE 80 8080 8081 9376 5000' 'ENTRYPOINT ["/agnhost"]' 'CMD ["pause"]'
# pause
if ! docker image inspect "${IMG[pause]}" >/dev/null 2>&1; then
  log "building ${IMG[pause]}"
  mkdir -p "$tmp/pause"; gcc -static -Os -o "$tmp/pause/pause" "$here/images/pause/pause.c"; strip "$tmp/pause/pause" || true
  printf 'FROM scratch\nCOPY pause /pause\nSTOPSIGNAL SIGINT\nENTRYPOINT ["/pause"]\n' > "$tmp/pause/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "${IMG[pause]}" "$tmp/pause" >/dev/null
fi
echo "${IMG[pause]}"

# dockerlet as an image. Run with the host's Docker socket, network and PID namespace, privileged (it
# manages iptables and mounts tmpfs volumes that Docker, outside this container, must see: rshared), e.g.
#   docker run -d --name dockerlet --privileged --net=host --pid=host \
#     -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/dockerlet:/var/lib/dockerlet:rshared \
#     -v /etc/dockerlet:/etc/dockerlet dockerlet run --config /etc/dockerlet/config.yaml
# (where the host cannot grant every capability: --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add NET_RAW
#  --cap-add SYS_PTRACE --security-opt seccomp=unconfined --security-opt apparmor=unconfined instead of
#  --privileged; /var/lib/dockerlet must be a shared mount: mount --bind it onto itself, --make-rshared.)
# The bases are build arguments: the official Node images by default; scripts/build-image.sh builds
# local ones from this machine's Debian packages and Node binary, so no registry is needed.
ARG BASE=node:20-bookworm-slim
ARG BUILD_BASE=node:20-bookworm

# Build stage: the native addons (C, against this Node's headers), the production node_modules
# (the context's node_modules pruned of dev dependencies, else `npm ci`) and the JavaScript build (dist/).
FROM ${BUILD_BASE} AS build
WORKDIR /src
COPY . .
RUN DOCKERLET_NATIVE_REQUIRED=1 bash scripts/build-native.sh \
 && if [ -d node_modules ]; then npm prune --omit=dev --ignore-scripts --no-audit --no-fund --offline; \
    else npm ci --omit=dev --ignore-scripts --no-audit --no-fund; fi \
 && node scripts/build-dist.mjs

FROM ${BASE}
# The official slim image lacks iptables and mount's friends; the local base has them.
RUN command -v iptables >/dev/null && command -v mount >/dev/null \
 || (apt-get update && apt-get install -y --no-install-recommends iptables util-linux && rm -rf /var/lib/apt/lists/*)
WORKDIR /opt/dockerlet
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/build/relay.node /src/build/mount.node ./build/
COPY bin ./bin
COPY cli ./cli
COPY lib ./lib
COPY kube ./kube
COPY runtime ./runtime
COPY agent ./agent
COPY proxy ./proxy
COPY metrics ./metrics
COPY systemd ./systemd
# Last: its stamp must be newer than the sources for bin/dockerlet.js to run it.
COPY --from=build /src/dist ./dist
ENV NODE_OPTIONS=--max-semi-space-size=4
# root: the agent drives iptables, mounts volumes and talks to the Docker socket (the kubelet's needs).
# The files are root-owned and not writable by others; `docker run --user 65534 IMAGE version` works.
ENTRYPOINT ["node", "/opt/dockerlet/bin/dockerlet.js"]
CMD ["run"]

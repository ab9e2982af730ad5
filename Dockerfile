# dockerlet as an image: run with the host's Docker socket, network and PID namespace, privileged
# (it manages iptables and mounts tmpfs volumes), e.g.
#   docker run -d --name dockerlet --privileged --net=host --pid=host \
#     -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/dockerlet:/var/lib/dockerlet:rshared \
#     -v /etc/dockerlet:/etc/dockerlet:ro dockerlet run --config /etc/dockerlet/config.yaml
# The proxy's native relay is compiled in a stage with a C compiler; the image only gets the addon.
FROM node:20-bookworm AS native
WORKDIR /src
COPY scripts/build-native.sh scripts/
COPY proxy/native proxy/native
RUN DOCKERLET_NATIVE_REQUIRED=1 bash scripts/build-native.sh

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends iptables util-linux && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dockerlet
COPY package.json package-lock.json ./
# (postinstall runs build-native.sh, which finds no compiler here and leaves the addon to the stage above)
COPY scripts/build-native.sh scripts/
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY cli ./cli
COPY lib ./lib
COPY kube ./kube
COPY runtime ./runtime
COPY agent ./agent
COPY proxy ./proxy
COPY metrics ./metrics
COPY --from=native /src/build/relay.node ./build/relay.node
ENV NODE_OPTIONS=--max-semi-space-size=4
ENTRYPOINT ["node", "/opt/dockerlet/bin/dockerlet.js"]
CMD ["run"]

# dockerlet as an image: run with the host's Docker socket, network and PID namespace, privileged
# (it manages iptables and mounts tmpfs volumes), e.g.
#   docker run -d --name dockerlet --privileged --net=host --pid=host \
#     -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/dockerlet:/var/lib/dockerlet:rshared \
#     -v /etc/dockerlet:/etc/dockerlet:ro dockerlet run --config /etc/dockerlet/config.yaml
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends iptables util-linux && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dockerlet
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY cli ./cli
COPY lib ./lib
COPY kube ./kube
COPY runtime ./runtime
COPY agent ./agent
COPY proxy ./proxy
COPY metrics ./metrics
ENV NODE_OPTIONS=--max-semi-space-size=4
ENTRYPOINT ["node", "/opt/dockerlet/bin/dockerlet.js"]
CMD ["run"]

# heartbeat container image: build with the full Node image, run on distroless with that same Node.
#   docker build --build-arg VERSION=1.2.3 -t heartbeat:1.2.3 .
# NODE_VERSION is the one Node of the image, build and runtime alike: npm run test:lts runs the tests on it
# (scripts/lts-node.mjs reads it here; test/dockerfile.test.ts checks both stages use it).
ARG NODE_VERSION=26.12.1

# ---- build: compile TypeScript, then drop devDependencies ----
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so a source change does not re-run npm ci.
# --ignore-scripts: no dependency needs an install script; none gets to run one.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund
# Node 26 also links libatomic (Debian's libatomic1), which distroless/cc lacks. Staged here under /runtime-libs at the
# path this architecture's node found it (ldd, then the real file's directory: /usr/lib/x86_64-linux-gnu on amd64,
# /usr/lib/aarch64-linux-gnu on arm64), so the runtime stage copies it with no architecture in the Dockerfile.
RUN lib="$(ldd /usr/local/bin/node | awk '$1 == "libatomic.so.1" { print $3 }')"; \
    if [ -z "$lib" ] || [ ! -e "$lib" ]; then echo "node does not link libatomic.so.1 (or it is not found): $(ldd /usr/local/bin/node)" >&2; exit 1; fi; \
    dir="$(dirname "$(readlink -f "$lib")")" \
 && mkdir -p "/runtime-libs$dir" \
 && cp -L "$lib" "/runtime-libs$dir/libatomic.so.1"
# The version /version shows: package.json's, or this build argument when given.
ARG VERSION=""
RUN if [ -n "$VERSION" ]; then npm pkg set "version=$VERSION"; fi

# ---- runtime: node and nothing else (no shell, no npm), uid 65532 ----
# distroless/cc: glibc, libstdc++ and libgcc_s (what node links), no Node of its own. The node binary is the
# build stage's, so the image runs exactly NODE_VERSION (distroless/nodejsNN floats within its major line).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/node /nodejs/bin/node
# Node 26 also links libatomic, which distroless/cc lacks: the build stage's, where node found it, on any architecture.
COPY --from=build /runtime-libs/ /
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
# 8080/udp: the UDP echo responder on the same port number (udpEcho, docs/probe.md)
EXPOSE 8080 8080/udp
# Exec form, node directly: heartbeat is PID 1 and gets SIGTERM itself, then drains and exits 0.
# The memory settings travel with the image, so `docker run` behaves as the pod (figures in docs/memory.md):
# a 1 MiB semi-space (a 3 MiB young generation; Node sizes it from the machine: 192 MiB on 24 GB on Node 24; -4.5 MiB
# of peak RSS, same req/s) and a 48 MiB old space (~10 MiB is live under load; room for the 16 MiB log backlog).
# In the ENTRYPOINT rather than ENV NODE_OPTIONS: a NODE_OPTIONS set for another reason (--require ...)
# cannot drop them, and Node gives the command line the last word. The manifests do not repeat them
# (test/memory-flags.test.ts).
# --expose-gc: the upload reclaim's young-generation collections (src/http/reclaim.ts), given from the start.
ENTRYPOINT ["/nodejs/bin/node", "--max-old-space-size=48", "--max-semi-space-size=1", "--expose-gc", "/app/dist/main.js"]

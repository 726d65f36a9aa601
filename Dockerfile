# vouch container image: `docker build -t ghcr.io/vouch-dev/vouch:<version> .`
# Runs `vouch serve` as a non-root user on a distroless Node.js 20 base (no shell, no package manager).
# Kubernetes manifests: deploy/ (they run it as UID 10001 with a read-only root filesystem).

# --- build: compile TypeScript, then drop the dev dependencies ---------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so the layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
# When the build also compiles rego/ to WASM (dist/policy.wasm), copy rego/ here and put a pinned `opa`
# on the PATH of this stage.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime ------------------------------------------------------------------------------------------
# Same Debian 12 base as the build stage, so native optional dependencies built or fetched there run here.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/proto ./proto
# 8443: Gatekeeper endpoints (HTTPS) · 9443: gRPC · 8080: plain-HTTP health and metrics (server.healthAddress)
EXPOSE 8443 9443 8080
# distroless's nonroot user, numeric so that the kubelet can check runAsNonRoot; any other non-root UID
# works as well (deploy/ runs it as 10001). Everything in the image is root-owned and read-only to vouch.
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/vouch/config.yaml"]

# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.spi.json ./
COPY src ./src
COPY adapters ./adapters
COPY scripts ./scripts
COPY bench ./bench
RUN npx tsc -p tsconfig.json && npx tsc -p tsconfig.spi.json

# Runtime stage: production dependencies and the compiled output only, as a non-root user.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    TRELLIS_HOST=0.0.0.0 \
    TRELLIS_PORT=8080 \
    TRELLIS_DATA_DIR=/var/lib/trellis
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY definitions ./definitions
RUN mkdir -p /var/lib/trellis && chown node:node /var/lib/trellis
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/src/cli/main.js", "serve"]

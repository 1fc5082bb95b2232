import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import mercurius, { type IResolvers, type MercuriusContext, type MercuriusLoaders } from 'mercurius';
import type { ApiKeyStore } from '../../auth/api-keys.js';
import type { TrellisConfig } from '../../config/config-schema.js';
import { RegistryQueries } from '../../registry/registry-queries.js';
import type { Registry } from '../../registry/registry.js';
import { authenticate } from '../plugins/auth.js';
import { DISCOVERY_CHANNEL, DiscoveryCache } from './discovery-cache.js';
import type { GraphqlContext } from './graphql-context.js';
import { formatGraphqlErrors } from './graphql-error-formatter.js';
import { graphqlLoaders } from './graphql-loaders.js';
import { graphqlResolvers } from './graphql-resolvers.js';
import { graphqlTypeDefs } from './graphql-type-defs.js';
import { queryCostRule } from './query-cost-rule.js';
import { RegistryBatch } from './registry-batch.js';
import { registryOnly } from './registry-only.js';

export const GRAPHQL_PATH = '/graphql';

export interface GraphqlPluginOptions {
  readonly config: TrellisConfig['graphql'];
  readonly registry: Registry;
  readonly keys: ApiKeyStore;
}

/*
 * Runtime imports of graphql in this directory name `graphql/index.js`: mercurius requires the CommonJS build,
 * and a bundler or test runner resolving the bare specifier to `index.mjs` would load a second copy, whose
 * types (GraphQLError, GraphQLList …) fail graphql's cross-realm checks.
 */

/**
 * GraphQL discovery at `/graphql` (mercurius), encapsulated: the endpoint requires an API key with the `read`
 * scope; depth and complexity are limited from config before anything runs; batched queries are refused;
 * GraphiQL (`/graphiql`, static and keyless) is served only when `graphql.graphiql` is set. Search and lineage
 * results, and whole answers of registry-only operations, are cached across requests until the registry changes
 * (`graphql.resultCache`; see discovery-cache.ts and registry-only.ts).
 */
export async function graphqlPlugin(app: FastifyInstance, options: GraphqlPluginOptions): Promise<void> {
  const { config, registry, keys } = options;
  const queries = new RegistryQueries(registry.database);
  const cache = new DiscoveryCache(queries, config.resultCache);
  if (cache.enabled) {
    const unlisten = await registry.database.listen(DISCOVERY_CHANNEL, () => cache.invalidate());
    app.addHook('onClose', async () => unlisten());
    // The notification reaches the listener after the commit; this makes an apply visible to the applying
    // process before `apply` returns (its own next query sees it).
    registry.onApplied(async () => cache.invalidate());
  }

  // The SDL (openapi/schema.graphql) documents this endpoint; keep its routes out of the OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (request.routeOptions.url !== GRAPHQL_PATH) return;
    request.principal = await authenticate(keys, request, 'read');
  });
  if (cache.enabled) {
    // Whole answers of registry-only operations, after authentication; anything with errors is not kept.
    const pending = new WeakMap<FastifyRequest, { key: string; generation: number }>();
    app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.routeOptions.url !== GRAPHQL_PATH || request.method !== 'POST') return;
      const body = request.body as { query?: unknown; operationName?: unknown; variables?: unknown } | null | undefined;
      if (!body || typeof body.query !== 'string') return;
      const operationName = typeof body.operationName === 'string' ? body.operationName : null;
      if (!registryOnly(body.query, operationName)) return;
      const key = JSON.stringify([body.query, operationName, body.variables ?? null]);
      const hit = cache.response(key);
      if (hit !== undefined) return reply.type('application/json; charset=utf-8').send(hit);
      pending.set(request, { key, generation: cache.generation });
    });
    app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const miss = pending.get(request);
      if (miss && reply.statusCode === 200 && typeof payload === 'string' && !payload.includes('"errors"')) cache.keepResponse(miss.key, payload, miss.generation);
      return payload;
    });
  }

  await app.register(mercurius, {
    schema: graphqlTypeDefs,
    resolvers: graphqlResolvers as IResolvers,
    loaders: graphqlLoaders as MercuriusLoaders,
    path: GRAPHQL_PATH,
    graphiql: config.graphiql,
    allowBatchedQueries: false,
    // No `jit`: graphql-jit (mercurius 16) mishandles errors thrown by resolvers of these queries (paged
    // lineage answered "Cannot read properties of undefined (reading 'code')"); parsing and validation are
    // cached per query text anyway.
    validationRules: [queryCostRule({ maxDepth: config.maxDepth, maxComplexity: config.maxComplexity })],
    errorFormatter: formatGraphqlErrors,
    context: (request: FastifyRequest): Omit<GraphqlContext, keyof MercuriusContext> => ({
      principal: request.principal,
      registry,
      batch: new RegistryBatch(queries),
      cache,
    }),
  });
}

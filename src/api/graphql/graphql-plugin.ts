import type { FastifyInstance, FastifyRequest } from 'fastify';
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
 * results are cached across requests until the registry changes (`graphql.resultCache`; see discovery-cache.ts).
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

import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import client from 'prom-client';
import type { ApiKeyStore } from './auth/api-keys.js';
import type { TrellisConfig } from './config/config-schema.js';
import { authPlugin } from './api/plugins/auth.js';
import { errorHandlerPlugin } from './api/plugins/error-handler.js';
import { graphqlPlugin } from './api/graphql/graphql-plugin.js';
import { healthRoutes } from './api/rest/health-routes.js';
import { AdapterInfo, adapterRoutes } from './api/rest/adapter-routes.js';
import { KeyInfo, keyRoutes } from './api/rest/key-routes.js';
import { registryRoutes } from './api/rest/registry-routes.js';
import { runRoutes, type RunServices } from './api/rest/run-routes.js';
import { ApplyPlanSchema, ErrorResponse, StoredResourceSchema } from './api/rest/rest-schemas.js';
import type { Registry } from './registry/registry.js';
import { servingRoutes } from './api/rest/serving-routes.js';
import { pushRoutes } from './api/rest/push-routes.js';
import type { OnlineReader } from './serving/online-reader.js';
import type { ProviderPool } from './serving/provider-pool.js';
import type { StreamRuntime } from './streaming/stream-runtime.js';
import { builtinAdapters } from './builtin-adapters.js';
import type { AdapterCatalogue } from './spi/adapter-registration.js';
import { trainingSetRoutes } from './api/rest/training-set-routes.js';

export interface AppDeps {
  readonly registry: Registry;
  readonly keys: ApiKeyStore;
  readonly reader: OnlineReader;
  readonly metrics?: client.Registry;
  /** Run queue and triggers (default: built over the registry's database). */
  readonly runs?: RunServices;
  /** Shared adapter instances; training-set data answers 503 without them. */
  readonly providers?: ProviderPool;
  /** Shared streaming services (push API, tile reads, stream workers); default: the push routes own one. */
  readonly streams?: StreamRuntime;
  /** The adapters this instance can build (GET /v1/adapters); default: the built-ins. */
  readonly adapters?: AdapterCatalogue;
}

export const API_VERSION = '0.1.0';

/** Builds the Fastify app without listening; tests use `app.inject`. */
export async function buildApp(config: TrellisConfig, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    bodyLimit: config.bodyLimitBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const metrics = deps.metrics ?? new client.Registry();
  if (!deps.metrics) client.collectDefaultMetrics({ register: metrics });
  deps.streams?.metrics.exposeIn(metrics);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Trellis', version: API_VERSION, description: 'Virtual feature store: registry, training sets and online serving' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Trellis API key (trl_…)' } } },
      security: [{ apiKey: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (json.$id as string | undefined) ?? `def-${i}` },
  });
  for (const schema of [ErrorResponse, StoredResourceSchema, ApplyPlanSchema, KeyInfo, AdapterInfo]) app.addSchema(schema);

  await app.register(errorHandlerPlugin);
  await app.register(authPlugin, { keys: deps.keys });
  await app.register(healthRoutes, { db: deps.registry.database, metrics });
  await app.register(
    async (v1) => {
      await v1.register(keyRoutes, { keys: deps.keys });
      await v1.register(adapterRoutes, { adapters: deps.adapters ?? builtinAdapters() });
      await v1.register(servingRoutes, { reader: deps.reader });
      await v1.register(pushRoutes, { registry: deps.registry, dataDir: config.dataDir, ...(deps.streams ? { streams: deps.streams } : {}) });
      await v1.register(registryRoutes, { registry: deps.registry });
      await v1.register(runRoutes, { registry: deps.registry, runs: deps.runs });
      await v1.register(trainingSetRoutes, { registry: deps.registry, providers: deps.providers });
    },
    { prefix: '/v1' },
  );
  await app.register(graphqlPlugin, { config: config.graphql, registry: deps.registry, keys: deps.keys });
  await app.ready();
  return app;
}

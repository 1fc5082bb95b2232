import { Type, type Static } from '@sinclair/typebox';

/** The one configuration schema. Defaults live here and nowhere else. */
export const ConfigSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', description: 'Address to listen on (TRELLIS_HOST)' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'Port (TRELLIS_PORT)' }),
    dataDir: Type.String({ minLength: 1, default: '.trellis', description: 'Embedded state directory (TRELLIS_DATA_DIR); ":memory:" keeps the embedded registry in memory' }),
    databaseUrl: Type.Union([Type.String({ pattern: '^postgres(ql)?://' }), Type.Null()], {
      default: null,
      description: 'Registry Postgres URL (TRELLIS_DATABASE_URL); null = embedded PGlite in dataDir',
    }),
    adminKey: Type.Union([Type.String({ minLength: 24 }), Type.Null()], {
      default: null,
      description: 'Admin API key created on first start (TRELLIS_ADMIN_KEY); null = generate and print one',
    }),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'pino log level (TRELLIS_LOG_LEVEL)' },
    ),
    adapters: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'Adapter plugin modules to load at start (TRELLIS_ADAPTERS, comma-separated): paths relative to the working directory, or package names',
    }),
    bodyLimitBytes: Type.Integer({ minimum: 1024, default: 4 * 1024 * 1024, description: 'Max request body (TRELLIS_BODY_LIMIT_BYTES)' }),
    serving: Type.Object(
      {
        maxEntities: Type.Integer({ minimum: 1, default: 1000, description: 'Max entity rows per online read' }),
        timeoutMs: Type.Integer({ minimum: 1, default: 100, description: 'Online store timeout' }),
      },
      { default: {} },
    ),
    coordinator: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Run materializations, transformations and training sets in this process (TRELLIS_COORDINATOR_ENABLED)' }),
        concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 2, description: 'Runs executed at once by this replica' }),
      },
      { default: {} },
    ),
    graphql: Type.Object(
      {
        graphiql: Type.Boolean({ default: false }),
        maxDepth: Type.Integer({ minimum: 1, default: 10 }),
        maxComplexity: Type.Integer({ minimum: 1, default: 5000 }),
        resultCache: Type.Integer({
          minimum: 0,
          default: 20000,
          description: 'Resources kept in the GraphQL search and lineage result cache, cleared on every registry change; 0 = no cache',
        }),
      },
      { default: {} },
    ),
  },
  { additionalProperties: false },
);

export type TrellisConfig = Readonly<Static<typeof ConfigSchema>>;

/** Environment variables that map onto top-level or nested config keys. */
export const envBindings = {
  TRELLIS_HOST: ['host'],
  TRELLIS_PORT: ['port'],
  TRELLIS_DATA_DIR: ['dataDir'],
  TRELLIS_DATABASE_URL: ['databaseUrl'],
  TRELLIS_ADMIN_KEY: ['adminKey'],
  TRELLIS_LOG_LEVEL: ['logLevel'],
  TRELLIS_BODY_LIMIT_BYTES: ['bodyLimitBytes'],
  TRELLIS_ADAPTERS: ['adapters'],
  TRELLIS_SERVING_MAX_ENTITIES: ['serving', 'maxEntities'],
  TRELLIS_SERVING_TIMEOUT_MS: ['serving', 'timeoutMs'],
  TRELLIS_GRAPHIQL: ['graphql', 'graphiql'],
  TRELLIS_COORDINATOR_ENABLED: ['coordinator', 'enabled'],
  TRELLIS_COORDINATOR_CONCURRENCY: ['coordinator', 'concurrency'],
} as const satisfies Record<string, readonly string[]>;

import path from 'node:path';
import { createDuckDbOfflineStore } from '../adapters/duckdb/index.js';
import { createPostgresOfflineStore } from '../adapters/postgres/index.js';
import { createSnowflakeOfflineStore } from '../adapters/snowflake/index.js';
import { createBigQueryOfflineStore } from '../adapters/bigquery/index.js';
import { createEmbeddedOnlineStore } from '../adapters/embedded-online/index.js';
import { createRedisOnlineStore } from '../adapters/redis/index.js';
import { createKafkaStreamProvider } from '../adapters/kafka/index.js';
import { AdapterCatalogue, type AdapterContext, type AdapterRegistration, type ProviderConfig } from './spi/adapter-registration.js';

const str = (config: ProviderConfig, key: string): string | undefined => (typeof config[key] === 'string' ? (config[key] as string) : undefined);
const num = (config: ProviderConfig, key: string): number | undefined => (typeof config[key] === 'number' ? (config[key] as number) : undefined);
/** The keys of `config` holding a value of `type` (others are left out). */
const pick = (config: ProviderConfig, keys: readonly string[], type: 'string' | 'boolean'): Record<string, never> =>
  Object.fromEntries(keys.filter((k) => typeof config[k] === type).map((k) => [k, config[k]])) as Record<string, never>;
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Relative paths in embedded providers' configs live under the Trellis data directory. */
const inDataDir = (ctx: AdapterContext, file: string) => (path.isAbsolute(file) ? file : path.resolve(ctx.baseDir, file));

export interface BuiltinAdapterOptions {
  /** Default deadline of online reads, ms (config `serving.timeoutMs`). */
  readonly onlineTimeoutMs: number;
}

/** Built-in provider types. */
export function builtinAdapters(options: BuiltinAdapterOptions = { onlineTimeoutMs: 100 }): AdapterCatalogue {
  const catalogue = new AdapterCatalogue();
  const builtins: AdapterRegistration[] = [
    {
      kind: 'trellis.adapter',
      id: 'postgres',
      roles: ['offline'],
      createOffline: async (config) => {
        const connectionString = str(config, 'connectionString');
        if (!connectionString) throw new Error('the postgres provider needs config.connectionString (e.g. env:WAREHOUSE_URL)');
        return createPostgresOfflineStore({
          connectionString,
          ...(str(config, 'schema') ? { schema: str(config, 'schema')! } : {}),
          ...(num(config, 'maxConnections') ? { maxConnections: num(config, 'maxConnections')! } : {}),
        });
      },
    },
    {
      kind: 'trellis.adapter',
      id: 'duckdb',
      roles: ['offline'],
      createOffline: async (config, ctx) => createDuckDbOfflineStore({ path: inDataDir(ctx, str(config, 'path') ?? 'warehouse.duckdb') }),
    },
    {
      kind: 'trellis.adapter',
      id: 'snowflake',
      roles: ['offline'],
      // Config keys: adapters/snowflake/README.md ("Provider config"); password and keys as env:/file: references.
      createOffline: async (config) => {
        const [account, username, database, schema] = ['account', 'username', 'database', 'schema'].map((k) => str(config, k));
        if (!account || !username || !database || !schema) throw new Error('the snowflake provider needs config.account, username, database and schema');
        return createSnowflakeOfflineStore({
          account, username, database, schema,
          ...pick(config, ['password', 'warehouse', 'role', 'accessUrl'], 'string'),
          ...pick(config, ['createDatabase', 'createSchema'], 'boolean'),
          ...(isRecord(config.options) ? { options: config.options } : {}),
        });
      },
    },
    {
      kind: 'trellis.adapter',
      id: 'bigquery',
      roles: ['offline'],
      // Config keys: adapters/bigquery/README.md ("Provider config").
      createOffline: async (config) => {
        const [projectId, dataset] = [str(config, 'projectId'), str(config, 'dataset')];
        if (!projectId || !dataset) throw new Error('the bigquery provider needs config.projectId and config.dataset');
        return createBigQueryOfflineStore({
          projectId, dataset,
          ...pick(config, ['location', 'apiEndpoint', 'keyFilename'], 'string'),
          ...pick(config, ['createDataset', 'anonymous'], 'boolean'),
          ...(isRecord(config.options) ? { options: config.options } : {}),
        });
      },
    },
    {
      kind: 'trellis.adapter',
      id: 'redis',
      roles: ['online'],
      createOnline: async (config, ctx) => {
        const nodes = Array.isArray(config.nodes) ? (config.nodes as string[]) : undefined;
        return createRedisOnlineStore({
          ...(nodes ? { nodes } : { url: str(config, 'url') ?? 'redis://127.0.0.1:6379' }),
          ...(str(config, 'password') ? { password: str(config, 'password')! } : {}),
          ...(str(config, 'username') ? { username: str(config, 'username')! } : {}),
          ...(str(config, 'keyPrefix') ? { keyPrefix: str(config, 'keyPrefix')! } : {}),
          commandTimeoutMs: num(config, 'commandTimeoutMs') ?? options.onlineTimeoutMs,
          name: ctx.provider,
        });
      },
    },
    {
      kind: 'trellis.adapter',
      id: 'embedded',
      roles: ['online'],
      createOnline: async (_config, ctx) => createEmbeddedOnlineStore({ dir: ctx.dataDir }),
    },
    { kind: 'trellis.adapter', id: 'kafka', roles: ['stream'], createStream: async (config) => createKafkaStreamProvider(config) },
  ];
  for (const registration of builtins) catalogue.register(registration, 'trellis built-ins');
  return catalogue;
}

import path from 'node:path';
import { createDuckDbOfflineStore } from '../adapters/duckdb/index.js';
import { createPostgresOfflineStore } from '../adapters/postgres/index.js';
import { createEmbeddedOnlineStore } from '../adapters/embedded-online/index.js';
import { createRedisOnlineStore } from '../adapters/redis/index.js';
import { createKafkaStreamProvider } from '../adapters/kafka/index.js';
import { AdapterCatalogue, type AdapterContext, type AdapterRegistration, type ProviderConfig } from './spi/adapter-registration.js';

const pending = (id: string) => async () => {
  throw new Error(`the ${id} adapter is registered for validation only in this build`);
};

const str = (config: ProviderConfig, key: string): string | undefined => (typeof config[key] === 'string' ? (config[key] as string) : undefined);
const num = (config: ProviderConfig, key: string): number | undefined => (typeof config[key] === 'number' ? (config[key] as number) : undefined);
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
    { kind: 'trellis.adapter', id: 'snowflake', roles: ['offline'], createOffline: pending('snowflake') },
    { kind: 'trellis.adapter', id: 'bigquery', roles: ['offline'], createOffline: pending('bigquery') },
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

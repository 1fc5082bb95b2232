import path from 'node:path';
import { createDuckDbOfflineStore } from '../adapters/duckdb/index.js';
import { createPostgresOfflineStore } from '../adapters/postgres/index.js';
import { createSnowflakeOfflineStore } from '../adapters/snowflake/index.js';
import { createBigQueryOfflineStore } from '../adapters/bigquery/index.js';
import { createEmbeddedOnlineStore } from '../adapters/embedded-online/index.js';
import { createEmbeddedTileStore } from '../adapters/embedded-online/embedded-tile-store.js';
import { createRedisOnlineStore } from '../adapters/redis/index.js';
import { createRedisTileStore } from '../adapters/redis/redis-tile-store.js';
import { createKafkaStreamProvider, validateKafkaConfig } from '../adapters/kafka/index.js';
import { Type, type TObject, type TProperties } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AdapterCatalogue, ProviderConfigError, isSecretReference, type AdapterContext, type AdapterRegistration, type ProviderConfig } from './spi/adapter-registration.js';

const str = (config: ProviderConfig, key: string): string | undefined => (typeof config[key] === 'string' ? (config[key] as string) : undefined);
const num = (config: ProviderConfig, key: string): number | undefined => (typeof config[key] === 'number' ? (config[key] as number) : undefined);
/** The keys of `config` holding a value of `type` (others are left out). */
const pick = (config: ProviderConfig, keys: readonly string[], type: 'string' | 'boolean'): Record<string, never> =>
  Object.fromEntries(keys.filter((k) => typeof config[k] === type).map((k) => [k, config[k]])) as Record<string, never>;
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Relative paths in embedded providers' configs live under the Trellis data directory. */
const inDataDir = (ctx: AdapterContext, file: string) => (path.isAbsolute(file) ? file : path.resolve(ctx.baseDir, file));

const positiveMs = (description: string) => Type.Optional(Type.Integer({ minimum: 1, description }));
const text = Type.Optional(Type.String());
const flag = Type.Optional(Type.Boolean());
const sdkOptions = Type.Optional(Type.Record(Type.String(), Type.Unknown()));

/**
 * An apply-time config check from a schema of the keys an adapter reads: a missing required key, an unknown key (a
 * typo would otherwise be ignored) or a value of the wrong type is a {@link ProviderConfigError} at its pointer.
 * `more` adds the checks a schema cannot say. Secret references are strings, so they pass where a string goes.
 */
function validatedBy(properties: TProperties, more?: (config: ProviderConfig) => void): (config: ProviderConfig) => void {
  const schema: TObject = Type.Object(properties, { additionalProperties: false });
  const keys = Object.keys(properties);
  return (config) => {
    const first = Value.Errors(schema, config).First();
    if (first) {
      const key = first.path.split('/').pop() ?? '';
      if (first.message === 'Unexpected property') throw new ProviderConfigError(first.path, `unknown key ${key}; expected one of ${keys.join(', ')}`);
      if (first.message === 'Expected required property') throw new ProviderConfigError(first.path, `${key} is required`);
      throw new ProviderConfigError(first.path, first.message.replace(/^Expected/, 'expected'));
    }
    more?.(config);
  };
}

const HOST_PORT = /^[^\s:]+:\d{1,5}$/;
const redisConfig = validatedBy(
  {
    url: Type.Optional(Type.String({ description: 'redis://[[user]:password@]host:port[/db] or rediss://…' })),
    nodes: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Object({ host: Type.String(), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false })]), { minItems: 1 })),
    username: text,
    password: text,
    keyPrefix: text,
    commandTimeoutMs: positiveMs('read deadline'),
    writeTimeoutMs: positiveMs('write deadline'),
    connectTimeoutMs: positiveMs('one connect attempt'),
    reconnectMaxDelayMs: positiveMs('reconnect back-off cap'),
    writeChunkRows: Type.Optional(Type.Integer({ minimum: 1 })),
    autoPipelining: flag,
  },
  (config) => {
    if (config.url !== undefined && config.nodes !== undefined) throw new ProviderConfigError('/nodes', 'give url (standalone) or nodes (Cluster), not both');
    if (typeof config.url === 'string' && !isSecretReference(config.url) && !/^rediss?:\/\//.test(config.url)) throw new ProviderConfigError('/url', 'expected a redis:// or rediss:// URL');
    (config.nodes as unknown[] | undefined)?.forEach((node, i) => {
      if (typeof node === 'string' && !isSecretReference(node) && !HOST_PORT.test(node)) throw new ProviderConfigError(`/nodes/${i}`, 'expected host:port or { host, port }');
    });
    if (typeof config.keyPrefix === 'string' && /[{}]/.test(config.keyPrefix)) throw new ProviderConfigError('/keyPrefix', 'must not contain { or } (they would move keys between Cluster slots)');
  },
);

/** The connection keys shared by the redis online and tile stores: `url`, or Cluster `nodes`, credentials, key prefix. */
const redisConnection = (config: ProviderConfig) => {
  const nodes = Array.isArray(config.nodes) ? (config.nodes as string[]) : undefined;
  return {
    ...(nodes ? { nodes } : { url: str(config, 'url') ?? 'redis://127.0.0.1:6379' }),
    ...pick(config, ['password', 'username', 'keyPrefix'], 'string'),
  };
};

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
      validateConfig: validatedBy({ connectionString: Type.String(), schema: text, maxConnections: Type.Optional(Type.Integer({ minimum: 1 })) }),
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
      validateConfig: validatedBy({ path: text }),
      createOffline: async (config, ctx) => createDuckDbOfflineStore({ path: inDataDir(ctx, str(config, 'path') ?? 'warehouse.duckdb') }),
    },
    {
      kind: 'trellis.adapter',
      id: 'snowflake',
      roles: ['offline'],
      validateConfig: validatedBy({
        account: Type.String(), username: Type.String(), database: Type.String(), schema: Type.String(),
        password: text, warehouse: text, role: text, accessUrl: text, createDatabase: flag, createSchema: flag, options: sdkOptions,
      }),
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
      validateConfig: validatedBy({
        projectId: Type.String(), dataset: Type.String(), location: text, apiEndpoint: text, keyFilename: text, createDataset: flag, anonymous: flag, options: sdkOptions,
      }),
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
      // Keys: adapters/redis/README.md (the options table); checked at apply by redisConfig.
      validateConfig: redisConfig,
      createOnline: async (config, ctx) => {
        const ms = (key: string) => (num(config, key) !== undefined ? { [key]: num(config, key)! } : {});
        return createRedisOnlineStore({
          ...redisConnection(config),
          ...pick(config, ['autoPipelining'], 'boolean'),
          ...ms('writeTimeoutMs'), ...ms('connectTimeoutMs'), ...ms('reconnectMaxDelayMs'), ...ms('writeChunkRows'),
          commandTimeoutMs: num(config, 'commandTimeoutMs') ?? options.onlineTimeoutMs,
          name: ctx.provider,
        });
      },
      // Tiles live beside the online values, over the same connection keys.
      createTileStore: async (config, ctx) => createRedisTileStore({ ...redisConnection(config), name: ctx.provider }),
    },
    {
      kind: 'trellis.adapter',
      id: 'embedded',
      roles: ['online'],
      validateConfig: validatedBy({}),
      createOnline: async (_config, ctx) => createEmbeddedOnlineStore({ dir: ctx.dataDir }),
      createTileStore: async (_config, ctx) => createEmbeddedTileStore({ dir: ctx.dataDir }),
    },
    { kind: 'trellis.adapter', id: 'kafka', roles: ['stream'], validateConfig: validateKafkaConfig, createStream: async (config) => createKafkaStreamProvider(config) },
  ];
  for (const registration of builtins) catalogue.register(registration, 'trellis built-ins');
  return catalogue;
}

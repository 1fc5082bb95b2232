/**
 * Helpers for tests that use the real services started by test/setup/global-setup.ts.
 *
 * Isolation rules (many test files run in parallel against the same servers):
 * - Postgres: each test file gets its own database from createTestDatabase(), dropped afterwards.
 * - Redis: each test gets its own *key prefix* from createRedisPrefix(). We do not hand out logical
 *   DB indexes: there are only 16, FLUSHDB would race between parallel files, and prefixes also work
 *   on Redis Cluster. Put every key under the prefix and call clearRedisPrefix() when done.
 * - Kafka: each test creates its own topic(s) with createKafkaTopic() (random suffix) and uses a
 *   unique consumer group id (uniqueId()).
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Kafka, logLevel as LogLevel } from 'kafkajs';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
// Brings in the ProvidedContext augmentation (types only).
import type {} from '../setup/global-setup.js';

type ProvidedKey = 'trellisPgUrl' | 'trellisRedisUrl' | 'trellisKafkaBrokers' | 'trellisSchemaRegistryUrl';

function setting(key: ProvidedKey, envName: string): string {
  let value: string | undefined;
  try {
    value = inject(key);
  } catch {
    // inject() only works inside a vitest worker; fall back to the environment.
  }
  value ||= process.env[envName];
  if (!value) {
    throw new Error(
      `${envName} is not set and vitest provided no '${key}': the test services were not set up. ` +
        'Run the tests through vitest with test/setup/global-setup.ts as globalSetup (see vitest.config.ts), ' +
        'or start them with `bash scripts/services/up.sh` and export the variable.',
    );
  }
  return value;
}

/** Admin connection URL of the test Postgres server (database `postgres`). */
export function pgUrl(): string {
  return setting('trellisPgUrl', 'TRELLIS_TEST_PG_URL');
}

/** URL of the test Redis server, e.g. redis://127.0.0.1:56379. */
export function redisUrl(): string {
  return setting('trellisRedisUrl', 'TRELLIS_TEST_REDIS_URL');
}

/** Broker list of the test Kafka cluster, e.g. ['127.0.0.1:59092']. */
export function kafkaBrokers(): string[] {
  return setting('trellisKafkaBrokers', 'TRELLIS_TEST_KAFKA_BROKERS')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

/** The Confluent-compatible API of the test schema registry, e.g. http://127.0.0.1:58081/apis/ccompat/v7. */
export function schemaRegistryUrl(): string {
  return setting('trellisSchemaRegistryUrl', 'TRELLIS_TEST_SCHEMA_REGISTRY_URL');
}

/** A short random lower-case id, safe in database names, Redis keys, topic and group names. */
export function uniqueId(bytes = 5): string {
  return randomBytes(bytes).toString('hex');
}

export interface TestDatabase {
  /** Database name, `trellis_t_<prefix>_<random>`. */
  name: string;
  /** Connection URL of the new database. */
  url: string;
  /** Drops the database, closing any connections still open to it. Safe to call twice. */
  drop(): Promise<void>;
}

async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pgUrl(), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Creates a fresh, empty database `trellis_t_<prefix>_<random>` on the test server.
 * Use one per test file (beforeAll) and drop it in afterAll.
 */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40) || 'db';
  const name = `trellis_t_${clean}_${uniqueId()}`;
  const quoted = `"${name}"`;

  await withAdminClient(async (client) => {
    // CREATE DATABASE copies template1; parallel creates can briefly collide on it (55006).
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${quoted}`);
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== '55006' || attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  });

  const url = new URL(pgUrl());
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`));
    },
  };
}

/**
 * A unique Redis key prefix for one test, `trellis:t:<random>:`. Put every key the test writes
 * under it (most adapters take a key prefix option); remove them with clearRedisPrefix().
 */
export function createRedisPrefix(label = 't'): string {
  const clean = label.toLowerCase().replace(/[^a-z0-9_-]+/g, '_') || 't';
  return `trellis:${clean}:${uniqueId()}:`;
}

/** Deletes every key under `prefix` (SCAN + UNLINK; never FLUSHDB, other files share the server). */
export async function clearRedisPrefix(redis: Redis, prefix: string): Promise<number> {
  if (!prefix.startsWith('trellis:')) throw new Error(`refusing to clear a prefix not made by createRedisPrefix: ${prefix}`);
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

/** A kafkajs client for the test cluster; logs only errors unless KAFKAJS_LOG_LEVEL says otherwise. */
export function kafkaClient(clientId = `trellis-test-${uniqueId(3)}`): Kafka {
  const levels: Record<string, LogLevel> = {
    nothing: kafkajs.logLevel.NOTHING,
    error: kafkajs.logLevel.ERROR,
    warn: kafkajs.logLevel.WARN,
    info: kafkajs.logLevel.INFO,
    debug: kafkajs.logLevel.DEBUG,
  };
  return new kafkajs.Kafka({
    clientId,
    brokers: kafkaBrokers(),
    logLevel: levels[(process.env.KAFKAJS_LOG_LEVEL ?? 'error').toLowerCase()] ?? kafkajs.logLevel.ERROR,
  });
}

/**
 * Creates a topic `<name>-<random>` (default name `trellis-t`) with `partitions` partitions and
 * waits until every partition has a leader. Returns the topic's full name.
 */
export async function createKafkaTopic(name = 'trellis-t', partitions = 1): Promise<string> {
  const topic = `${name.replace(/[^a-zA-Z0-9._-]+/g, '_')}-${uniqueId()}`;
  const admin = kafkaClient('trellis-test-admin').admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true,
      timeout: 30_000,
    });
    if (!created) throw new Error(`Kafka topic ${topic} already exists`);
    return topic;
  } finally {
    await admin.disconnect();
  }
}

/** Deletes topics made by createKafkaTopic (optional: the broker is disposable). */
export async function deleteKafkaTopics(...topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafkaClient('trellis-test-admin').admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Vitest globalSetup: brings up the real services the tests use (Postgres, Redis, Kafka, and the warehouse
 * emulators: fakesnow's server mode and the BigQuery REST emulator) with scripts/services/up.sh, checks each
 * one answers a real client, and hands their addresses to the test workers both through process.env and
 * through vitest's provide/inject.
 *
 * - TRELLIS_TEST_SERVICES=skip-start: don't run up.sh, only check the services are reachable.
 * - TRELLIS_TEST_PG_URL / TRELLIS_TEST_REDIS_URL / TRELLIS_TEST_KAFKA_BROKERS /
 *   TRELLIS_TEST_FAKESNOW_URL / TRELLIS_TEST_BIGQUERY_URL / TRELLIS_TEST_SCHEMA_REGISTRY_URL, when already set, are used instead of the
 *   defaults (to point the tests at services of your own).
 * - TRELLIS_SERVICES_TIMEOUT_MS: limit for up.sh (default 15 minutes: a cold machine installs
 *   packages and downloads the Kafka jars first).
 *
 * A service that cannot start fails the whole run with the reason; nothing is skipped.
 * The services are left running on purpose: the next run reuses them in well under a second.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    trellisPgUrl: string;
    trellisRedisUrl: string;
    /** Comma-separated host:port list, as in TRELLIS_TEST_KAFKA_BROKERS. */
    trellisKafkaBrokers: string;
    /** fakesnow's server mode (Snowflake emulation), e.g. http://127.0.0.1:58080. */
    trellisFakesnowUrl: string;
    /** The BigQuery REST emulator (the client's `apiEndpoint`), e.g. http://127.0.0.1:59050. */
    trellisBigQueryUrl: string;
    /** A Confluent-compatible schema registry API (Apicurio's ccompat), e.g. http://127.0.0.1:58081/apis/ccompat/v7. */
    trellisSchemaRegistryUrl: string;
  }
}

const DEFAULTS = {
  TRELLIS_TEST_PG_URL: 'postgres://postgres:trellis@127.0.0.1:55432/postgres',
  TRELLIS_TEST_REDIS_URL: 'redis://127.0.0.1:56379',
  TRELLIS_TEST_KAFKA_BROKERS: '127.0.0.1:59092',
  TRELLIS_TEST_FAKESNOW_URL: 'http://127.0.0.1:58080',
  TRELLIS_TEST_BIGQUERY_URL: 'http://127.0.0.1:59050',
  TRELLIS_TEST_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:58081/apis/ccompat/v7',
} as const;

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const upTimeoutMs = Number(process.env.TRELLIS_SERVICES_TIMEOUT_MS ?? 15 * 60_000);

export default async function setup(project: TestProject): Promise<void> {
  const skipStart = process.env.TRELLIS_TEST_SERVICES === 'skip-start';
  if (skipStart) {
    console.log('[trellis] TRELLIS_TEST_SERVICES=skip-start: not starting services, only checking them');
  } else {
    await runUpScript();
  }

  const pgUrl = process.env.TRELLIS_TEST_PG_URL || DEFAULTS.TRELLIS_TEST_PG_URL;
  const redisUrl = process.env.TRELLIS_TEST_REDIS_URL || DEFAULTS.TRELLIS_TEST_REDIS_URL;
  const kafkaBrokers = process.env.TRELLIS_TEST_KAFKA_BROKERS || DEFAULTS.TRELLIS_TEST_KAFKA_BROKERS;
  const fakesnowUrl = process.env.TRELLIS_TEST_FAKESNOW_URL || DEFAULTS.TRELLIS_TEST_FAKESNOW_URL;
  const bigQueryUrl = process.env.TRELLIS_TEST_BIGQUERY_URL || DEFAULTS.TRELLIS_TEST_BIGQUERY_URL;
  const schemaRegistryUrl = process.env.TRELLIS_TEST_SCHEMA_REGISTRY_URL || DEFAULTS.TRELLIS_TEST_SCHEMA_REGISTRY_URL;

  const hint = skipStart ? ' (TRELLIS_TEST_SERVICES=skip-start is set: start them with `bash scripts/services/up.sh`)' : '';
  const results = await Promise.allSettled([
    checkPostgres(pgUrl),
    checkRedis(redisUrl),
    checkKafka(kafkaBrokers),
    checkFakesnow(fakesnowUrl),
    checkBigQueryEmulator(bigQueryUrl),
    checkSchemaRegistry(schemaRegistryUrl),
  ]);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [errorMessage(r.reason)] : []));
  if (failures.length > 0) {
    throw new Error(`Test services are not reachable${hint}:\n  - ${failures.join('\n  - ')}`);
  }

  process.env.TRELLIS_TEST_PG_URL = pgUrl;
  process.env.TRELLIS_TEST_REDIS_URL = redisUrl;
  process.env.TRELLIS_TEST_KAFKA_BROKERS = kafkaBrokers;
  process.env.TRELLIS_TEST_FAKESNOW_URL = fakesnowUrl;
  process.env.TRELLIS_TEST_BIGQUERY_URL = bigQueryUrl;
  process.env.TRELLIS_TEST_SCHEMA_REGISTRY_URL = schemaRegistryUrl;
  // kafkajs prints a warning about its v2 default partitioner on every producer otherwise.
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  project.provide('trellisPgUrl', pgUrl);
  project.provide('trellisRedisUrl', redisUrl);
  project.provide('trellisKafkaBrokers', kafkaBrokers);
  project.provide('trellisFakesnowUrl', fakesnowUrl);
  project.provide('trellisBigQueryUrl', bigQueryUrl);
  project.provide('trellisSchemaRegistryUrl', schemaRegistryUrl);
}

/** Runs up.sh, streaming its output; rejects with the tail of that output on failure or timeout. */
function runUpScript(): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    // detached: the script gets its own process group, so a timeout can kill all of it.
    const child = spawn('bash', ['scripts/services/up.sh'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: process.env,
    });
    const tail: string[] = [];
    const keep = (chunk: Buffer, out: NodeJS.WriteStream) => {
      out.write(chunk);
      tail.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
      if (tail.length > 80) tail.splice(0, tail.length - 80);
    };
    child.stdout.on('data', (c: Buffer) => keep(c, process.stdout));
    child.stderr.on('data', (c: Buffer) => keep(c, process.stderr));

    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      reject(
        new Error(
          `scripts/services/up.sh did not finish within ${Math.round(upTimeoutMs / 1000)}s ` +
            `(set TRELLIS_SERVICES_TIMEOUT_MS to allow longer). Last output:\n${tail.join('\n')}`,
        ),
      );
    }, upTimeoutMs);

    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run scripts/services/up.sh: ${err.message}`));
    });
    // 'exit', not 'close': a daemon that kept our pipes open must not make us wait for it.
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        console.log(`[trellis] services up (${((Date.now() - started) / 1000).toFixed(1)}s)`);
        resolve();
      } else {
        reject(
          new Error(
            `scripts/services/up.sh failed (${signal ? `signal ${signal}` : `exit code ${code}`}); ` +
              `the test services could not start. Last output:\n${tail.join('\n')}`,
          ),
        );
      }
    });
  });
}

async function withRetry<T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw new Error(`${what}: ${errorMessage(err)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function checkPostgres(url: string): Promise<void> {
  return withRetry(`Postgres at ${redact(url)}`, async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
      await client.query('select 1');
    } finally {
      await client.end().catch(() => {});
    }
  });
}

function checkRedis(url: string): Promise<void> {
  return withRetry(`Redis at ${redact(url)}`, async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5_000 });
    client.on('error', () => {}); // reported through the rejected command instead
    try {
      await client.connect();
      const pong = await client.ping();
      if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
    } finally {
      client.disconnect();
    }
  });
}

function checkKafka(brokers: string): Promise<void> {
  return withRetry(`Kafka at ${brokers}`, async () => {
    const kafka = new kafkajs.Kafka({
      clientId: 'trellis-test-setup',
      brokers: brokers.split(',').map((b) => b.trim()),
      logLevel: kafkajs.logLevel.NOTHING,
      connectionTimeout: 5_000,
      retry: { retries: 2 },
    });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length === 0) throw new Error('cluster reports no brokers');
      // Looking up a group coordinator makes a fresh broker create __consumer_offsets now, rather
      // than during the first test that uses a consumer group.
      await admin.describeGroups(['trellis-test-setup-warmup']);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }, 60_000);
}

/** fakesnow answers a login with a session token (its server mode has no health endpoint). */
function checkFakesnow(url: string): Promise<void> {
  return withRetry(`fakesnow at ${url}`, async () => {
    const response = await fetch(new URL('/session/v1/login-request?databaseName=TRELLIS_HEALTH&schemaName=PUBLIC', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { SESSION_PARAMETERS: {} } }),
      signal: AbortSignal.timeout(5_000),
    });
    const body = (await response.json()) as { data?: { token?: string } };
    if (!response.ok || !body.data?.token) throw new Error(`login answered HTTP ${response.status} without a token`);
    // Log the session out again, or fakesnow keeps it (and its DuckDB cursor) for good.
    await fetch(new URL('/session?delete=true', url), {
      method: 'POST',
      headers: { authorization: `Snowflake Token="${body.data.token}"` },
      signal: AbortSignal.timeout(5_000),
    });
  });
}

/** The BigQuery emulator runs `SELECT 1` through jobs.query. */
function checkBigQueryEmulator(url: string): Promise<void> {
  return withRetry(`BigQuery emulator at ${url}`, async () => {
    const response = await fetch(new URL('/bigquery/v2/projects/trellis-health/queries', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'SELECT 1 AS ok', useLegacySql: false }),
      signal: AbortSignal.timeout(5_000),
    });
    const body = (await response.json()) as { rows?: { f: { v: unknown }[] }[] };
    if (!response.ok || body.rows?.[0]?.f[0]?.v !== '1') throw new Error(`SELECT 1 answered HTTP ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
  });
}

/** The schema registry lists its subjects (the Confluent API's `GET /subjects`). */
function checkSchemaRegistry(url: string): Promise<void> {
  return withRetry(`schema registry at ${url}`, async () => {
    const response = await fetch(`${url.replace(/\/+$/, '')}/subjects`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json()) as unknown;
    if (!response.ok || !Array.isArray(body)) throw new Error(`GET /subjects answered HTTP ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
  });
}

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(errorMessage).join('; ');
  return err instanceof Error ? err.message || err.name : String(err);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

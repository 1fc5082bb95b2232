import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { builtinAdapters } from '../../src/builtin-adapters.js';
import { compiledQuery } from '../../src/compiler/index.js';
import type { TaskContext } from '../../src/coordinator/coordinator.js';
import type { Run } from '../../src/coordinator/run-types.js';
import { materializationTask } from '../../src/coordinator/tasks/materialization-task.js';
import { migrate } from '../../src/registry/migrations.js';
import { openPgliteDatabase } from '../../src/registry/registry-database.js';
import { Registry } from '../../src/registry/registry.js';
import { ProviderPool } from '../../src/serving/provider-pool.js';

/**
 * Materialization throughput of the task body (warehouse query → chunked stream → online writeBatch with
 * compare-and-set), per setup: DuckDB → embedded online store, and Postgres → Redis when TRELLIS_BENCH_PG_URL
 * names a fresh database (TRELLIS_BENCH_REDIS_URL, default redis://127.0.0.1:56379; keys under a random prefix,
 * removed afterwards). One source table of ENTITIES rows with 10 value columns; 10 features materialized one
 * after the other, so rows written = ENTITIES × 10. Full runs into an empty store. CPU is this process's user +
 * system time over the 10 runs (the registry is in-process PGlite, idle during the runs).
 *
 * With the Redis path, `redis-benchmark -P 32 -t hset` (pipelined HSET, the ceiling for one client) runs in the
 * same script against the same server, when `redis-benchmark` is on PATH.
 *
 *   node dist/bench/materialize/materialize-bench.js
 *   TRELLIS_BENCH_ENTITIES (default 100000), TRELLIS_BENCH_PATHS (default `duckdb,redis`; `redis` needs the URL),
 *   TRELLIS_BENCH_WRITES_IN_FLIGHT (default `2`, the task's default; a list such as `1,2` runs one set of features
 *   per value, interleaved, for an A/B in one process)
 */
const entities = Number(process.env.TRELLIS_BENCH_ENTITIES ?? 100_000);
const writesInFlight = (process.env.TRELLIS_BENCH_WRITES_IN_FLIGHT ?? '2').split(',').map(Number);
const paths = new Set((process.env.TRELLIS_BENCH_PATHS ?? 'duckdb,redis').split(',').map((p) => p.trim()));
const FEATURES = 10;
const columns = Array.from({ length: FEATURES }, (_, i) => `f${i}`);

function context(log: (m: string) => void): TaskContext {
  return {
    runId: 0,
    attempt: 1,
    params: {},
    previousWatermark: null,
    signal: new AbortController().signal,
    log: (m) => log(m),
    heartbeat: async () => {},
  };
}

async function bench(label: string, providers: Record<string, unknown>[], createTable: (pool: ProviderPool) => Promise<void>, cleanup: () => Promise<void>) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'trellis-mat-bench-'));
  const db = await openPgliteDatabase(null);
  await migrate(db);
  const adapters = builtinAdapters({ onlineTimeoutMs: 5_000 });
  const registry = new Registry(db, { providerTypes: adapters.providerTypes() });
  const pool = new ProviderPool(registry, adapters, dataDir);
  try {
    await registry.apply(providers, { actor: 'bench' });
    const loadStarted = performance.now();
    await createTable(pool);
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    // One online provider and one set of 10 features per writesInFlight value (fresh keys for each), run
    // interleaved (feature 0 of every variant, then feature 1, …) so that load changes hit every variant alike.
    const online = providers.find((p) => p.name === 'kv')!;
    const variants = writesInFlight.map((w) => ({
      w,
      provider: writesInFlight.length === 1 ? 'kv' : `kv_w${w}`,
      feature: (c: string) => (writesInFlight.length === 1 ? c : `${c}_w${w}`),
      task: materializationTask(registry, pool, { writesInFlight: w }),
      seconds: 0,
      cpu: 0,
      rows: 0,
      perFeature: [] as number[],
    }));
    await registry.apply(
      [
        ...(writesInFlight.length === 1 ? [] : variants.map((v) => ({ ...online, name: v.provider, config: withPrefix(online.config as Record<string, unknown>, `w${v.w}:`) }))),
        { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
        { kind: 'source', name: 'wide', provider: 'wh', table: 'bench_wide', timestampColumn: 'ts' },
        ...variants.flatMap((v) =>
          columns.map((c) => ({ kind: 'feature', name: v.feature(c), entity: 'user', source: 'wide', column: c, valueType: 'float', onlineProvider: v.provider })),
        ),
      ],
      { actor: 'bench' },
    );
    for (const c of columns) {
      for (const v of variants) {
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const result = await v.task({ kind: 'feature', name: v.feature(c), variant: 'default', task: 'materialization' } as Run, context(() => {}));
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        v.seconds += seconds;
        v.cpu += (cpu.user + cpu.system) / 1e6;
        v.rows += result.rowsWritten!;
        v.perFeature.push(result.rowsWritten! / seconds);
      }
    }
    for (const v of variants) {
      if (v.rows !== entities * FEATURES) throw new Error(`${label}: wrote ${v.rows} rows, expected ${entities * FEATURES}`);
      const sorted = v.perFeature.sort((a, b) => a - b);
      const name = writesInFlight.length === 1 ? label : `${label} (${v.w} in flight)`;
      console.log(
        `${name.padEnd(24)} ${entities} entities × ${FEATURES} features = ${v.rows} rows in ${v.seconds.toFixed(1)} s → ${Math.round(v.rows / v.seconds).toLocaleString('en')} rows/s ` +
          `(per feature: min ${Math.round(sorted[0]!).toLocaleString('en')}, max ${Math.round(sorted[sorted.length - 1]!).toLocaleString('en')} rows/s; ` +
          `CPU ${v.cpu.toFixed(1)} s = ${Math.round(v.rows / v.cpu).toLocaleString('en')} rows per CPU-second; table load ${loadSeconds.toFixed(1)} s)`,
      );
    }
  } finally {
    await pool.close();
    await db.close();
    await cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A provider config with its keys under their own prefix (Redis) — fresh keys per variant. */
function withPrefix(config: Record<string, unknown> | undefined, suffix: string): Record<string, unknown> | undefined {
  return config && typeof config.keyPrefix === 'string' ? { ...config, keyPrefix: `${config.keyPrefix}${suffix}` } : config;
}

const valuesSql = (random: string) => columns.map((c) => `${random} AS ${c}`).join(', ');

if (paths.has('duckdb')) await bench(
  'DuckDB → embedded',
  [
    { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'bench.duckdb' } },
    { kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] },
  ],
  async (pool) => {
    const wh = await pool.offline('wh@default');
    await wh.executor.run(
      compiledQuery(`CREATE TABLE bench_wide AS SELECT 'u' || i AS user_id, ${valuesSql('random()')}, TIMESTAMP '2026-01-01' - to_seconds(i) AS ts FROM range(${entities}) AS r(i)`),
    );
  },
  async () => {},
);

const pgUrl = process.env.TRELLIS_BENCH_PG_URL;
if (pgUrl && paths.has('redis')) {
  const redisUrl = process.env.TRELLIS_BENCH_REDIS_URL ?? 'redis://127.0.0.1:56379';
  const prefix = `trellis:bench:${randomBytes(4).toString('hex')}:`;
  process.env.TRELLIS_BENCH_WH_URL = pgUrl;
  await bench(
    'Postgres → Redis',
    [
      { kind: 'provider', name: 'wh', type: 'postgres', roles: ['offline'], config: { connectionString: 'env:TRELLIS_BENCH_WH_URL' } },
      { kind: 'provider', name: 'kv', type: 'redis', roles: ['online'], config: { url: redisUrl, keyPrefix: prefix, commandTimeoutMs: 5_000 } },
    ],
    async (pool) => {
      const wh = await pool.offline('wh@default');
      await wh.executor.run(compiledQuery('DROP TABLE IF EXISTS bench_wide'));
      await wh.executor.run(
        compiledQuery(
          `CREATE TABLE bench_wide AS SELECT 'u' || i AS user_id, ${valuesSql('random()')}, TIMESTAMP '2026-01-01' - make_interval(secs => i) AS ts FROM generate_series(1, ${entities}) AS g(i)`,
        ),
      );
    },
    async () => {
      const redis = new Redis(redisUrl);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    },
  );
  redisBenchmark(new URL(redisUrl));
} else if (paths.has('redis')) {
  console.log('Postgres → Redis: skipped (set TRELLIS_BENCH_PG_URL to a fresh database)');
}

/** The same server's pipelined HSET rate, from redis-benchmark (skipped when it is not installed). */
function redisBenchmark(url: URL): void {
  const args = ['-h', url.hostname, '-p', url.port || '6379', '-P', '32', '-t', 'hset', '-n', '1000000', '-q'];
  try {
    const out = execFileSync('redis-benchmark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    // -q prints progress lines ending in \r before the summary; keep the summary.
    const summary = out.split(/[\r\n]+/).filter((line) => /requests per second/.test(line)).pop() ?? out.trim();
    console.log(`${'redis-benchmark'.padEnd(24)} ${args.join(' ')}: ${summary.trim()}`);
  } catch (error) {
    console.log(`redis-benchmark: skipped (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
  }
}

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
 * after the other, so rows written = ENTITIES × 10. Full runs into an empty store.
 *
 *   node dist/bench/materialize/materialize-bench.js      (TRELLIS_BENCH_ENTITIES, default 100000)
 */
const entities = Number(process.env.TRELLIS_BENCH_ENTITIES ?? 100_000);
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
    await registry.apply(
      [
        { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
        { kind: 'source', name: 'wide', provider: 'wh', table: 'bench_wide', timestampColumn: 'ts' },
        ...columns.map((c) => ({ kind: 'feature', name: c, entity: 'user', source: 'wide', column: c, valueType: 'float', onlineProvider: 'kv' })),
      ],
      { actor: 'bench' },
    );
    const task = materializationTask(registry, pool);
    const started = performance.now();
    let rows = 0;
    const perFeature: number[] = [];
    for (const c of columns) {
      const t0 = performance.now();
      const result = await task({ kind: 'feature', name: c, variant: 'default', task: 'materialization' } as Run, context(() => {}));
      perFeature.push(result.rowsWritten! / ((performance.now() - t0) / 1000));
      rows += result.rowsWritten!;
    }
    const seconds = (performance.now() - started) / 1000;
    if (rows !== entities * FEATURES) throw new Error(`${label}: wrote ${rows} rows, expected ${entities * FEATURES}`);
    const sorted = perFeature.sort((a, b) => a - b);
    console.log(
      `${label.padEnd(24)} ${entities} entities × ${FEATURES} features = ${rows} rows in ${seconds.toFixed(1)} s → ${Math.round(rows / seconds).toLocaleString('en')} rows/s ` +
        `(per feature: min ${Math.round(sorted[0]!).toLocaleString('en')}, max ${Math.round(sorted[sorted.length - 1]!).toLocaleString('en')} rows/s; table load ${loadSeconds.toFixed(1)} s)`,
    );
  } finally {
    await pool.close();
    await db.close();
    await cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const valuesSql = (random: string) => columns.map((c) => `${random} AS ${c}`).join(', ');

await bench(
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
if (pgUrl) {
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
} else {
  console.log('Postgres → Redis: skipped (set TRELLIS_BENCH_PG_URL to a fresh database)');
}

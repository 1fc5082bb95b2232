import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDuckDbOfflineStore } from '../../adapters/duckdb/index.js';
import { ApiKeyStore } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config/load-config.js';
import { openTrellis } from '../../src/trellis.js';

/**
 * Time to apply 1,000 features (plus their provider, entity and source) in one request, on PGlite and on
 * Postgres (TRELLIS_BENCH_PG_URL, e.g. the test server's postgres://postgres@127.0.0.1:55432/<db>).
 * Reports the first apply (creates) and an identical re-apply (all unchanged). The source table exists (apply
 * checks every new source and feature against it, as in production; TRELLIS_BENCH_VERIFY=0 skips the check).
 */
const count = Number(process.env.TRELLIS_BENCH_FEATURES ?? 1000);
const warehouseDir = mkdtempSync(path.join(os.tmpdir(), 'trellis-apply-bench-'));
const warehouse = path.join(warehouseDir, 'bench.duckdb');
{
  const store = await createDuckDbOfflineStore({ path: warehouse });
  const columns = Array.from({ length: 50 }, (_, i) => `col_${i} DOUBLE`).join(', ');
  await store.executor.run({ sql: `CREATE TABLE events (user_id VARCHAR, ts TIMESTAMP, ${columns})`, parameters: [] });
  await store.close();
}
const resources = [
  { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: warehouse } },
  { kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] },
  { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
  { kind: 'source', name: 'events', provider: 'wh', table: 'events', timestampColumn: 'ts' },
  ...Array.from({ length: count }, (_, i) => ({
    kind: 'feature',
    name: `feature_${i}`,
    entity: 'user',
    source: 'events',
    column: `col_${i % 50}`,
    valueType: 'float',
    ttl: '7d',
    onlineProvider: 'kv',
    tags: ['bench', `group_${i % 10}`],
    description: `Benchmark feature number ${i}`,
  })),
];

async function measure(label: string, databaseUrl: string | null) {
  const adminKey = ApiKeyStore.generate().key;
  const trellis = await openTrellis(loadConfig({ logLevel: 'silent', dataDir: ':memory:', databaseUrl, adminKey, coordinator: { enabled: false } }, {}));
  try {
    const apply = async () => {
      const started = performance.now();
      const res = await trellis.app.inject({ method: 'POST', url: process.env.TRELLIS_BENCH_VERIFY === '0' ? '/v1/apply?verify=false' : '/v1/apply', headers: { authorization: `Bearer ${adminKey}` }, payload: { resources } });
      if (res.statusCode !== 200) throw new Error(`${label}: ${res.statusCode} ${res.body.slice(0, 300)}`);
      return performance.now() - started;
    };
    const create = await apply();
    const unchanged = await apply();
    console.log(`${label.padEnd(9)} create ${count} features: ${(create / 1000).toFixed(2)} s   re-apply (unchanged): ${(unchanged / 1000).toFixed(2)} s`);
  } finally {
    await trellis.close();
  }
}

await measure('pglite', null);
if (process.env.TRELLIS_BENCH_PG_URL) await measure('postgres', process.env.TRELLIS_BENCH_PG_URL);
else console.log('postgres  skipped: set TRELLIS_BENCH_PG_URL to a fresh database URL');
rmSync(warehouseDir, { recursive: true, force: true });

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresOfflineStore } from '../../adapters/postgres/index.js';
import { planTrainingSet } from '../../src/compiler/plan/plan-training-set.js';
import { compiledQuery } from '../../src/compiler/sql/compiled-query.js';
import type { PostgresSqlCompiler } from '../../src/compiler/sql/postgres/postgres-sql-compiler.js';
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

describe('postgres offline store sessions', () => {
  let db: TestDatabase;
  let store: OfflineStore;
  const schema = 'odd "schema"; -- x\\y';
  beforeAll(async () => {
    db = await createTestDatabase('offline_schema');
    store = await createPostgresOfflineStore({ connectionString: db.url, schema, maxConnections: 3 });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('creates the schema and puts every pooled session on it, in UTC', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => store.executor.query(compiledQuery("SELECT current_schema() AS s, current_setting('TimeZone') AS tz"))),
    );
    for (const [row] of results) expect(row).toEqual({ s: schema, tz: 'UTC' });
    await store.executor.loadRows({ name: 't' }, [{ name: 'x', type: 'int64' }], [[1]]);
    expect(await store.introspector.listTables()).toEqual([{ schema, name: 't', type: 'table' }]);
    expect(await store.executor.query(compiledQuery(`SELECT x FROM ${store.compiler.quoteTable({ schema, name: 't' })}`))).toEqual([{ x: 1 }]);
  });

  it('creates the recommended point-in-time index, which turns the lookup into a bare index scan', async () => {
    const compiler = store.compiler as PostgresSqlCompiler;
    const table = { name: 'pit_source' };
    await store.executor.loadRows(
      table,
      [
        { name: 'k', type: 'int64' },
        { name: 'ts', type: 'timestamp' },
        { name: 'cr', type: 'timestamp' },
        { name: 'v', type: 'float64' },
      ],
      Array.from({ length: 2000 }, (_, i) => [i % 50, new Date(Date.UTC(2024, 0, 1, 0, 0, i)), null, i]),
    );
    await store.executor.loadRows({ name: 'pit_labels' }, [{ name: 'k', type: 'int64' }, { name: 'ts', type: 'timestamp' }, { name: 'y', type: 'int64' }], [[1, new Date(Date.UTC(2024, 0, 2)), 1]]);
    const plan = planTrainingSet({
      label: { name: 'l', variant: 'v1', source: { relation: { name: 'pit_labels' }, timestampColumn: 'ts' }, entityKeyColumns: ['k'], valueColumn: 'y' },
      features: [{ name: 'f', variant: 'v1', source: { relation: table, timestampColumn: 'ts', createdTimestampColumn: 'cr' }, entityKeyColumns: ['k'], valueColumn: 'v' }],
    });
    const feature = plan.features[0];
    if (feature?.kind !== 'latest-value') throw new Error('expected a latest-value feature');
    const index = compiler.compilePointInTimeIndex(feature);
    expect(index.sql).toMatch(/^CREATE INDEX IF NOT EXISTS "trellis_pit_[0-9a-f]{20}" ON "pit_source" \("k", "ts", "cr" NULLS FIRST, "v" NULLS FIRST\)$/);
    await store.executor.run(index);
    await store.executor.run(index); // idempotent
    await store.executor.run(compiledQuery('ANALYZE "pit_source"'));
    const query = compiler.compile(plan);
    const explain = await store.executor.query(compiledQuery(`EXPLAIN (COSTS OFF) ${query.sql}`, query.parameters));
    const text = explain.map((row) => String(row['QUERY PLAN'])).join('\n');
    expect(text).toMatch(/Index (Only )?Scan Backward using "?trellis_pit_/);
    expect(text).not.toMatch(/Sort/);
    expect(await store.executor.query(query)).toEqual([{ k: 1, ts: new Date(Date.UTC(2024, 0, 2)), f__v1: 1951, l__v1: 1 }]);
  });

  it('reads timestamp without time zone as UTC whatever the value', async () => {
    const [row] = await store.executor.query(
      compiledQuery("SELECT TIMESTAMP '2024-03-31 01:30:00.123456' AS t, TIMESTAMP 'infinity' AS inf, $1::timestamp AS p, $1::timestamptz AS pz", [
        new Date(Date.UTC(2024, 2, 31, 1, 30)),
      ]),
    );
    expect(row).toEqual({
      t: new Date(Date.UTC(2024, 2, 31, 1, 30, 0, 123)),
      inf: 'infinity',
      p: new Date(Date.UTC(2024, 2, 31, 1, 30)),
      pz: new Date(Date.UTC(2024, 2, 31, 1, 30)),
    });
  });
});

/**
 * The BigQuery offline adapter through the real @google-cloud/bigquery client against the local REST
 * emulator (scripts/services/bigquery_emulator.py: sqlglot transpiles GoogleSQL to DuckDB). Every statement
 * the adapter sent must also parse as BigQuery SQL with sqlglot. What the emulator cannot show is listed in
 * adapters/bigquery/README.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBigQueryOfflineStore } from '../../adapters/bigquery/index.js';
import { compiledQuery } from '../../src/compiler/sql/compiled-query.js';
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { runOfflineStoreConformance } from '../../src/spi/testkit/offline-store-conformance.js';
import {
  bigQueryEmulatorUrl,
  createBigQueryTestTarget,
  emulatorBigQueryClient,
  sqlglotParseErrors,
  type BigQueryTestTarget,
} from '../support/emulators.js';

let conformance: BigQueryTestTarget | undefined;
runOfflineStoreConformance(
  'bigquery (@google-cloud/bigquery → REST emulator on DuckDB)',
  async () => {
    conformance = createBigQueryTestTarget('offline_conformance');
    return createBigQueryOfflineStore({ projectId: conformance.projectId, dataset: conformance.dataset, client: conformance.client });
  },
  { cleanup: async () => conformance?.drop() },
);

describe('bigquery statements', () => {
  it('every statement of the conformance run parses as BigQuery SQL (sqlglot)', () => {
    const statements = [...new Set(conformance?.statements ?? [])];
    expect(statements.length).toBeGreaterThan(20);
    const errors = sqlglotParseErrors('bigquery', statements);
    const failures = statements.flatMap((sql, i) => (errors[i] === null ? [] : [`${errors[i]}\n${sql}`]));
    expect(failures).toEqual([]);
  });
});

describe('bigquery adapter specifics', () => {
  let target: BigQueryTestTarget;
  let store: OfflineStore;

  beforeAll(async () => {
    target = createBigQueryTestTarget('offline_specifics');
    // The default client factory (`new BigQuery({ projectId, apiEndpoint, … })`), not the recording one.
    store = await createBigQueryOfflineStore({
      projectId: target.projectId,
      dataset: target.dataset,
      apiEndpoint: bigQueryEmulatorUrl(),
      options: { authClient: { getRequestHeaders: async () => new Headers() } },
    });
  });

  afterAll(async () => {
    await store?.close();
    await target?.drop();
  });

  it('offers no temporary tables and says why', async () => {
    expect(store.supportsTemporaryTables).toBe(false);
    await expect(store.executor.createTableAs({ name: 't' }, compiledQuery('SELECT 1 AS x'), { temporary: true })).rejects.toThrow(/session/);
  });

  it('reads exact numbers: big integers as strings, NUMERIC exactly', async () => {
    const rows = await store.executor.query(compiledQuery(`SELECT 9007199254740993 AS big, NUMERIC '12345678901234567890.25' AS dec, 0.1 AS f`));
    expect(rows).toEqual([{ big: '9007199254740993', dec: '12345678901234567890.25', f: 0.1 }]);
  });

  it('binds a Date parameter so it compares with DATETIME and TIMESTAMP columns alike', async () => {
    const c = store.compiler;
    const table = { name: 'trellis_times' };
    const at = new Date(Date.UTC(2024, 0, 1, 0, 0, 10, 500));
    await store.executor.loadRows(table, [{ name: 'dt', type: 'timestamp' }, { name: 'tz', type: 'timestamptz' }], [[at, at]], { mode: 'replace' });
    const rows = await store.executor.query(
      compiledQuery(`SELECT ${c.quoteIdentifier('dt')} = @p1 AS a, ${c.quoteIdentifier('tz')} = @p2 AS b FROM ${c.quoteTable(table)}`, [at, at]),
    );
    expect(rows).toEqual([{ a: true, b: true }]);
  });

  it('rejects a query naming a missing table with the engine message', async () => {
    await expect(store.executor.query(compiledQuery('SELECT * FROM `no_such_table`'))).rejects.toThrow(/no_such_table/);
  });
});

describe('bigquery emulator REST surface (through the client)', () => {
  let dataset: BigQueryTestTarget;
  let bigquery: ReturnType<typeof emulatorBigQueryClient>;

  beforeAll(() => {
    dataset = createBigQueryTestTarget('emulator_rest');
    bigquery = emulatorBigQueryClient(dataset.projectId);
  });

  afterAll(() => dataset?.drop());

  it('creates, lists, fills, reads and deletes datasets and tables', async () => {
    const [ds] = await bigquery.createDataset(dataset.dataset);
    expect((await ds.exists())[0]).toBe(true);
    const [table] = await ds.createTable('events', {
      schema: [
        { name: 'id', type: 'INTEGER' },
        { name: 'name', type: 'STRING' },
        { name: 'at', type: 'TIMESTAMP' },
      ],
    });
    await table.insert([
      { id: 1, name: 'a', at: '2024-01-01T00:00:01Z' },
      { id: 2, name: 'b', at: null },
    ]);
    const [rows] = await table.getRows();
    expect(rows.map((r) => [r.id, r.name, r.at === null ? null : (r.at as { value: string }).value])).toEqual([
      [1, 'a', '2024-01-01T00:00:01.000Z'],
      [2, 'b', null],
    ]);
    const [tables] = await ds.getTables();
    expect(tables.map((t) => t.id)).toEqual(['events']);
    const [metadata] = await table.getMetadata();
    expect(metadata.schema.fields.map((f: { name: string; type: string }) => `${f.name}:${f.type}`)).toEqual(['id:INTEGER', 'name:STRING', 'at:TIMESTAMP']);
    const [queried] = await bigquery.query({ query: `SELECT COUNT(*) AS n FROM \`${dataset.dataset}.events\`` });
    expect(queried).toEqual([{ n: 2 }]);
    await table.delete();
    expect((await table.exists())[0]).toBe(false);
  });
});

/**
 * The Snowflake offline adapter through the real snowflake-sdk against fakesnow's server mode
 * (scripts/services/fakesnow.sh), with test/support/snowflake-arrow-proxy.ts in between (the SDK reads JSON
 * rowsets only, fakesnow answers Arrow). Every statement the adapter sent must also parse as Snowflake SQL
 * with sqlglot. What fakesnow cannot show is listed in adapters/snowflake/README.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSnowflakeOfflineStore } from '../../adapters/snowflake/index.js';
import { compiledQuery } from '../../src/compiler/sql/compiled-query.js';
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { runOfflineStoreConformance } from '../../src/spi/testkit/offline-store-conformance.js';
import { createSnowflakeTestTarget, sqlglotParseErrors, type SnowflakeTestTarget } from '../support/emulators.js';

let conformance: SnowflakeTestTarget | undefined;
runOfflineStoreConformance(
  'snowflake (snowflake-sdk → arrow proxy → fakesnow)',
  async () => {
    conformance = await createSnowflakeTestTarget('offline_conformance');
    return createSnowflakeOfflineStore(conformance.config);
  },
  { cleanup: async () => conformance?.drop() },
);

describe('snowflake statements', () => {
  it('every statement of the conformance run parses as Snowflake SQL (sqlglot)', () => {
    const statements = [...new Set(conformance?.statements ?? [])];
    expect(statements.length).toBeGreaterThan(20);
    const errors = sqlglotParseErrors('snowflake', statements);
    const failures = statements.flatMap((sql, i) => (errors[i] === null ? [] : [`${errors[i]}\n${sql}`]));
    expect(failures).toEqual([]);
  });

  it('went through the arrow proxy (fakesnow answered Arrow, the SDK read JSON)', () => {
    expect(conformance?.proxy.rewrites ?? 0).toBeGreaterThan(10);
  });
});

describe('snowflake adapter specifics', () => {
  let target: SnowflakeTestTarget;
  let store: OfflineStore;

  beforeAll(async () => {
    target = await createSnowflakeTestTarget('offline_specifics', 'Mixed Case');
    // The default connection factory (snowflake-sdk createConnection + connect), not the recording one.
    const { connection: _recording, ...config } = target.config;
    store = await createSnowflakeOfflineStore(config);
  });

  afterAll(async () => {
    await store?.close();
    await target?.drop();
  });

  it('opens through the default snowflake-sdk factory into an exactly named (quoted) schema', async () => {
    const [row] = await store.executor.query(compiledQuery('SELECT CURRENT_SCHEMA() AS "s"'));
    expect(row).toEqual({ s: 'Mixed Case' });
  });

  it('keeps temporary tables in its session', async () => {
    expect(store.supportsTemporaryTables).toBe(true);
    const c = store.compiler;
    const table = { name: 'trellis_tmp' };
    await store.executor.createTableAs(table, compiledQuery(`SELECT 1 AS ${c.quoteIdentifier('x')}`), { temporary: true });
    expect(await store.executor.query(compiledQuery(`SELECT ${c.quoteIdentifier('x')} FROM ${c.quoteTable(table)}`))).toEqual([{ x: 1 }]);
  });

  it('reads exact numbers: big integers as strings, decimals exactly', async () => {
    const rows = await store.executor.query(
      compiledQuery(`SELECT 9007199254740993::NUMBER(38,0) AS "big", 12345678901234567890.25::NUMBER(38,2) AS "dec", 0.1::DOUBLE AS "f"`),
    );
    expect(rows).toEqual([{ big: '9007199254740993', dec: '12345678901234567890.25', f: 0.1 }]);
  });

  it('runs Snowflake ASOF JOIN … MATCH_CONDITION, keeping unmatched left rows (fakesnow patched, see README)', async () => {
    const c = store.compiler;
    const at = (s: number) => new Date(Date.UTC(2024, 0, 1) + s * 1000);
    await store.executor.loadRows({ name: 'asof_l' }, [{ name: 'k', type: 'int64' }, { name: 'ts', type: 'timestamp' }], [[1, at(10)], [2, at(10)]], { mode: 'replace' });
    await store.executor.loadRows(
      { name: 'asof_r' },
      [{ name: 'k', type: 'int64' }, { name: 'ts', type: 'timestamp' }, { name: 'v', type: 'float64' }],
      [[1, at(5), 1], [1, at(9), 2], [1, at(11), 3], [2, at(11), 4]],
      { mode: 'replace' },
    );
    const [l, r, k, ts, v] = ['l', 'r', 'k', 'ts', 'v'].map((name) => c.quoteIdentifier(name)) as [string, string, string, string, string];
    const sql =
      `SELECT ${l}.${k}, ${r}.${v} FROM ${c.quoteTable({ name: 'asof_l' })} AS ${l} ` +
      `ASOF JOIN ${c.quoteTable({ name: 'asof_r' })} AS ${r} MATCH_CONDITION (${l}.${ts} >= ${r}.${ts}) ON ${l}.${k} = ${r}.${k} ORDER BY ${l}.${k}`;
    expect(sqlglotParseErrors('snowflake', [sql])).toEqual([null]);
    expect(await store.executor.query(compiledQuery(sql))).toEqual([
      { k: 1, v: 2 },
      { k: 2, v: null },
    ]);
  });

  it('reports a missing table as a rejected query naming the table', async () => {
    await expect(store.executor.query(compiledQuery('SELECT * FROM "no_such_table"'))).rejects.toThrow(/no_such_table/i);
  });
});

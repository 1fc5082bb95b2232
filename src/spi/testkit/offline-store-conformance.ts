/**
 * The shared conformance suite for offline stores. Every built-in offline adapter runs it; a platform team proves
 * a plugin adapter with it:
 *
 * @example
 * ```ts
 * // test/conformance/offline-my-warehouse.test.ts
 * import { runOfflineStoreConformance } from '../../src/spi/testkit/offline-store-conformance.js';
 * import { createMyWarehouseStore } from '../../adapters/my-warehouse/index.js';
 *
 * runOfflineStoreConformance('my-warehouse', () => createMyWarehouseStore({ url: process.env.MY_WAREHOUSE_URL! }));
 * ```
 *
 * The factory is called once and must return a store on an isolated, writable schema/database (the suite
 * creates, replaces and drops tables whose names start with `trellis_conf_`, including hostile names). The
 * suite closes the store at the end, then calls `options.cleanup`.
 *
 * What it covers: the `kind` tag and capability flags; `loadRows` (create/append/replace) and the shared value
 * model; `createTableAs` with parameters, `createView`, drops; introspection of tables, views, queries and
 * missing tables; streaming in batches, early exit and abort; training sets and materializations compiled by
 * the store's own compiler against hand-checked expected rows (event-ts, created-ts and value tie-breaks, TTL
 * and lag boundaries, multi-column keys, null keys, duplicate label rows, empty matches, window aggregations,
 * several sources, a query relation, stream window features over a topic's offline copy); hostile identifiers;
 * `close()`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planMaterialization } from '../../compiler/plan/plan-materialization.js';
import { planTrainingSet } from '../../compiler/plan/plan-training-set.js';
import { planTransformation } from '../../compiler/plan/plan-transformation.js';
import type { StreamWindowFeatureSpec, StreamWindowFunction } from '../../compiler/plan/plan-stream-window.js';
import type { FeatureSpec, LabelSpec, TrainingSetSpec } from '../../compiler/plan/plan-types.js';
import { compiledQuery } from '../../compiler/sql/compiled-query.js';
import {
  isOfflineStore,
  missingColumns,
  OFFLINE_STORE_KIND,
  type ColumnDefinition,
  type CompiledParameter,
  type OfflineStore,
  type TableRef,
} from '../offline-store.js';

/** Opens the store under test (see the file comment). */
export type OfflineStoreFactory = () => Promise<OfflineStore>;

export interface OfflineStoreConformanceOptions {
  /** Runs after the store is closed (e.g. drops the test database). */
  readonly cleanup?: () => Promise<void>;
}

const T0 = Date.UTC(2024, 0, 1);
/** A timestamp `s` seconds after 2024-01-01T00:00:00Z. */
const at = (s: number): Date => new Date(T0 + s * 1000);

const CLICKS: TableRef = { name: 'trellis_conf_clicks' };
const SPEND: TableRef = { name: 'trellis_conf_spend' };
const LABELS: TableRef = { name: 'trellis_conf_labels' };

const CLICKS_COLUMNS: ColumnDefinition[] = [
  { name: 'user_id', type: 'int64' },
  { name: 'region', type: 'string' },
  { name: 'ts', type: 'timestamp' },
  { name: 'created', type: 'timestamp' },
  { name: 'clicks', type: 'float64' },
];
// prettier-ignore
const CLICKS_ROWS: CompiledParameter[][] = [
  [1, 'eu', at(10), at(100), 1],
  [1, 'eu', at(20), at(100), 2],
  [1, 'eu', at(20), at(200), 3],     // same ts, later created → wins at ts 20
  [1, 'eu', at(30), at(300), 4],
  [1, 'eu', at(30), at(300), 5],     // same ts and created → greatest value wins
  [1, 'eu', at(30), at(300), null],  // … and NULL ranks lowest
  [2, 'eu', at(10), null, 7],
  [2, 'eu', at(10), at(50), 6],      // a created ts beats a NULL one
  [3, 'us', at(5), at(1), null],     // the latest row holds NULL
  [null, 'eu', at(10), at(1), 99],   // a null key never matches
  [1, 'us', at(15), at(150), 11],    // second key column tells (1,'us') from (1,'eu')
  [1, 'eu', null, at(1), 98],        // no event time: never used
];

const SPEND_COLUMNS: ColumnDefinition[] = [
  { name: 'uid', type: 'int64' },
  { name: 'area', type: 'string' },
  { name: 'event_time', type: 'timestamp' },
  { name: 'amount', type: 'float64' },
];
// prettier-ignore
const SPEND_ROWS: CompiledParameter[][] = [
  [1, 'eu', at(22), 10.5],
  [1, 'eu', at(22), 12.5],           // no created column: greatest value wins
  [2, 'eu', at(11), 1],
];

const LABEL_COLUMNS: ColumnDefinition[] = [
  { name: 'user_id', type: 'int64' },
  { name: 'region', type: 'string' },
  { name: 'ts', type: 'timestamp' },
  { name: 'churned', type: 'float64' },
];
// prettier-ignore
const LABEL_ROWS: CompiledParameter[][] = [
  [1, 'eu', at(25), 1],
  [1, 'eu', at(30), 2],
  [1, 'eu', at(30), 2],              // duplicate label row: appears twice
  [1, 'eu', at(9), 4],
  [2, 'eu', at(10), 5],
  [3, 'us', at(100), 6],
  [null, 'eu', at(50), 7],
  [1, 'us', at(15), 8],
  [4, 'eu', at(50), 9],
  [1, 'eu', null, 10],
];

/** A topic's offline copy: events with their Kafka partition and offset (the `last` tie-break of the stream). */
const EVENTS: TableRef = { name: 'trellis_conf_events' };
const EVENTS_COLUMNS: ColumnDefinition[] = [
  { name: 'user_id', type: 'int64' },
  { name: 'region', type: 'string' },
  { name: 'ts', type: 'timestamp' },
  { name: 'part', type: 'int64' },
  { name: 'off', type: 'int64' },
  { name: 'amount', type: 'float64' },
];
// prettier-ignore
const EVENTS_ROWS: CompiledParameter[][] = [
  [1, 'eu', at(3), 0, 0, 1],
  [1, 'eu', at(12), 0, 1, 2],
  [1, 'eu', at(12), 1, 0, 5],        // same event time: the greater partition is the stream's later event
  [1, 'eu', at(19), 0, 2, null],     // `last` keeps a null value; aggregations skip it
  [1, 'eu', at(24), 1, 1, 4],
  [2, 'eu', at(8), 0, 3, 7],
  [1, 'us', at(15), 0, 4, 11],
  [null, 'eu', at(10), 0, 5, 99],    // a null key never matches
];

const clicksSource = { relation: CLICKS, timestampColumn: 'ts', createdTimestampColumn: 'created' };
const keys = ['user_id', 'region'];
const feature = (name: string, extra: Partial<FeatureSpec> = {}): FeatureSpec => ({
  name,
  variant: 'v1',
  source: clicksSource,
  entityKeyColumns: keys,
  valueColumn: 'clicks',
  ...extra,
});

const LABEL: LabelSpec = {
  name: 'churn',
  variant: 'v1',
  source: { relation: LABELS, timestampColumn: 'ts' },
  entityKeyColumns: keys,
  valueColumn: 'churned',
};

const FEATURES: FeatureSpec[] = [
  feature('latest'),
  feature('fresh', { ttlSeconds: 5 }),
  feature('lagged', { lagSeconds: 5 }),
  feature('clicks_10s', { aggregation: { fn: 'count', windowSeconds: 10 } }),
  feature('sum_10s', { aggregation: { fn: 'sum', column: 'clicks', windowSeconds: 10 } }),
  feature('spend', {
    source: { relation: SPEND, timestampColumn: 'event_time' },
    entityKeyColumns: ['uid', 'area'],
    valueColumn: 'amount',
    ttlSeconds: 100,
  }),
];

// Expected training set, one line per label row (hand-checked against the contract):
// prettier-ignore
const EXPECTED_TRAINING: [number | null, string, number | null, ...(number | null)[]][] = [
  //  user  region  t     latest fresh lagged count sum   spend  label
  [1, 'eu', 25,   3,    3,    3,     2,    5,    12.5,  1], // ts 20: created 200 beats 100; ttl bound 20 inclusive
  [1, 'eu', 30,   5,    5,    3,     3,    9,    12.5,  2], // ts 30 tie → 5; window (20,30] excludes ts 20
  [1, 'eu', 30,   5,    5,    3,     3,    9,    12.5,  2], // the duplicate
  [1, 'eu', 9,    null, null, null,  0,    null, null,  4], // nothing before t
  [2, 'eu', 10,   6,    6,    null,  2,    13,   null,  5], // ts ≤ t inclusive; spend at 11 is after t
  [3, 'us', 100,  null, null, null,  0,    null, null,  6], // latest value is NULL; ttl excludes it anyway
  [null, 'eu', 50, null, null, null, 0,    null, null,  7], // null key matches nothing
  [1, 'us', 15,   11,   11,   null,  1,    11,   null,  8],
  [4, 'eu', 50,   null, null, null,  0,    null, null,  9], // unknown entity
  [1, 'eu', null, null, null, null,  0,    null, null, 10], // no label time
];

function expectedTrainingRows(): Record<string, unknown>[] {
  return EXPECTED_TRAINING.map(([user, region, t, ...rest]) => ({
    user_id: user,
    region,
    ts: t === null ? null : at(t).getTime(),
    latest__v1: rest[0],
    fresh__v1: rest[1],
    lagged__v1: rest[2],
    clicks_10s__v1: rest[3],
    sum_10s__v1: rest[4],
    spend__v1: rest[5],
    churn__v1: rest[6],
  }));
}

/** Rows in a canonical, order-independent form: Dates → ms, numeric strings → numbers. */
function canonical(rows: readonly Record<string, unknown>[]): string[] {
  const value = (v: unknown): unknown => {
    if (v instanceof Date) return v.getTime();
    if (typeof v === 'bigint') return Number(v);
    if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
    return v ?? null;
  };
  return rows
    .map((row) => JSON.stringify(Object.keys(row).sort().map((k) => [k, value(row[k])])))
    .sort();
}

/** A quoted column name (shorthand). */
const c0 = (store: OfflineStore, name: string): string => store.compiler.quoteIdentifier(name);

async function collect<T>(iterable: AsyncIterable<T[]>): Promise<T[][]> {
  const batches: T[][] = [];
  for await (const batch of iterable) batches.push(batch);
  return batches;
}

/** Registers the conformance suite for one offline store adapter (call it at the top level of a test file). */
export function runOfflineStoreConformance(name: string, factory: OfflineStoreFactory, options: OfflineStoreConformanceOptions = {}): void {
  describe(`offline store conformance: ${name}`, () => {
    let store: OfflineStore;

    beforeAll(async () => {
      store = await factory();
      await store.executor.loadRows(CLICKS, CLICKS_COLUMNS, CLICKS_ROWS, { mode: 'replace' });
      await store.executor.loadRows(SPEND, SPEND_COLUMNS, SPEND_ROWS, { mode: 'replace' });
      await store.executor.loadRows(LABELS, LABEL_COLUMNS, LABEL_ROWS, { mode: 'replace' });
    });

    afterAll(async () => {
      await store?.close();
      if (options.cleanup) await options.cleanup();
    });

    it('is tagged, names its dialect and answers every capability flag', () => {
      expect(isOfflineStore(store)).toBe(true);
      expect(store.kind).toBe(OFFLINE_STORE_KIND);
      expect(store.adapterId).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
      expect(store.compiler.kind).toBe('trellis.sql-compiler');
      expect(store.compiler.dialect).toBe(store.dialect);
      for (const flag of ['supportsAsofJoin', 'supportsTemporaryTables', 'supportsViews', 'supportsPersistence', 'supportsSharedAccess'] as const) {
        expect(typeof store[flag], flag).toBe('boolean');
      }
    });

    it('loads rows and reads them back in the shared value model', async () => {
      const table = { name: 'trellis_conf_values' };
      const columns: ColumnDefinition[] = [
        { name: 'i', type: 'int64' },
        { name: 'f', type: 'float64' },
        { name: 's', type: 'string' },
        { name: 'b', type: 'boolean' },
        { name: 't', type: 'timestamp' },
        { name: 'tz', type: 'timestamptz' },
        { name: 'd', type: 'date' },
      ];
      const rows: CompiledParameter[][] = [
        [1, 1.5, "it's", true, at(1.5), at(2), '2024-02-29'],
        [9007199254740993n, -0.25, '', false, at(-86_400 * 365), at(0), '1999-12-31'],
        [null, null, null, null, null, null, null],
      ];
      expect(await store.executor.loadRows(table, columns, rows, { mode: 'replace' })).toBe(3);
      const read = await store.executor.query(compiledQuery(`SELECT * FROM ${store.compiler.quoteTable(table)} ORDER BY ${store.compiler.quoteIdentifier('f')} DESC NULLS LAST`));
      expect(read).toEqual([
        { i: 1, f: 1.5, s: "it's", b: true, t: at(1.5), tz: at(2), d: '2024-02-29' },
        { i: '9007199254740993', f: -0.25, s: '', b: false, t: at(-86_400 * 365), tz: at(0), d: '1999-12-31' },
        { i: null, f: null, s: null, b: null, t: null, tz: null, d: null },
      ]);
      await store.executor.loadRows(table, columns, [[2, 2, 'x', true, at(0), at(0), '2024-01-01']], { mode: 'append' });
      const [count] = await store.executor.query(compiledQuery(`SELECT COUNT(*) AS ${c0(store, 'n')} FROM ${store.compiler.quoteTable(table)}`));
      expect(count).toEqual({ n: 4 });
      await expect(store.executor.loadRows(table, columns, [], { mode: 'create' })).rejects.toThrow();
      expect(await store.executor.loadRows(table, columns, (async function* () {})(), { mode: 'replace' })).toBe(0);
      await store.executor.dropTable(table);
    });

    it('creates tables from parameterised queries, views, and drops them', async () => {
      const c = store.compiler;
      const table = { name: 'trellis_conf_ctas' };
      const view = { name: 'trellis_conf_view' };
      // An incremental transformation compiles to a query with a bound parameter (the window's upper bound).
      const select = c.compile(
        planTransformation(
          {
            sql: `SELECT ${c.quoteIdentifier('user_id')}, ${c.quoteIdentifier('ts')}, ${c.quoteIdentifier('clicks')} FROM {{ clicks.v1 }}`,
            resolve: () => CLICKS,
            output: table,
            incremental: { watermarkColumn: 'ts' },
          },
          { until: at(15) },
        ),
      );
      expect(select.parameters).toHaveLength(1);
      await store.executor.createTableAs(table, select, { replace: true });
      await store.executor.createTableAs(table, select, { replace: true });
      expect(canonical(await store.executor.query(compiledQuery(`SELECT ${c.quoteIdentifier('user_id')}, ${c.quoteIdentifier('clicks')} FROM ${c.quoteTable(table)}`)))).toEqual(
        canonical([
          { user_id: 1, clicks: 1 },
          { user_id: 2, clicks: 7 },
          { user_id: 2, clicks: 6 },
          { user_id: 3, clicks: null },
          { user_id: null, clicks: 99 },
          { user_id: 1, clicks: 11 },
        ]),
      );
      await expect(store.executor.createView(view, select)).rejects.toThrow(/inlineParameters/);
      await store.executor.createView(view, compiledQuery(`SELECT * FROM ${c.quoteTable(table)} WHERE ${c.quoteIdentifier('clicks')} > 10`), { replace: true });
      expect(await store.executor.query(compiledQuery(`SELECT COUNT(*) AS ${c.quoteIdentifier('n')} FROM ${c.quoteTable(view)}`))).toEqual([{ n: 2 }]);
      const listed = await store.introspector.listTables();
      expect(listed).toEqual(expect.arrayContaining([
        expect.objectContaining({ name: 'trellis_conf_ctas', type: 'table' }),
        expect.objectContaining({ name: 'trellis_conf_view', type: 'view' }),
      ]));
      await store.executor.dropView(view);
      await store.executor.dropTable(table);
      await store.executor.dropTable(table); // ifExists by default
      await expect(store.executor.dropTable(table, { ifExists: false })).rejects.toThrow();
      const after = (await store.introspector.listTables()).map((t) => t.name);
      expect(after).not.toContain('trellis_conf_ctas');
      expect(after).not.toContain('trellis_conf_view');
    });

    it('introspects tables, queries and missing tables', async () => {
      const columns = await store.introspector.columns(CLICKS);
      expect(columns?.map((col) => col.name)).toEqual(['user_id', 'region', 'ts', 'created', 'clicks']);
      for (const col of columns ?? []) expect(typeof col.type).toBe('string');
      expect(await store.introspector.columns({ name: 'trellis_conf_missing' })).toBeUndefined();
      expect(await missingColumns(store, CLICKS, ['user_id', 'clicks', 'CLICKS', 'nope'])).toEqual(
        store.compiler.caseSensitiveIdentifiers ? ['CLICKS', 'nope'] : ['nope'],
      );
      expect(await missingColumns(store, { name: 'trellis_conf_missing' }, ['x'])).toBeUndefined();
      // A dialect that claims case-insensitive quoted names must resolve a differently-cased one. (The converse
      // is not checked: emulators of case-sensitive engines are often laxer than the engine.)
      if (!store.compiler.caseSensitiveIdentifiers) {
        const upper = await store.executor.query(compiledQuery(`SELECT ${c0(store, 'CLICKS')} FROM ${store.compiler.quoteTable(CLICKS)}`));
        expect(upper).toHaveLength(CLICKS_ROWS.length);
      }
      const c = store.compiler;
      const query = { sql: `SELECT ${c.quoteIdentifier('uid')} AS ${c.quoteIdentifier('k')}, ${c.quoteIdentifier('amount')} FROM ${c.quoteTable(SPEND)}` };
      expect((await store.introspector.columns(query))?.map((col) => col.name)).toEqual(['k', 'amount']);
      await expect(store.introspector.columns({ sql: 'SELECT no_such_column FROM no_such_table' })).rejects.toThrow();
      expect((await store.introspector.listTables()).map((t) => t.name)).toEqual(
        expect.arrayContaining(['trellis_conf_clicks', 'trellis_conf_spend', 'trellis_conf_labels']),
      );
    });

    it('streams rows in batches, stops early and honours abort', async () => {
      const table = { name: 'trellis_conf_stream' };
      const rows = Array.from({ length: 2_500 }, (_, i) => [i] as CompiledParameter[]);
      await store.executor.loadRows(table, [{ name: 'n', type: 'int64' }], rows, { mode: 'replace' });
      const c = store.compiler;
      const query = compiledQuery(`SELECT ${c.quoteIdentifier('n')} FROM ${c.quoteTable(table)} ORDER BY ${c.quoteIdentifier('n')}`);
      const batches = await collect(store.executor.stream<{ n: number }>(query, { batchSize: 1_000 }));
      expect(batches.map((b) => b.length)).toEqual([1_000, 1_000, 500]);
      expect(batches.flat().map((r) => r.n)).toEqual(rows.map((r) => r[0]));

      for await (const batch of store.executor.stream(query, { batchSize: 10 })) {
        expect(batch).toHaveLength(10);
        break; // releases the cursor/connection
      }
      const controller = new AbortController();
      const seen: number[] = [];
      await expect(
        (async () => {
          for await (const batch of store.executor.stream(query, { batchSize: 100, signal: controller.signal })) {
            seen.push(batch.length);
            controller.abort(new Error('enough'));
          }
        })(),
      ).rejects.toThrow('enough');
      expect(seen).toEqual([100]);
      expect(await collect(store.executor.stream(compiledQuery(`${query.sql.replace(' ORDER BY', ' WHERE 1 = 0 ORDER BY')}`)))).toEqual([]);
      // The store still answers after early exits.
      expect(await store.executor.query(compiledQuery(`SELECT COUNT(*) AS ${c.quoteIdentifier('n')} FROM ${c.quoteTable(table)}`))).toEqual([{ n: 2_500 }]);
      await store.executor.dropTable(table);
    });

    it('computes a point-in-time training set exactly', async () => {
      const spec: TrainingSetSpec = { label: LABEL, features: FEATURES };
      const query = store.compiler.compile(planTrainingSet(spec));
      expect(Object.isFrozen(query)).toBe(true);
      const rows = await store.executor.query(query);
      expect(rows).toHaveLength(LABEL_ROWS.length);
      expect(canonical(rows), query.sql).toEqual(canonical(expectedTrainingRows()));
      const streamed = (await collect(store.executor.stream(query, { batchSize: 3 }))).flat();
      expect(canonical(streamed)).toEqual(canonical(expectedTrainingRows()));
    });

    it('joins stream window features over an offline copy as the online tiles compute them', async () => {
      await store.executor.loadRows(EVENTS, EVENTS_COLUMNS, EVENTS_ROWS);
      const source = { relation: EVENTS, timestampColumn: 'ts' };
      const stream = (name: string, fn: StreamWindowFunction, extra: Partial<StreamWindowFeatureSpec> = {}): StreamWindowFeatureSpec => ({
        name, variant: 'v1', source, entityKeyColumns: keys, fn, orderColumns: ['part', 'off'], ...(fn === 'count' ? {} : { column: 'amount' }), ...extra,
      });
      const features = [
        stream('cnt', 'count', { windowMs: 20_000, slideMs: 10_000 }), // evaluated at t* = ⌊t / 10 s⌋·10 s over (t* − 20 s, t*]
        stream('total', 'sum', { windowMs: 10_000 }), // tumbling
        stream('mx', 'max', { windowMs: 20_000, slideMs: 5_000 }),
        stream('lastw', 'last', { windowMs: 20_000, slideMs: 10_000 }),
        stream('latest_stream', 'last', { lagSeconds: 10 }), // unwindowed: every event ≤ t − 10 s
        stream('fresh_stream', 'last', { ttlSeconds: 5 }), // the newest event ≤ t, if at least t − 5 s
      ];
      const rows = await store.executor.query(store.compiler.compile(planTrainingSet({ label: LABEL, features: [FEATURES[0]!, ...features] })));
      // prettier-ignore
      const expected: (number | null)[][] = [
        // cnt total mx    lastw latest fresh
        [4,    7,    5,    null, 5,     4   ], // (1,eu,25): t*=20 → ts 3..19; total (10,20]; mx (5,25]; last (0,20] is ts 19 (null); lag → t 15: the tie at 12 → partition 1; ts 24 ≥ 20
        [4,    4,    5,    4,    null,  null], // (1,eu,30): (10,30]; total (20,30]; lag → t 20: ts 19 (null); ts 24 < 25
        [4,    4,    5,    4,    null,  null], // the duplicate
        [0,    null, 1,    null, null,  null], // (1,eu,9): t*=0 → nothing; mx at t*=5 sees ts 3; ts 3 < 4
        [1,    7,    7,    7,    null,  7   ], // (2,eu,10): ts 8 is inside; lag → t 0
        [0,    null, null, null, null,  null], // (3,us,100)
        [0,    null, null, null, null,  null], // null key
        [0,    null, 11,   null, null,  11  ], // (1,us,15): only mx (t*=15) sees ts 15; fresh at t itself
        [0,    null, null, null, null,  null], // unknown entity
        [0,    null, null, null, null,  null], // no label time
      ];
      expect(canonical(rows)).toEqual(
        canonical(
          expectedTrainingRows().map((row, i) => ({
            user_id: row.user_id, region: row.region, ts: row.ts, latest__v1: row.latest__v1, churn__v1: row.churn__v1,
            ...Object.fromEntries(features.map((f, j) => [`${f.name}__v1`, expected[i]![j]])),
          })),
        ),
      );
      await store.executor.dropTable(EVENTS);
    });

    it('reads a feature from a query relation', async () => {
      const c = store.compiler;
      const relation = { sql: `SELECT * FROM ${c.quoteTable(SPEND)} WHERE ${c.quoteIdentifier('amount')} < 12` };
      const spec: TrainingSetSpec = {
        label: LABEL,
        features: [{ ...FEATURES[5]!, name: 'cheap', source: { relation, timestampColumn: 'event_time' } }],
        keyNames: ['user', 'area'],
        timestampName: 'at',
      };
      const rows = await store.executor.query(store.compiler.compile(planTrainingSet(spec)));
      const byLabel = rows.map((r) => [r.churn__v1, r.cheap__v1]);
      expect(canonical(byLabel.map(([l, v]) => ({ l, v })))).toEqual(
        canonical([[1, 10.5], [2, 10.5], [2, 10.5], [4, null], [5, null], [6, null], [7, null], [8, null], [9, null], [10, null]].map(([l, v]) => ({ l, v }))),
      );
      expect(Object.keys(rows[0] ?? {})).toEqual(['user', 'area', 'at', 'cheap__v1', 'churn__v1']);
    });

    it('materializes the latest value per key, full and incremental', async () => {
      const c = store.compiler;
      const full = await store.executor.query(c.compile(planMaterialization({ feature: FEATURES[0]!, asOf: at(30) })));
      expect(canonical(full)).toEqual(
        canonical([
          { user_id: 1, region: 'eu', latest__v1: 5, __trellis_event_ts: at(30), __trellis_created_ts: at(300) },
          { user_id: 2, region: 'eu', latest__v1: 6, __trellis_event_ts: at(10), __trellis_created_ts: at(50) },
          { user_id: 3, region: 'us', latest__v1: null, __trellis_event_ts: at(5), __trellis_created_ts: at(1) },
          { user_id: 1, region: 'us', latest__v1: 11, __trellis_event_ts: at(15), __trellis_created_ts: at(150) },
        ]),
      );
      const incremental = await store.executor.query(c.compile(planMaterialization({ feature: FEATURES[0]!, asOf: at(25), since: at(15) })));
      expect(canonical(incremental)).toEqual(
        canonical([{ user_id: 1, region: 'eu', latest__v1: 3, __trellis_event_ts: at(20), __trellis_created_ts: at(200) }]),
      );
      const spend = await store.executor.query(c.compile(planMaterialization({ feature: FEATURES[5]!, asOf: at(60) })));
      expect(canonical(spend)).toEqual(
        canonical([
          { uid: 1, area: 'eu', spend__v1: 12.5, __trellis_event_ts: at(22), __trellis_created_ts: null },
          { uid: 2, area: 'eu', spend__v1: 1, __trellis_event_ts: at(11), __trellis_created_ts: null },
        ]),
      );
    });

    it('materializes window aggregations, full and incremental', async () => {
      const c = store.compiler;
      const count = FEATURES[3]!;
      const full = await store.executor.query(c.compile(planMaterialization({ feature: count, asOf: at(30) })));
      expect(canonical(full)).toEqual(
        canonical([
          { user_id: 1, region: 'eu', clicks_10s__v1: 3, __trellis_event_ts: at(30), __trellis_created_ts: null },
          { user_id: 2, region: 'eu', clicks_10s__v1: 0, __trellis_event_ts: null, __trellis_created_ts: null },
          { user_id: 3, region: 'us', clicks_10s__v1: 0, __trellis_event_ts: null, __trellis_created_ts: null },
          { user_id: 1, region: 'us', clicks_10s__v1: 0, __trellis_event_ts: null, __trellis_created_ts: null },
        ]),
      );
      // Since 22: keys with a row in (12, 30] — rows entering or leaving the window.
      const incremental = await store.executor.query(c.compile(planMaterialization({ feature: FEATURES[4]!, asOf: at(30), since: at(22) })));
      expect(canonical(incremental)).toEqual(
        canonical([
          { user_id: 1, region: 'eu', sum_10s__v1: 9, __trellis_event_ts: at(30), __trellis_created_ts: null },
          { user_id: 1, region: 'us', sum_10s__v1: null, __trellis_event_ts: null, __trellis_created_ts: null },
        ]),
      );
    });

    it('keeps hostile identifiers inside their quotes', async () => {
      const hostile = {
        table: 'trellis_conf_x"; DROP TABLE trellis_conf_clicks; --',
        key: 'k`e"y\'; --',
        ts: 'when;--',
        value: 'v"al`ue',
      };
      const table = { name: hostile.table };
      await store.executor.loadRows(
        table,
        [
          { name: hostile.key, type: 'string' },
          { name: hostile.ts, type: 'timestamp' },
          { name: hostile.value, type: 'float64' },
        ],
        [
          ["a'; --", at(1), 1],
          ["a'; --", at(2), 2],
        ],
        { mode: 'replace' },
      );
      const spec: TrainingSetSpec = {
        label: {
          name: 'l"abel',
          variant: "v';--",
          source: { relation: table, timestampColumn: hostile.ts },
          entityKeyColumns: [hostile.key],
          valueColumn: hostile.value,
        },
        features: [
          {
            name: 'f`"; --',
            variant: 'v1',
            source: { relation: table, timestampColumn: hostile.ts },
            entityKeyColumns: [hostile.key],
            valueColumn: hostile.value,
            lagSeconds: 1,
          },
        ],
      };
      const rows = await store.executor.query(store.compiler.compile(planTrainingSet(spec)));
      expect(canonical(rows)).toEqual(
        canonical([
          { [hostile.key]: "a'; --", [hostile.ts]: at(1), 'f`"; --__v1': null, 'l"abel__v\';--': 1 },
          { [hostile.key]: "a'; --", [hostile.ts]: at(2), 'f`"; --__v1': 1, 'l"abel__v\';--': 2 },
        ]),
      );
      expect(await store.introspector.columns(table)).toHaveLength(3);
      expect(await store.introspector.columns(CLICKS)).toBeDefined();
      await store.executor.dropTable(table);
    });

    it('rejects every call after close()', async () => {
      const s = store;
      await s.close();
      await s.close();
      await expect(s.executor.query(compiledQuery('SELECT 1 AS x'))).rejects.toThrow();
      await expect(s.introspector.listTables()).rejects.toThrow();
    });
  });
}


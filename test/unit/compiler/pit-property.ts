/**
 * Property checks shared by the DuckDB (unit) and Postgres (integration) suites: random scenarios are loaded
 * into a real engine through the offline store, the compiled SQL runs there, and the rows must equal the
 * brute-force oracle's row for row.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { planMaterialization } from '../../../src/compiler/plan/plan-materialization.js';
import { planTrainingSet } from '../../../src/compiler/plan/plan-training-set.js';
import type {
  AggregationFunction,
  FeatureSpec,
  MaterializationSpec,
  TrainingSetSpec,
} from '../../../src/compiler/plan/plan-types.js';
import type { ColumnDefinition, CompiledParameter, OfflineStore } from '../../../src/spi/offline-store.js';
import { canonicalRows, oracleMaterialization, oracleTrainingSet, type OracleRow, type Scalar } from './pit-oracle.js';

export const BASE_MS = Date.UTC(2024, 0, 1);
const SECOND = 1000;

export interface FeatureChoice {
  readonly source: number;
  readonly valueColumn: 'v' | 'w';
  readonly ttlSeconds: number | undefined;
  readonly lagSeconds: number | undefined;
  readonly aggregation: { fn: AggregationFunction; column: 'v' | 'w' | undefined; windowSeconds: number } | undefined;
}

export interface SourceChoice {
  readonly rows: OracleRow[];
  readonly hasCreated: boolean;
}

export interface Scenario {
  readonly twoKeys: boolean;
  readonly labels: OracleRow[];
  readonly sources: SourceChoice[];
  readonly features: FeatureChoice[];
  readonly asOfSeconds: number;
  readonly sinceSeconds: number | undefined;
}

const seconds = (max: number) => fc.integer({ min: 0, max });
const ts = (max: number) => fc.option(seconds(max).map((s) => BASE_MS + s * SECOND), { nil: null, freq: 10 });
const k0 = fc.option(fc.integer({ min: 0, max: 2 }), { nil: null, freq: 12 });
const k1 = fc.option(fc.constantFrom('a', 'b', "o'q"), { nil: null, freq: 12 });
const value = fc.option(fc.integer({ min: -4, max: 4 }).map((v) => v / 2), { nil: null, freq: 6 });

const sourceRow: fc.Arbitrary<OracleRow> = fc.record({
  k0,
  k1,
  ts: ts(20),
  cr: fc.option(seconds(3).map((s) => BASE_MS + s * SECOND), { nil: null, freq: 4 }),
  v: value,
  w: value,
});

/**
 * Source rows plus near-copies of some of them (same keys and ts; same or other created ts; other values), so
 * ties on (keys, ts) and (keys, ts, created) are frequent.
 */
const sourceRows: fc.Arbitrary<OracleRow[]> = fc
  .tuple(
    fc.array(sourceRow, { maxLength: 24 }),
    fc.array(fc.record({ pick: fc.nat(), sameCreated: fc.boolean(), v: value, w: value }), { maxLength: 10 }),
  )
  .map(([rows, copies]) =>
    rows.length === 0
      ? rows
      : [
          ...rows,
          ...copies.map(({ pick, sameCreated, v, w }) => {
            const original = rows[pick % rows.length] as OracleRow;
            return { ...original, v, w, cr: sameCreated ? original.cr : null };
          }),
        ],
  );

const labelRow: fc.Arbitrary<OracleRow> = fc.record({ k0, k1, ts: ts(24), y: value });

const feature = (sourceCount: number): fc.Arbitrary<FeatureChoice> =>
  fc.record({
    source: fc.integer({ min: 0, max: sourceCount - 1 }),
    valueColumn: fc.constantFrom('v' as const, 'w' as const),
    ttlSeconds: fc.option(fc.constantFrom(0, 1, 2, 5), { nil: undefined, freq: 2 }),
    lagSeconds: fc.option(fc.constantFrom(0, 1, 3), { nil: undefined, freq: 2 }),
    aggregation: fc.option(
      fc.record({
        fn: fc.constantFrom<AggregationFunction>('count', 'sum', 'avg', 'min', 'max'),
        column: fc.constantFrom('v' as const, 'w' as const, undefined),
        windowSeconds: fc.constantFrom(1, 2, 5),
      }),
      { nil: undefined, freq: 3 },
    ),
  }).map((f) =>
    f.aggregation === undefined
      ? f
      : {
          ...f,
          ttlSeconds: undefined,
          aggregation: { ...f.aggregation, column: f.aggregation.fn === 'count' ? f.aggregation.column : (f.aggregation.column ?? 'v') },
        },
  );

/** Labels with deliberate exact duplicates appended. */
const labels = fc
  .tuple(fc.array(labelRow, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 4 }))
  .map(([rows, dupes]) => (rows.length === 0 ? rows : [...rows, ...dupes.map((d) => rows[d % rows.length] as OracleRow)]));

export const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.integer({ min: 1, max: 3 }).chain((sourceCount) =>
  fc.record({
    twoKeys: fc.boolean(),
    labels,
    sources: fc.array(
      fc.record({
        // Some sources are empty; others have many rows on few keys and timestamps (ties).
        rows: fc.oneof({ arbitrary: fc.constant([] as OracleRow[]), weight: 1 }, { arbitrary: sourceRows, weight: 6 }),
        hasCreated: fc.boolean(),
      }),
      { minLength: sourceCount, maxLength: sourceCount },
    ),
    features: fc.array(feature(sourceCount), { minLength: 1, maxLength: 5 }),
    asOfSeconds: seconds(22),
    sinceSeconds: fc.option(seconds(22), { nil: undefined }),
  }),
);

export interface ScenarioTables {
  readonly labels: string;
  readonly source: (i: number) => string;
}

const SOURCE_COLUMNS: ColumnDefinition[] = [
  { name: 'k0', type: 'int64' },
  { name: 'k1', type: 'string' },
  { name: 'ts', type: 'timestamp' },
  { name: 'cr', type: 'timestamp' },
  { name: 'v', type: 'float64' },
  { name: 'w', type: 'float64' },
];
const LABEL_COLUMNS: ColumnDefinition[] = [
  { name: 'k0', type: 'int64' },
  { name: 'k1', type: 'string' },
  { name: 'ts', type: 'timestamp' },
  { name: 'y', type: 'float64' },
];

function toParameters(row: OracleRow, columns: readonly ColumnDefinition[]): CompiledParameter[] {
  return columns.map((c) => {
    const v = row[c.name] ?? null;
    return c.type === 'timestamp' && v !== null ? new Date(v as number) : (v as CompiledParameter);
  });
}

export async function loadScenario(store: OfflineStore, scenario: Scenario, tables: ScenarioTables): Promise<void> {
  await store.executor.loadRows(
    { name: tables.labels },
    LABEL_COLUMNS,
    scenario.labels.map((r) => toParameters(r, LABEL_COLUMNS)),
    { mode: 'replace' },
  );
  for (const [i, source] of scenario.sources.entries()) {
    await store.executor.loadRows(
      { name: tables.source(i) },
      SOURCE_COLUMNS,
      source.rows.map((r) => toParameters(r, SOURCE_COLUMNS)),
      { mode: 'replace' },
    );
  }
}

function keyColumns(scenario: Scenario): string[] {
  return scenario.twoKeys ? ['k0', 'k1'] : ['k0'];
}

export function featureSpecs(scenario: Scenario, tables: ScenarioTables): FeatureSpec[] {
  return scenario.features.map((f, i) => {
    const source = scenario.sources[f.source];
    return {
      name: `f${i}`,
      variant: 'v1',
      source: {
        relation: { name: tables.source(f.source) },
        timestampColumn: 'ts',
        ...(source?.hasCreated ? { createdTimestampColumn: 'cr' } : {}),
      },
      entityKeyColumns: keyColumns(scenario),
      valueColumn: f.valueColumn,
      ...(f.ttlSeconds === undefined ? {} : { ttlSeconds: f.ttlSeconds }),
      ...(f.lagSeconds === undefined ? {} : { lagSeconds: f.lagSeconds }),
      ...(f.aggregation === undefined
        ? {}
        : {
            aggregation: {
              fn: f.aggregation.fn,
              windowSeconds: f.aggregation.windowSeconds,
              ...(f.aggregation.column === undefined ? {} : { column: f.aggregation.column }),
            },
          }),
    };
  });
}

export function trainingSetSpec(scenario: Scenario, tables: ScenarioTables): TrainingSetSpec {
  return {
    label: {
      name: 'target',
      variant: 'default',
      source: { relation: { name: tables.labels }, timestampColumn: 'ts' },
      entityKeyColumns: keyColumns(scenario),
      valueColumn: 'y',
    },
    features: featureSpecs(scenario, tables),
  };
}

function oracleTables(scenario: Scenario, tables: ScenarioTables): Map<string, readonly OracleRow[]> {
  return new Map<string, readonly OracleRow[]>([
    [tables.labels, scenario.labels],
    ...scenario.sources.map((s, i) => [tables.source(i), s.rows] as [string, readonly OracleRow[]]),
  ]);
}

/** Runs the compiled training set on `store` and compares it with the oracle, row for row. */
export async function checkTrainingSet(store: OfflineStore, scenario: Scenario, tables: ScenarioTables): Promise<void> {
  const spec = trainingSetSpec(scenario, tables);
  const query = store.compiler.compile(planTrainingSet(spec));
  const actual = await store.executor.query(query);
  const expected = oracleTrainingSet(oracleTables(scenario, tables), spec);
  expect(actual.length, query.sql).toBe(scenario.labels.length);
  expect(canonicalRows(actual), query.sql).toEqual(canonicalRows(expected));
}

/** Runs the compiled materialization of every scenario feature on `store` against the oracle. */
export async function checkMaterializations(store: OfflineStore, scenario: Scenario, tables: ScenarioTables): Promise<void> {
  const asOf = new Date(BASE_MS + scenario.asOfSeconds * SECOND);
  const since =
    scenario.sinceSeconds === undefined || scenario.sinceSeconds > scenario.asOfSeconds
      ? undefined
      : new Date(BASE_MS + scenario.sinceSeconds * SECOND);
  for (const feature of featureSpecs(scenario, tables)) {
    const spec: MaterializationSpec = { feature, asOf, ...(since === undefined ? {} : { since }) };
    const query = store.compiler.compile(planMaterialization(spec));
    const actual = await store.executor.query(query);
    const expected = oracleMaterialization(oracleTables(scenario, tables), spec);
    expect(canonicalRows(actual), query.sql).toEqual(canonicalRows(expected));
  }
}

/** Readable counterexample for fast-check reports. */
export function describeScenario(scenario: Scenario): string {
  const t = (v: Scalar) => (typeof v === 'number' && v >= BASE_MS ? `+${(v - BASE_MS) / SECOND}s` : JSON.stringify(v));
  const rows = (rs: readonly OracleRow[]) => rs.map((r) => `{${Object.entries(r).map(([k, v]) => `${k}:${t(v)}`).join(' ')}}`).join(', ');
  return [
    `twoKeys=${scenario.twoKeys} asOf=+${scenario.asOfSeconds}s since=${scenario.sinceSeconds ?? '-'}`,
    `labels: ${rows(scenario.labels)}`,
    ...scenario.sources.map((s, i) => `source ${i} (created=${s.hasCreated}): ${rows(s.rows)}`),
    ...scenario.features.map((f, i) => `feature f${i}: ${JSON.stringify(f)}`),
  ].join('\n');
}

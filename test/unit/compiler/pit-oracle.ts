/**
 * A brute-force TypeScript oracle of the point-in-time contract (ARCHITECTURE.md, src/compiler/plan/
 * point-in-time-contract.ts): nested loops over plain rows, no cleverness, so it can be trusted.
 *
 * Tables are arrays of plain objects: timestamps as epoch milliseconds (or null), keys and values as numbers,
 * strings or null. Values are compared numerically when both are numbers, otherwise as strings (tests keep
 * values numeric so the engines' string collations never matter).
 */
import type {
  FeatureSpec,
  MaterializationSpec,
  Relation,
  TrainingSetSpec,
} from '../../../src/compiler/plan/plan-types.js';

export type Scalar = number | string | null;
export type OracleRow = Readonly<Record<string, Scalar>>;
export type OracleTables = ReadonlyMap<string, readonly OracleRow[]>;

function tableOf(tables: OracleTables, relation: Relation): readonly OracleRow[] {
  if ('sql' in relation) throw new Error('the oracle reads tables only');
  const rows = tables.get(relation.name);
  if (rows === undefined) throw new Error(`oracle: no table ${relation.name}`);
  return rows;
}

function get(row: OracleRow, column: string): Scalar {
  const value = row[column];
  if (value === undefined) throw new Error(`oracle: row has no column ${column}`);
  return value;
}

/** SQL equality of key tuples: a null on either side never matches. */
function keysEqual(a: readonly Scalar[], b: readonly Scalar[]): boolean {
  return a.length === b.length && a.every((v, i) => v !== null && b[i] !== null && v === b[i]);
}

/** Compares two non-null scalars. */
function compare(a: Exclude<Scalar, null>, b: Exclude<Scalar, null>): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Descending with NULL lowest: positive when `a` should come after `b`. */
function descNullsLast(a: Scalar, b: Scalar): number {
  if (a === null && b === null) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return -compare(a, b);
}

const SECOND = 1000;

/** The winner among candidate rows by the contract's ordering, or undefined. */
export function latestRow(rows: readonly OracleRow[], ts: string, created: string | undefined, value: string): OracleRow | undefined {
  const sorted = [...rows].sort(
    (a, b) =>
      descNullsLast(get(a, ts), get(b, ts)) ||
      (created === undefined ? 0 : descNullsLast(get(a, created), get(b, created))) ||
      descNullsLast(get(a, value), get(b, value)),
  );
  return sorted[0];
}

export function aggregate(fn: NonNullable<FeatureSpec['aggregation']>['fn'], rows: readonly OracleRow[], column: string | undefined): Scalar {
  if (fn === 'count') return column === undefined ? rows.length : rows.filter((r) => get(r, column) !== null).length;
  if (column === undefined) throw new Error(`oracle: ${fn} needs a column`);
  const values = rows.map((r) => get(r, column)).filter((v): v is number => v !== null) as number[];
  if (values.length === 0) return null;
  switch (fn) {
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'min':
      return Math.min(...values);
    case 'max':
      return Math.max(...values);
  }
}

function featureValue(tables: OracleTables, feature: FeatureSpec, keys: readonly Scalar[], t: number | null): Scalar {
  const rows = tableOf(tables, feature.source.relation);
  const tsColumn = feature.source.timestampColumn;
  const lag = (feature.lagSeconds ?? 0) * SECOND;
  const sameKey = rows.filter((r) => keysEqual(feature.entityKeyColumns.map((c) => get(r, c)), keys));
  if (feature.aggregation !== undefined) {
    const window = feature.aggregation.windowSeconds * SECOND;
    const inWindow =
      t === null
        ? []
        : sameKey.filter((r) => {
            const ts = get(r, tsColumn) as number | null;
            return ts !== null && ts > t - lag - window && ts <= t - lag;
          });
    return aggregate(feature.aggregation.fn, inWindow, feature.aggregation.column);
  }
  if (t === null) return null;
  const ttl = feature.ttlSeconds === undefined ? undefined : feature.ttlSeconds * SECOND;
  const candidates = sameKey.filter((r) => {
    const ts = get(r, tsColumn) as number | null;
    return ts !== null && ts <= t - lag && (ttl === undefined || ts >= t - lag - ttl);
  });
  const winner = latestRow(candidates, tsColumn, feature.source.createdTimestampColumn, feature.valueColumn);
  return winner === undefined ? null : get(winner, feature.valueColumn);
}

/** The expected training set: one row per label row, keyed by the plan's output column names. */
export function oracleTrainingSet(tables: OracleTables, spec: TrainingSetSpec): Record<string, Scalar>[] {
  const label = spec.label;
  const keyNames = spec.keyNames ?? label.entityKeyColumns;
  const timestampName = spec.timestampName ?? label.source.timestampColumn;
  return tableOf(tables, label.source.relation).map((row) => {
    const keys = label.entityKeyColumns.map((c) => get(row, c));
    const t = get(row, label.source.timestampColumn) as number | null;
    const out: Record<string, Scalar> = {};
    keyNames.forEach((name, i) => {
      out[name] = keys[i] ?? null;
    });
    out[timestampName] = t;
    for (const feature of spec.features) out[`${feature.name}__${feature.variant}`] = featureValue(tables, feature, keys, t);
    out[`${label.name}__${label.variant}`] = get(row, label.valueColumn);
    return out;
  });
}

/** The expected materialization rows (see `MaterializationSpec`). */
export function oracleMaterialization(tables: OracleTables, spec: MaterializationSpec): Record<string, Scalar>[] {
  const feature = spec.feature;
  const rows = tableOf(tables, feature.source.relation);
  const tsColumn = feature.source.timestampColumn;
  const asOf = spec.asOf.getTime();
  const windowMs = feature.aggregation === undefined ? 0 : feature.aggregation.windowSeconds * SECOND;
  const lower = spec.since === undefined ? undefined : spec.since.getTime() - windowMs;
  const eligible = rows.filter((r) => {
    const ts = get(r, tsColumn) as number | null;
    return (
      ts !== null &&
      ts <= asOf &&
      (lower === undefined || ts > lower) &&
      feature.entityKeyColumns.every((c) => get(r, c) !== null)
    );
  });
  const byKey = new Map<string, OracleRow[]>();
  for (const r of eligible) {
    const key = JSON.stringify(feature.entityKeyColumns.map((c) => get(r, c)));
    byKey.set(key, [...(byKey.get(key) ?? []), r]);
  }
  const out: Record<string, Scalar>[] = [];
  for (const [key, keyed] of byKey) {
    const keys = JSON.parse(key) as Scalar[];
    const row: Record<string, Scalar> = {};
    feature.entityKeyColumns.forEach((c, i) => {
      row[c] = keys[i] ?? null;
    });
    const name = `${feature.name}__${feature.variant}`;
    if (feature.aggregation !== undefined) {
      // Keys come from all rows in (since − window, asOf]; the value from (asOf − window, asOf] over all rows.
      const allSameKey = rows.filter((r) => keysEqual(feature.entityKeyColumns.map((c) => get(r, c)), keys));
      const inWindow = allSameKey.filter((r) => {
        const ts = get(r, tsColumn) as number | null;
        return ts !== null && ts > asOf - windowMs && ts <= asOf;
      });
      row[name] = aggregate(feature.aggregation.fn, inWindow, feature.aggregation.column);
      const latest = inWindow.map((r) => get(r, tsColumn) as number).reduce<number | null>((a, b) => (a === null || b > a ? b : a), null);
      row.__trellis_event_ts = latest;
      row.__trellis_created_ts = null;
    } else {
      const since = spec.since?.getTime();
      const winner = latestRow(
        since === undefined ? keyed : keyed.filter((r) => (get(r, tsColumn) as number) > since),
        tsColumn,
        feature.source.createdTimestampColumn,
        feature.valueColumn,
      );
      if (winner === undefined) continue;
      row[name] = get(winner, feature.valueColumn);
      row.__trellis_event_ts = get(winner, tsColumn);
      row.__trellis_created_ts =
        feature.source.createdTimestampColumn === undefined ? null : get(winner, feature.source.createdTimestampColumn);
    }
    out.push(row);
  }
  return out;
}

/**
 * Canonical form for row-for-row comparison: Dates → epoch ms, numeric strings (exact decimals, big integers)
 * → numbers, floats rounded to 9 significant digits; rows sorted by their JSON.
 */
export function canonicalRows(rows: readonly Record<string, unknown>[]): string[] {
  return rows
    .map((row) =>
      JSON.stringify(
        Object.keys(row)
          .sort()
          .map((k) => [k, canonicalValue(row[k])]),
      ),
    )
    .sort();
}

export function canonicalValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number') return Number.isInteger(value) ? value : Number(value.toPrecision(9));
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return canonicalValue(Number(value));
  return value;
}

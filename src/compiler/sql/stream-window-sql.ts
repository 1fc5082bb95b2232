/**
 * SQL of stream window plans (plan-stream-window.ts) for any built-in dialect, written with the dialect compiler's
 * quoting. Time is compared in epoch milliseconds (the unit of the tiles), so the slide snapping
 * `t* = ⌊t / s⌋·s` is plain arithmetic; only the epoch conversion, the double type and a timestamp cast differ per
 * dialect. Tested on DuckDB and Postgres (test/integration/streaming-backfill.test.ts).
 */
import type { StreamWindowJoin, StreamWindowPlan } from '../plan/plan-stream-window.js';
import { isQueryRelation, type Relation } from '../plan/plan-types.js';
import { compiledQuery, type CompiledQuery } from './compiled-query.js';
import type { Dialect } from './dialect.js';
import type { SqlCompiler } from './sql-compiler.js';

interface DialectTime {
  /** Epoch milliseconds of a timestamp expression (a number type). */
  epochMs(expr: string): string;
  readonly double: string;
  /** An ISO-8601 instant literal as a timestamp. */
  instant(literal: string): string;
}

/** Per-dialect time arithmetic of stream windows (epoch ms, the tiles' unit). */
export const STREAM_TIME = {
  postgres: { epochMs: (e) => `(EXTRACT(EPOCH FROM ${e}) * 1000)`, double: 'DOUBLE PRECISION', instant: (l) => `CAST(${l} AS TIMESTAMPTZ)` },
  duckdb: { epochMs: (e) => `epoch_ms(${e})`, double: 'DOUBLE', instant: (l) => `CAST(${l} AS TIMESTAMPTZ)` },
  snowflake: { epochMs: (e) => `DATE_PART(EPOCH_MILLISECOND, ${e})`, double: 'DOUBLE', instant: (l) => `TO_TIMESTAMP_TZ(${l})` },
  bigquery: { epochMs: (e) => `UNIX_MILLIS(CAST(${e} AS TIMESTAMP))`, double: 'FLOAT64', instant: (l) => `TIMESTAMP(${l})` },
} as const satisfies Record<Dialect, DialectTime>;

/**
 * Compiles a stream window plan to one SELECT (no parameters: the only values are whole numbers of ms and, for an
 * `asOf` spine, one timestamp literal). Output columns in `plan.columns` order, rows in no particular order; one
 * row per spine row (relation spines, duplicates kept) or per key (`asOf`).
 */
export function compileStreamWindow(compiler: SqlCompiler, plan: StreamWindowPlan): CompiledQuery {
  const q = (name: string) => compiler.quoteIdentifier(name);
  const time: DialectTime = STREAM_TIME[compiler.dialect];
  const relation = (r: Relation) => relationSql(compiler, r);
  const col = (alias: string, column: string) => `${q(alias)}.${q(column)}`;
  const keyCount = plan.keyOutputNames.length;
  const key = (i: number) => `__k${i}`;

  // The spine: row id, keys, the time (as output and in epoch ms), the label.
  let spineSelect: string;
  if (plan.spine.kind === 'relation') {
    const { keyColumns, timestampColumn, valueColumn } = plan.spine;
    spineSelect =
      `SELECT ${keyColumns.map((k, i) => `${col('l', k)} AS ${q(key(i))}`).join(', ')}, ` +
      `${col('l', timestampColumn)} AS ${q('__ts')}, ${time.epochMs(col('l', timestampColumn))} AS ${q('__ms')}` +
      `${valueColumn === undefined ? '' : `, ${col('l', valueColumn)} AS ${q('__label')}`}\n  FROM ${relation(plan.spine.relation)} AS ${q('l')}`;
  } else {
    const asOfMs = plan.spine.asOf.getTime();
    const keySets = plan.features.map(
      (f) =>
        `SELECT ${f.source.keyColumns.map((k, i) => `${col('r', k)} AS ${q(key(i))}`).join(', ')} FROM ${relation(f.source.relation)} AS ${q('r')}` +
        ` WHERE ${time.epochMs(col('r', f.source.timestampColumn))} <= ${asOfMs}${f.source.keyColumns.map((k) => ` AND ${col('r', k)} IS NOT NULL`).join('')}`,
    );
    spineSelect =
      `SELECT ${Array.from({ length: keyCount }, (_, i) => col('u', key(i))).join(', ')}, ` +
      `${time.instant(compiler.stringLiteral(plan.spine.asOf.toISOString()))} AS ${q('__ts')}, ${asOfMs} AS ${q('__ms')}\n` +
      `  FROM (${keySets.join('\n    UNION\n    ')}) AS ${q('u')}`;
  }

  const ctes = [`${q('__spine')} AS (\n  ${spineSelect}\n)`];
  const joins: string[] = [];
  const outputs = plan.features.map((feature, index) => {
    const name = q(`__f${index}`);
    ctes.push(`${name} AS (\n${streamWindowFeatureSql(compiler, feature, keyCount, STANDALONE_NAMES)}\n)`);
    const on = [...Array.from({ length: keyCount }, (_, i) => `${col(`f${index}`, key(i))} = ${col('s', key(i))}`), `${col(`f${index}`, '__ms')} = ${col('s', '__ms')}`];
    joins.push(`LEFT JOIN ${name} AS ${q(`f${index}`)} ON ${on.join(' AND ')}`);
    const value = col(`f${index}`, '__v');
    return `${feature.fn === 'count' ? `COALESCE(${value}, 0)` : value} AS ${q(feature.outputName)}`;
  });
  const select = [
    ...plan.keyOutputNames.map((n, i) => `${col('s', key(i))} AS ${q(n)}`),
    `${col('s', '__ts')} AS ${q(plan.timestampOutputName)}`,
    ...outputs,
    ...(plan.spine.kind === 'relation' && plan.spine.valueColumn !== undefined ? [`${col('s', '__label')} AS ${q(plan.spine.valueColumn)}`] : []),
  ];
  const sql = [`WITH ${ctes.join(',\n')}`, `SELECT ${select.join(',\n  ')}`, `FROM ${q('__spine')} AS ${q('s')}`, ...joins].join('\n');
  return compiledQuery(sql);
}

const relationSql = (compiler: SqlCompiler, r: Relation) => (isQueryRelation(r) ? `(\n${r.sql.trim().replace(/;\s*$/, '')}\n)` : compiler.quoteTable(r));

/** Names of the spine CTE and its columns a stream window feature reads (and of the value column it outputs). */
export interface StreamSpineNames {
  readonly spine: string;
  readonly key: (i: number) => string;
  /** The spine time in epoch ms. */
  readonly ms: string;
  readonly value: string;
}

const STANDALONE_NAMES: StreamSpineNames = { spine: '__spine', key: (i) => `__k${i}`, ms: '__ms', value: '__v' };

/**
 * One feature's value per distinct spine point: `(key columns…, ms, value)` for the points whose window holds a row,
 * evaluated `lagMs` before the point. Joined back on keys and time (not on a row number: engines may evaluate a CTE
 * once per reference, and an unordered ROW_NUMBER() need not repeat itself).
 */
export function streamWindowFeatureSql(compiler: SqlCompiler, f: StreamWindowJoin, keyCount: number, names: StreamSpineNames): string {
  const time: DialectTime = STREAM_TIME[compiler.dialect];
  const relation = (r: Relation) => relationSql(compiler, r);
  const q = (name: string) => compiler.quoteIdentifier(name);
  const col = (alias: string, column: string) => `${q(alias)}.${q(column)}`;
  const ts = time.epochMs(col('r', f.source.timestampColumn));
  const keyName = names.key;
  const spineMs = f.lagMs > 0 ? `(${col('s', names.ms)} - ${f.lagMs})` : col('s', names.ms);
  const conditions = f.source.keyColumns.map((k, i) => `${col('r', k)} = ${col('s', keyName(i))}`);
  if (f.windowMs === null || f.slideMs === null) {
    conditions.push(`${ts} <= ${spineMs}`);
  } else {
    // t* = ⌊t / s⌋·s; the window is t* − w < ts ≤ t*.
    const end = `(FLOOR(${spineMs} / ${f.slideMs}) * ${f.slideMs})`;
    conditions.push(`${ts} > ${end} - ${f.windowMs}`, `${ts} <= ${end}`);
  }
  // ttl of `last`: the newest row is the one served, so bounding every row by it changes nothing else.
  if (f.ttlMs !== null) conditions.push(`${ts} >= ${spineMs} - ${f.ttlMs}`);
  const point = [...Array.from({ length: keyCount }, (_, i) => col('s', keyName(i))), col('s', names.ms)];
  const pointOut = [...Array.from({ length: keyCount }, (_, i) => `${col('s', keyName(i))} AS ${q(keyName(i))}`), `${col('s', names.ms)} AS ${q(names.ms)}`].join(', ');
  const points = `(SELECT DISTINCT ${Array.from({ length: keyCount }, (_, i) => q(keyName(i))).join(', ')}, ${q(names.ms)} FROM ${q(names.spine)})`;
  const from = `  FROM ${points} AS ${q('s')}\n  JOIN ${relation(f.source.relation)} AS ${q('r')}\n    ON ${conditions.join('\n    AND ')}`;
  const arg = f.column === undefined ? undefined : col('r', f.column);
  if (f.fn === 'last') {
    const order = [`${col('r', f.source.timestampColumn)} DESC`, ...f.orderColumns.map((c) => `${col('r', c)} DESC`)].join(', ');
    const outer = [...Array.from({ length: keyCount }, (_, i) => q(keyName(i))), q(names.ms), q(names.value)].join(', ');
    return (
      `  SELECT ${outer} FROM (\n  SELECT ${pointOut}, ${arg} AS ${q(names.value)}, ` +
      `ROW_NUMBER() OVER (PARTITION BY ${point.join(', ')} ORDER BY ${order}) AS ${q('__rank')}\n${from}\n  ) AS ${q('x')} WHERE ${q('__rank')} = 1`
    );
  }
  const aggregate = {
    count: `COUNT(${arg ?? '*'})`,
    sum: `SUM(${arg})`,
    avg: `CAST(AVG(${arg}) AS ${time.double})`,
    min: `MIN(${arg})`,
    max: `MAX(${arg})`,
  }[f.fn];
  return `  SELECT ${pointOut}, ${aggregate} AS ${q(names.value)}\n${from}\n  GROUP BY ${point.join(', ')}`;
}

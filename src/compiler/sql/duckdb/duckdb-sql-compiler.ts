import type { LatestValueJoin, MaterializationPlan } from '../../plan/plan-nodes.js';
import type { ColumnType } from '../column-type.js';
import { DefaultSqlCompiler, INTERNAL, type ParameterSink } from '../default-sql-compiler.js';

const DUCKDB_TYPES = {
  string: 'VARCHAR',
  int64: 'BIGINT',
  float64: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  timestamptz: 'TIMESTAMPTZ',
  date: 'DATE',
} as const satisfies Record<ColumnType, string>;

/**
 * DuckDB: the default compiler's exact ASOF form (`supportsAsofJoin`, see `compileAsofJoins`) with struct
 * tie-break keys; window aggregations use the default range join; materialization a `max(struct)` per key.
 */
export class DuckDbSqlCompiler extends DefaultSqlCompiler {
  readonly dialect = 'duckdb' as const;
  override readonly caseSensitiveIdentifiers = false;
  protected override readonly maxIdentifierBytes = 4096;

  protected override columnTypeSql(type: ColumnType): string {
    return DUCKDB_TYPES[type];
  }

  protected override timestampMinusSeconds(expr: string, seconds: number): string {
    if (seconds === 0) return expr;
    return `(${expr} - INTERVAL ${seconds} SECOND)`;
  }

  protected override readonly supportsAsofJoin = true;

  /** `{'cn', 'c', 'vn', 'v'}`: DuckDB compares struct fields in order with NULL highest, hence the flags. */
  protected override tieBreakKey(created: string | undefined, value: string): string {
    return created === undefined
      ? `{'vn': ${value} IS NOT NULL, 'v': ${value}}`
      : `{'cn': ${created} IS NOT NULL, 'c': ${created}, 'vn': ${value} IS NOT NULL, 'v': ${value}}`;
  }

  protected override tieBreakKeyValue(key: string): string {
    return `${key}['v']`;
  }

  protected override compileLatestPerKey(plan: MaterializationPlan, feature: LatestValueJoin, params: ParameterSink): string {
    const r = this.quoteIdentifier('r');
    const w = this.quoteIdentifier('w');
    const source = feature.source;
    const asOf = params.add(plan.asOf);
    const since = plan.since === undefined ? undefined : params.add(plan.since);
    const keys = source.keyColumns.map((k) => this.col(r, k));
    const ts = this.col(r, source.timestampColumn);
    const v = this.col(r, feature.valueColumn);
    const c = source.createdTimestampColumn === undefined ? undefined : this.col(r, source.createdTimestampColumn);
    const struct =
      c === undefined
        ? `{'t': ${ts}, 'vn': ${v} IS NOT NULL, 'v': ${v}}`
        : `{'t': ${ts}, 'cn': ${c} IS NOT NULL, 'c': ${c}, 'vn': ${v} IS NOT NULL, 'v': ${v}}`;
    const latest = this.quoteIdentifier('latest');
    return [
      `SELECT ${this.materializationOutput(
        plan,
        source.keyColumns.map((_, i) => this.col(w, INTERNAL.key(i))),
        `${this.col(w, 'latest')}['v']`,
        `${this.col(w, 'latest')}['t']`,
        c === undefined ? this.nullTimestamp() : `${this.col(w, 'latest')}['c']`,
      )}`,
      `FROM (\n  SELECT ${[...keys.map((k, i) => `${k} AS ${this.quoteIdentifier(INTERNAL.key(i))}`), `max(${struct}) AS ${latest}`].join(', ')}`,
      `  FROM ${this.relationSql(source.relation)} AS ${r}`,
      `  WHERE ${this.materializationFilters(r, source, asOf, since).join(' AND ')}`,
      `  GROUP BY ${keys.join(', ')}\n) AS ${w}`,
    ].join('\n');
  }
}


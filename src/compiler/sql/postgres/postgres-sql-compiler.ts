import { createHash } from 'node:crypto';
import { invalidDefinition } from '../../../errors/trellis-error.js';
import type { LatestValueJoin, MaterializationPlan, WindowAggregateJoin } from '../../plan/plan-nodes.js';
import { isQueryRelation } from '../../plan/plan-types.js';
import { compiledQuery, type CompiledQuery } from '../compiled-query.js';
import type { ColumnType } from '../column-type.js';
import {
  DefaultSqlCompiler,
  INTERNAL,
  type FeatureJoinSql,
  type ParameterSink,
  type TrainingSetContext,
} from '../default-sql-compiler.js';

const POSTGRES_TYPES = {
  string: 'text',
  int64: 'bigint',
  float64: 'double precision',
  boolean: 'boolean',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  date: 'date',
} as const satisfies Record<ColumnType, string>;

/**
 * Postgres: `LEFT JOIN LATERAL (… ORDER BY ts DESC, created DESC NULLS LAST, value DESC NULLS LAST LIMIT 1)`
 * per feature — one index probe per spine row — and `DISTINCT ON` for materialization.
 *
 * Index: with `(keys…, ts)` Postgres probes the index and adds a tiny incremental sort per spine row for the
 * tie-breaks; with the index of `compilePointInTimeIndex` — `(keys…, ts, created NULLS FIRST, value NULLS FIRST)`,
 * whose backward scan is exactly the contract's order — the lookup is a bare index-only scan, the same plan as
 * a hand-written `ORDER BY ts DESC LIMIT 1`.
 */
export class PostgresSqlCompiler extends DefaultSqlCompiler {
  readonly dialect = 'postgres' as const;
  /** Postgres truncates identifiers to 63 bytes (NAMEDATALEN − 1); longer ones could silently collide. */
  protected override readonly maxIdentifierBytes = 63;
  /** The protocol allows 65 535 parameters per statement. */
  override readonly maxParameters = 65_000;
  protected override readonly supportsCreateOrReplaceTable = false;

  protected override columnTypeSql(type: ColumnType): string {
    return POSTGRES_TYPES[type];
  }

  /** With `standard_conforming_strings = off` a backslash would escape: use an `E''` literal then. */
  override stringLiteral(value: string): string {
    if (!value.includes('\\')) return super.stringLiteral(value);
    return `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  }

  protected override timestampMinusSeconds(expr: string, seconds: number): string {
    if (seconds === 0) return expr;
    return `(${expr} - INTERVAL '${seconds} seconds')`;
  }

  /**
   * `CREATE INDEX IF NOT EXISTS` the index that makes a latest-value lookup an index-only backward scan:
   * `(keys…, ts, created NULLS FIRST, value NULLS FIRST)`. The name is `trellis_pit_<hash>` of the columns.
   * Only for table sources (a query relation cannot be indexed).
   */
  compilePointInTimeIndex(feature: Pick<LatestValueJoin, 'source' | 'valueColumn'>): CompiledQuery {
    const { source } = feature;
    if (isQueryRelation(source.relation)) throw invalidDefinition('/source/relation', 'a query relation cannot be indexed');
    const columns = [
      ...source.keyColumns.map((k) => this.quoteIdentifier(k)),
      this.quoteIdentifier(source.timestampColumn),
      ...(source.createdTimestampColumn === undefined ? [] : [`${this.quoteIdentifier(source.createdTimestampColumn)} NULLS FIRST`]),
      `${this.quoteIdentifier(feature.valueColumn)} NULLS FIRST`,
    ];
    const hash = createHash('sha256').update(JSON.stringify([source.relation, columns])).digest('hex').slice(0, 20);
    return compiledQuery(
      `CREATE INDEX IF NOT EXISTS ${this.quoteIdentifier(`trellis_pit_${hash}`)} ON ${this.quoteTable(source.relation)} (${columns.join(', ')})`,
    );
  }

  protected override compileLatestValueJoins(
    ctx: TrainingSetContext,
    group: readonly { feature: LatestValueJoin; index: number }[],
  ): FeatureJoinSql {
    const s = ctx.spineAlias;
    const r = this.quoteIdentifier('r');
    const joins: string[] = [];
    const selects = new Map<number, string>();
    for (const { feature, index } of group) {
      const alias = this.quoteIdentifier(`f${index}`);
      joins.push(
        `LEFT JOIN LATERAL (\n  SELECT ${this.col(r, feature.valueColumn)} AS ${this.quoteIdentifier(INTERNAL.value)}\n` +
          `  FROM ${this.relationSql(feature.source.relation)} AS ${r}\n` +
          `  WHERE ${this.latestValueConditions(s, r, feature).join('\n    AND ')}\n` +
          `  ORDER BY ${this.latestOrderTerms(r, feature.source, feature.valueColumn).join(', ')}\n` +
          `  LIMIT 1\n) AS ${alias} ON TRUE`,
      );
      selects.set(index, this.col(alias, INTERNAL.value));
    }
    return { ctes: [], join: joins.join('\n'), selects, needsRowId: false };
  }

  protected override compileWindowAggregateJoin(
    ctx: TrainingSetContext,
    feature: WindowAggregateJoin,
    index: number,
  ): FeatureJoinSql {
    const s = ctx.spineAlias;
    const r = this.quoteIdentifier('r');
    const alias = this.quoteIdentifier(`f${index}`);
    return {
      ctes: [],
      join:
        `LEFT JOIN LATERAL (\n  SELECT ${this.windowAggregate(r, feature)} AS ${this.quoteIdentifier(INTERNAL.value)}\n` +
        `  FROM ${this.relationSql(feature.source.relation)} AS ${r}\n` +
        `  WHERE ${this.windowConditions(s, r, feature).join('\n    AND ')}\n) AS ${alias} ON TRUE`,
      selects: new Map([[index, this.windowOutput(feature, this.col(alias, INTERNAL.value))]]),
      needsRowId: false,
    };
  }

  protected override compileLatestPerKey(plan: MaterializationPlan, feature: LatestValueJoin, params: ParameterSink): string {
    const r = this.quoteIdentifier('r');
    const source = feature.source;
    const asOf = params.add(plan.asOf);
    const since = plan.since === undefined ? undefined : params.add(plan.since);
    const keys = source.keyColumns.map((k) => this.col(r, k));
    return [
      `SELECT DISTINCT ON (${keys.join(', ')}) ${this.materializationOutput(
        plan,
        keys,
        this.col(r, feature.valueColumn),
        this.col(r, source.timestampColumn),
        source.createdTimestampColumn === undefined ? this.nullTimestamp() : this.col(r, source.createdTimestampColumn),
      )}`,
      `FROM ${this.relationSql(source.relation)} AS ${r}`,
      `WHERE ${this.materializationFilters(r, source, asOf, since).join(' AND ')}`,
      `ORDER BY ${[...keys, ...this.latestOrderTerms(r, source, feature.valueColumn)].join(', ')}`,
    ].join('\n');
  }
}

import { invalidDefinition } from '../../errors/trellis-error.js';
import type {
  FeatureJoin,
  LatestValueJoin,
  MaterializationPlan,
  Plan,
  SourceRead,
  TrainingSetPlan,
  TransformationPlan,
  WindowAggregateJoin,
} from '../plan/plan-nodes.js';
import type { StreamWindowJoin } from '../plan/plan-stream-window.js';
import { isQueryRelation, type Relation, type TableRef } from '../plan/plan-types.js';
import type { ColumnDefinition, ColumnType } from './column-type.js';
import { compiledQuery, type CompiledParameter, type CompiledQuery } from './compiled-query.js';
import type { Dialect } from './dialect.js';
import type { CompileOptions, SqlCompiler } from './sql-compiler.js';
import { STREAM_TIME, streamWindowFeatureSql } from './stream-window-sql.js';

/**
 * Collects parameter values while a statement is written. `add()` returns a marker (NUL-delimited, which no
 * identifier, literal or trusted SQL text may contain); `DefaultSqlCompiler.finish` later replaces the markers
 * in text order with the dialect's placeholders or literals. Text order matters for positional `?`
 * placeholders, and a value used twice then needs two bound parameters.
 */
export class ParameterSink {
  readonly #values: CompiledParameter[] = [];

  /** A marker standing for `value` in the statement text. */
  add(value: CompiledParameter): string {
    this.#values.push(value);
    return `\u0000${this.#values.length - 1}\u0000`;
  }

  value(index: number): CompiledParameter {
    if (index < 0 || index >= this.#values.length) throw new Error(`internal: no parameter ${index}`);
    return this.#values[index] as CompiledParameter;
  }
}

/** Names of the columns and relations the compiled SQL introduces itself (never user input). */
export const INTERNAL = {
  spine: '__trellis_spine',
  rowId: '__trellis_row_id',
  spineTs: '__trellis_ts',
  spineMs: '__trellis_ms',
  label: '__trellis_label',
  value: '__trellis_value',
  rank: '__trellis_rank',
  created: '__trellis_created',
  ts: '__trellis_ts',
  key: (i: number) => `__trellis_k${i}`,
  valueN: (i: number) => `__trellis_v${i}`,
  feature: (i: number) => `__trellis_f${i}`,
  group: (i: number) => `__trellis_g${i}`,
} as const;

/** How one feature (or a group of features sharing a scan) attaches to the spine. */
export interface FeatureJoinSql {
  /** CTEs (`name AS (…)`) this join needs, appended after the spine. */
  readonly ctes: readonly string[];
  /** The join clause(s) appended to `FROM spine AS s`. */
  readonly join: string;
  /** Output expression per feature, keyed by the feature's index in the plan. */
  readonly selects: ReadonlyMap<number, string>;
  /** Whether the spine needs a row number for this join. */
  readonly needsRowId: boolean;
  /**
   * A CTE (quoted name, listed in `ctes`) that replaces the spine in the final FROM: it must carry every spine
   * column under the same name (plus its own). At most one join of a training set may set it.
   */
  readonly base?: string;
}

/** Context of one training-set compilation, passed to the join hooks. */
export interface TrainingSetContext {
  readonly plan: TrainingSetPlan;
  readonly params: ParameterSink;
  /** Quoted alias of the spine in the final FROM. */
  readonly spineAlias: string;
}

/**
 * The one default SQL compiler. It writes portable SQL (CTEs, window functions, `NULLS LAST`) and exposes
 * small hooks a dialect overrides: identifier quoting and validation (`identifierQuote`, `escapeIdentifier`,
 * `maxIdentifierBytes`, `validateIdentifier`), literals (`stringLiteral`, `timestampLiteral`), placeholders
 * (`placeholder`: `$1` / `?` / `@p1`), timestamp arithmetic (`timestampMinusSeconds`), column types
 * (`columnTypeSql`), temporary tables (`temporaryKeyword`, `supportsCreateOrReplaceTable`), ASOF joins
 * (`supportsAsofJoin`, `asofJoinSql`, `tieBreakKey`, `tieBreakKeyValue`) and, for larger changes, the join
 * forms themselves (`compileLatestValueJoins`, `compileWindowAggregateJoin`, `compileLatestPerKey`).
 *
 * The default point-in-time form is a ranked join: spine rows are numbered, joined to the candidate source
 * rows, ranked by `FINAL_TIE_BREAK` per spine row, and the rank-1 row is kept. It is correct everywhere but
 * not the fastest; Postgres overrides it with `LEFT JOIN LATERAL … LIMIT 1`, DuckDB turns on the exact ASOF
 * form (`compileAsofJoins`).
 */
export abstract class DefaultSqlCompiler implements SqlCompiler {
  readonly kind = 'trellis.sql-compiler' as const;
  abstract readonly dialect: Dialect;
  /** Parameters per statement; loaders batch below it. */
  readonly maxParameters: number = 30_000;
  readonly caseSensitiveIdentifiers: boolean = true;

  // ---------------------------------------------------------------- hooks: identifiers and literals

  /** The identifier quote character. */
  protected readonly identifierQuote: string = '"';
  /** Longest identifier the dialect keeps without truncation (bytes of UTF-8). */
  protected readonly maxIdentifierBytes: number = 255;

  /** Dialect checks beyond the neutral ones (non-empty, no control characters). Throw to refuse. */
  protected validateIdentifier(name: string): void {
    if (typeof name !== 'string' || name.length === 0) throw invalidDefinition('', 'empty identifier');
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(name)) {
      throw invalidDefinition('', `identifier ${JSON.stringify(name)} contains a control character`);
    }
    if (Buffer.byteLength(name, 'utf8') > this.maxIdentifierBytes) {
      throw invalidDefinition('', `identifier ${JSON.stringify(name)} is longer than ${this.maxIdentifierBytes} bytes (${this.dialect})`);
    }
  }

  /** Escapes the body of a quoted identifier (default: double the quote character). */
  protected escapeIdentifier(name: string): string {
    return name.split(this.identifierQuote).join(this.identifierQuote + this.identifierQuote);
  }

  quoteIdentifier(name: string): string {
    this.validateIdentifier(name);
    return this.identifierQuote + this.escapeIdentifier(name) + this.identifierQuote;
  }

  quoteTable(table: TableRef): string {
    return [table.catalog, table.schema, table.name]
      .filter((part): part is string => part !== undefined)
      .map((part) => this.quoteIdentifier(part))
      .join('.');
  }

  /** Standard SQL string literal: quotes doubled; no backslash escapes. */
  stringLiteral(value: string): string {
    if (value.includes('\u0000')) throw invalidDefinition('', 'string literal contains a NUL character');
    return `'${value.replaceAll("'", "''")}'`;
  }

  literal(value: CompiledParameter): string {
    if (value === null) return 'NULL';
    if (value instanceof Date) return this.timestampLiteral(value);
    switch (typeof value) {
      case 'string':
        return this.stringLiteral(value);
      case 'boolean':
        return value ? 'TRUE' : 'FALSE';
      case 'bigint':
        return value.toString();
      case 'number':
        if (!Number.isFinite(value)) throw invalidDefinition('', `cannot write ${value} as a SQL literal`);
        return String(value);
    }
    throw invalidDefinition('', `unsupported parameter type ${typeof value}`);
  }

  /**
   * An instant as a literal the engine coerces to the compared column's type, like a bound parameter:
   * an untyped ISO-8601 UTC string.
   */
  protected timestampLiteral(value: Date): string {
    return this.stringLiteral(value.toISOString());
  }

  /** Placeholder for the `index`-th (1-based) parameter. */
  protected placeholder(index: number): string {
    return `$${index}`;
  }

  /**
   * Whether a placeholder names its parameter (`$1`, `@p1`: one parameter serves every occurrence) rather than
   * standing for the next one in text order (`?`).
   */
  protected readonly reusablePlaceholders: boolean = true;

  // ---------------------------------------------------------------- hooks: expressions and types

  /** `expr − seconds` for a timestamp expression; `seconds` is a validated whole number ≥ 0. */
  protected timestampMinusSeconds(expr: string, seconds: number): string {
    if (seconds === 0) return expr;
    return `(${expr} - INTERVAL '${seconds}' SECOND)`;
  }

  /** Column type names for tables Trellis creates. */
  protected abstract columnTypeSql(type: ColumnType): string;

  /** A typed NULL timestamp (for output columns that have no value in some plans). */
  protected nullTimestamp(): string {
    return `CAST(NULL AS ${this.columnTypeSql('timestamp')})`;
  }

  /** `ROW_NUMBER()` over all spine rows (no particular order). */
  protected rowNumberOverAll(): string {
    return 'ROW_NUMBER() OVER ()';
  }

  /** An aggregate call over `arg` (already an expression; `undefined` means `*` for count). */
  protected aggregateSql(fn: WindowAggregateJoin['fn'], arg: string | undefined): string {
    switch (fn) {
      case 'count':
        return `COUNT(${arg ?? '*'})`;
      case 'avg':
        return `CAST(AVG(${arg}) AS ${this.columnTypeSql('float64')})`;
      case 'sum':
        return `SUM(${arg})`;
      case 'min':
        return `MIN(${arg})`;
      case 'max':
        return `MAX(${arg})`;
    }
  }

  /** The keyword(s) that make a created table temporary. */
  protected temporaryKeyword(): string {
    return 'TEMPORARY';
  }

  /** Whether `CREATE OR REPLACE TABLE` exists (otherwise replace = drop + create, done by the executor). */
  protected readonly supportsCreateOrReplaceTable: boolean = true;

  // ---------------------------------------------------------------- public API

  compile(plan: Plan, options: CompileOptions = {}): CompiledQuery {
    const params = new ParameterSink();
    let sql: string;
    switch (plan.kind) {
      case 'training-set':
        sql = this.compileTrainingSet(plan, params);
        break;
      case 'materialization':
        sql = this.compileMaterialization(plan, params);
        break;
      case 'transformation':
        sql = this.compileTransformation(plan, params);
        break;
      default:
        throw invalidDefinition('', `unknown plan kind ${(plan as { kind?: unknown }).kind as string}`);
    }
    return this.finish(sql, params, options.inlineParameters === true);
  }

  compileCreateTableAs(
    table: TableRef,
    query: CompiledQuery,
    options: { replace?: boolean; temporary?: boolean } = {},
  ): CompiledQuery {
    if (options.replace && !this.supportsCreateOrReplaceTable) {
      throw new Error(`${this.dialect}: CREATE OR REPLACE TABLE is not supported; drop the table first`);
    }
    const head = `CREATE ${options.replace ? 'OR REPLACE ' : ''}${options.temporary ? `${this.temporaryKeyword()} ` : ''}TABLE`;
    return compiledQuery(`${head} ${this.quoteTable(table)} AS\n${query.sql}`, query.parameters);
  }

  compileCreateView(view: TableRef, query: CompiledQuery, options: { replace?: boolean } = {}): CompiledQuery {
    if (query.parameters.length > 0) {
      throw new Error('a view cannot take bind parameters: compile its query with { inlineParameters: true }');
    }
    return compiledQuery(`CREATE ${options.replace ? 'OR REPLACE ' : ''}VIEW ${this.quoteTable(view)} AS\n${query.sql}`);
  }

  compileInsertInto(table: TableRef, query: CompiledQuery, columns?: readonly string[]): CompiledQuery {
    const list = columns ? ` (${columns.map((c) => this.quoteIdentifier(c)).join(', ')})` : '';
    return compiledQuery(`INSERT INTO ${this.quoteTable(table)}${list}\n${query.sql}`, query.parameters);
  }

  compileCreateTable(
    table: TableRef,
    columns: readonly ColumnDefinition[],
    options: { temporary?: boolean; ifNotExists?: boolean } = {},
  ): CompiledQuery {
    if (columns.length === 0) throw invalidDefinition('/columns', 'a table needs at least one column');
    const body = columns.map((c) => `${this.quoteIdentifier(c.name)} ${this.columnTypeSql(c.type)}`).join(', ');
    const head = `CREATE ${options.temporary ? `${this.temporaryKeyword()} ` : ''}TABLE${options.ifNotExists ? ' IF NOT EXISTS' : ''}`;
    return compiledQuery(`${head} ${this.quoteTable(table)} (${body})`);
  }

  compileInsertValues(
    table: TableRef,
    columns: readonly string[],
    rows: readonly (readonly CompiledParameter[])[],
  ): CompiledQuery {
    if (rows.length === 0) throw new Error('compileInsertValues needs at least one row');
    const params = new ParameterSink();
    const tuples = rows.map((row, r) => {
      if (row.length !== columns.length) throw new Error(`row ${r} has ${row.length} values for ${columns.length} columns`);
      return `(${row.map((v) => params.add(v)).join(', ')})`;
    });
    const list = columns.map((c) => this.quoteIdentifier(c)).join(', ');
    return this.finish(`INSERT INTO ${this.quoteTable(table)} (${list}) VALUES ${tuples.join(', ')}`, params, false);
  }

  compileDropTable(table: TableRef, options: { ifExists?: boolean } = {}): CompiledQuery {
    return compiledQuery(`DROP TABLE ${options.ifExists ? 'IF EXISTS ' : ''}${this.quoteTable(table)}`);
  }

  compileDropView(view: TableRef, options: { ifExists?: boolean } = {}): CompiledQuery {
    return compiledQuery(`DROP VIEW ${options.ifExists ? 'IF EXISTS ' : ''}${this.quoteTable(view)}`);
  }

  compileSelectAll(relation: Relation, options: { limit?: number } = {}): CompiledQuery {
    const limit = options.limit;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) throw new Error(`invalid limit ${limit}`);
    return compiledQuery(
      `SELECT * FROM ${this.relationSql(relation)} AS ${this.quoteIdentifier('__trellis_r')}${limit === undefined ? '' : ` LIMIT ${limit}`}`,
    );
  }

  // ---------------------------------------------------------------- shared building blocks

  /**
   * Replaces the sink's markers in text order: with literals (`inline`), with one numbered placeholder per
   * distinct value (`reusablePlaceholders`), or with one positional placeholder per occurrence.
   */
  protected finish(sql: string, params: ParameterSink, inline: boolean): CompiledQuery {
    const values: CompiledParameter[] = [];
    const placed = new Map<number, string>();
    // eslint-disable-next-line no-control-regex -- NUL delimits the sink's markers (see ParameterSink)
    const text = sql.replace(/\u0000(\d+)\u0000/g, (_whole, digits: string) => {
      const index = Number(digits);
      const value = params.value(index);
      if (inline) return this.literal(value);
      if (this.reusablePlaceholders) {
        const existing = placed.get(index);
        if (existing !== undefined) return existing;
        values.push(value);
        const placeholder = this.placeholder(values.length);
        placed.set(index, placeholder);
        return placeholder;
      }
      values.push(value);
      return this.placeholder(values.length);
    });
    return compiledQuery(text, values);
  }

  /** A relation usable after FROM: a quoted table or a parenthesised trusted query. */
  protected relationSql(relation: Relation): string {
    if (isQueryRelation(relation)) return `(\n${trimStatement(relation.sql)}\n)`;
    return this.quoteTable(relation);
  }

  /** `alias.column`, both quoted. */
  protected col(alias: string, column: string): string {
    return `${alias}.${this.quoteIdentifier(column)}`;
  }

  /** `a.k0 = b.k0 AND …` over positional key columns. */
  protected keyEquality(left: readonly string[], right: readonly string[]): string {
    return left.map((l, i) => `${l} = ${right[i] ?? ''}`).join(' AND ');
  }

  /** The spine's (lagged) time expression. */
  protected spineTime(spineAlias: string, lagSeconds: number): string {
    return this.timestampMinusSeconds(this.col(spineAlias, INTERNAL.spineTs), lagSeconds);
  }

  /** ORDER BY terms of the point-in-time contract for one source (row alias `r`). */
  protected latestOrderTerms(r: string, source: SourceRead, valueColumn: string): string[] {
    const terms = [`${this.col(r, source.timestampColumn)} DESC`];
    if (source.createdTimestampColumn !== undefined) terms.push(`${this.col(r, source.createdTimestampColumn)} DESC NULLS LAST`);
    terms.push(`${this.col(r, valueColumn)} DESC NULLS LAST`);
    return terms;
  }

  // ---------------------------------------------------------------- training set

  protected compileTrainingSet(plan: TrainingSetPlan, params: ParameterSink): string {
    const s = this.quoteIdentifier('s');
    const ctx: TrainingSetContext = { plan, params, spineAlias: s };
    const joins = this.compileFeatureJoins(ctx);
    const needsRowId = joins.some((j) => j.needsRowId);
    const needsMs = plan.features.some((f) => f.kind === 'stream-window');

    const spine = plan.spine;
    const l = this.quoteIdentifier('l');
    const spineColumns = [
      ...(needsRowId ? [`${this.rowNumberOverAll()} AS ${this.quoteIdentifier(INTERNAL.rowId)}`] : []),
      ...spine.keyColumns.map((k, i) => `${this.col(l, k)} AS ${this.quoteIdentifier(INTERNAL.key(i))}`),
      `${this.col(l, spine.timestampColumn)} AS ${this.quoteIdentifier(INTERNAL.spineTs)}`,
      ...(needsMs ? [`${STREAM_TIME[this.dialect].epochMs(this.col(l, spine.timestampColumn))} AS ${this.quoteIdentifier(INTERNAL.spineMs)}`] : []),
      `${this.col(l, spine.valueColumn)} AS ${this.quoteIdentifier(INTERNAL.label)}`,
    ];
    const ctes = [
      `${this.quoteIdentifier(INTERNAL.spine)} AS (\n  SELECT ${spineColumns.join(', ')}\n  FROM ${this.relationSql(spine.relation)} AS ${l}\n)`,
      ...joins.flatMap((j) => j.ctes),
    ];

    const selects = new Map<number, string>();
    for (const j of joins) for (const [i, expr] of j.selects) selects.set(i, expr);
    const output = [
      ...plan.keyOutputNames.map((name, i) => `${this.col(s, INTERNAL.key(i))} AS ${this.quoteIdentifier(name)}`),
      `${this.col(s, INTERNAL.spineTs)} AS ${this.quoteIdentifier(plan.timestampOutputName)}`,
      ...plan.features.map((f, i) => {
        const expr = selects.get(i);
        if (expr === undefined) throw new Error(`internal: no join produced feature ${f.outputName}`);
        return `${expr} AS ${this.quoteIdentifier(f.outputName)}`;
      }),
      `${this.col(s, INTERNAL.label)} AS ${this.quoteIdentifier(plan.labelOutputName)}`,
    ];
    const bases = joins.flatMap((j) => (j.base === undefined ? [] : [j.base]));
    if (bases.length > 1) throw new Error('internal: more than one join replaces the spine');
    return [
      `WITH ${ctes.join(',\n')}`,
      `SELECT ${output.join(',\n  ')}`,
      `FROM ${bases[0] ?? this.quoteIdentifier(INTERNAL.spine)} AS ${s}`,
      ...joins.map((j) => j.join).filter((j) => j.length > 0),
    ].join('\n');
  }

  /**
   * Joins for all features. Default: each latest-value feature via `compileLatestValueJoins` (one feature
   * per call), each aggregation via `compileWindowAggregateJoin`. Dialects may group features sharing a scan.
   */
  protected compileFeatureJoins(ctx: TrainingSetContext): FeatureJoinSql[] {
    if (this.supportsAsofJoin) return this.compileFeatureJoinsWithAsof(ctx);
    return ctx.plan.features.map((feature, index) =>
      feature.kind === 'latest-value'
        ? this.compileLatestValueJoins(ctx, [{ feature, index }])
        : feature.kind === 'stream-window'
          ? this.compileStreamWindowJoin(ctx, feature, index)
          : this.compileWindowAggregateJoin(ctx, feature, index),
    );
  }

  /**
   * A stream feature over its topic's offline copy: its window evaluated per distinct (keys, spine time) exactly as
   * the online tiles are (src/compiler/sql/stream-window-sql.ts), joined back on keys and time.
   */
  protected compileStreamWindowJoin(ctx: TrainingSetContext, feature: StreamWindowJoin, index: number): FeatureJoinSql {
    const name = this.quoteIdentifier(INTERNAL.feature(index));
    const alias = this.quoteIdentifier(`f${index}`);
    const keyCount = ctx.plan.spine.keyColumns.length;
    const names = { spine: INTERNAL.spine, key: INTERNAL.key, ms: INTERNAL.spineMs, value: INTERNAL.value };
    const on = [...Array.from({ length: keyCount }, (_, i) => INTERNAL.key(i)), INTERNAL.spineMs].map((c) => `${this.col(alias, c)} = ${this.col(ctx.spineAlias, c)}`);
    const value = this.col(alias, INTERNAL.value);
    return {
      ctes: [`${name} AS (\n${streamWindowFeatureSql(this, feature, keyCount, names)}\n)`],
      join: `LEFT JOIN ${name} AS ${alias} ON ${on.join(' AND ')}`,
      selects: new Map([[index, feature.fn === 'count' ? `COALESCE(${value}, 0)` : value]]),
      needsRowId: false,
    };
  }

  // ---------------------------------------------------------------- hooks: ASOF join

  /**
   * Whether the dialect compiles latest-value features with an ASOF join (default `false`: ranked join, or the
   * dialect's own `compileLatestValueJoins`). Needs `asofJoinSql`, `tieBreakKey` and `tieBreakKeyValue`.
   */
  protected readonly supportsAsofJoin: boolean = false;

  /** An ASOF left join of `relation AS alias` on key `equalities` and the `inequality` `t ≥ ts`. */
  protected asofJoinSql(relation: string, alias: string, equalities: string, inequality: string): string {
    return `ASOF LEFT JOIN ${relation} AS ${alias}\n    ON ${equalities} AND ${inequality}`;
  }

  /**
   * A comparable key ordering rows of equal (keys, ts) by the contract's tie-breaks: created ts (NULL lowest),
   * then value (NULL lowest). `MAX()` of it must pick the winner and `>` compare two of them.
   */
  protected tieBreakKey(_created: string | undefined, _value: string): string {
    throw new Error(`${this.dialect}: supportsAsofJoin needs a tieBreakKey`);
  }

  /** The value held by a `tieBreakKey`. */
  protected tieBreakKeyValue(_key: string): string {
    throw new Error(`${this.dialect}: supportsAsofJoin needs a tieBreakKeyValue`);
  }

  /** ASOF form of `compileFeatureJoins`: latest-value features grouped by scan, aggregations as usual. */
  protected compileFeatureJoinsWithAsof(ctx: TrainingSetContext): FeatureJoinSql[] {
    const latest: { feature: LatestValueJoin; index: number }[] = [];
    ctx.plan.features.forEach((feature, index) => {
      if (feature.kind === 'latest-value') latest.push({ feature, index });
    });
    const joins: FeatureJoinSql[] = [];
    if (latest.length > 0) joins.push(this.compileAsofJoins(ctx, groupFeatures(latest, asofGroupKey)));
    ctx.plan.features.forEach((feature, index) => {
      if (feature.kind === 'window-aggregate') joins.push(this.compileWindowAggregateJoin(ctx, feature, index));
      if (feature.kind === 'stream-window') joins.push(this.compileStreamWindowJoin(ctx, feature, index));
    });
    return joins;
  }

  /**
   * The exact ASOF form. An ASOF join returns, per spine row, *some* row with the greatest ts ≤ t − lag; among
   * rows sharing that (keys, ts) it picks arbitrarily, and it knows no lower bound. So:
   * 1. the spine is ASOF-joined with each group of features sharing (source, keys, timestamps, lag) — one join
   *    per group, carrying the picked row's ts, created ts and values (CTE `__trellis_asof`, which replaces the
   *    spine in the final FROM);
   * 2. ties are repaired: the distinct picked (keys, ts) are joined back to the source on (keys, ts) only to find
   *    the picks that have a twin (another row with the same keys and ts); for those few, the best row per value
   *    column (`MAX(tieBreakKey)`) over the twins replaces the pick. No GROUP BY over the whole source, which
   *    would cost more than the ASOF join itself;
   * 3. the TTL lower bound is applied to the picked ts: it is the greatest ts ≤ t − lag, so when it is too old
   *    every other candidate is too.
   */
  protected compileAsofJoins(ctx: TrainingSetContext, groups: readonly FeatureGroup[]): FeatureJoinSql {
    const s = ctx.spineAlias;
    const q = (name: string) => this.quoteIdentifier(name);
    const asof = q('__trellis_asof');
    const asofColumns = [`${s}.*`];
    const asofJoins: string[] = [];
    const ctes: string[] = [];
    const finalJoins: string[] = [];
    const selects = new Map<number, string>();
    groups.forEach((group, g) => {
      const parts = this.compileAsofGroup(ctx, group, g, asof);
      asofColumns.push(...parts.asofColumns);
      asofJoins.push(parts.asofJoin);
      ctes.push(parts.fixCte);
      finalJoins.push(parts.fixJoin);
      for (const [index, expr] of parts.selects) selects.set(index, expr);
    });
    ctes.unshift(`${asof} AS (\n  SELECT ${asofColumns.join(', ')}\n  FROM ${q(INTERNAL.spine)} AS ${s}\n  ${asofJoins.join('\n  ')}\n)`);
    return { ctes, join: finalJoins.join('\n'), selects, needsRowId: false, base: asof };
  }

  protected compileAsofGroup(ctx: TrainingSetContext, group: FeatureGroup, g: number, asof: string) {
    const first = group[0];
    if (first === undefined) throw new Error('internal: empty feature group');
    const { source, lagSeconds: lag } = first.feature;
    const created = source.createdTimestampColumn;
    const s = ctx.spineAlias;
    const q = (name: string) => this.quoteIdentifier(name);
    const picked = (what: string) => q(`__trellis_g${g}_${what}`);
    const pickedCol = (alias: string, what: string) => `${alias}.${picked(what)}`;
    const r = q('r');
    const alias = q(`g${g}`);
    const fixName = q(`__trellis_fix${g}`);
    const fix = q(`fix${g}`);
    const keys = source.keyColumns.map((k) => this.col(r, k));
    const ts = this.col(r, source.timestampColumn);
    const spineKeys = source.keyColumns.map((_, i) => this.col(s, INTERNAL.key(i)));

    // 1. The ASOF join of this group (part of the `__trellis_asof` CTE).
    const groupColumns = [
      ...keys.map((k, i) => `${k} AS ${q(INTERNAL.key(i))}`),
      `${ts} AS ${q(INTERNAL.ts)}`,
      ...(created === undefined ? [] : [`${this.col(r, created)} AS ${q(INTERNAL.created)}`]),
      ...group.map(({ feature }, i) => `${this.col(r, feature.valueColumn)} AS ${q(INTERNAL.valueN(i))}`),
    ];
    const asofJoin = this.asofJoinSql(
      `(\n    SELECT ${groupColumns.join(', ')}\n    FROM ${this.relationSql(source.relation)} AS ${r}\n` +
        `    WHERE ${[ts, ...keys].map((c) => `${c} IS NOT NULL`).join(' AND ')}\n  )`,
      alias,
      source.keyColumns.map((_, i) => `${this.col(alias, INTERNAL.key(i))} = ${spineKeys[i] ?? ''}`).join(' AND '),
      `${this.spineTime(s, lag)} >= ${this.col(alias, INTERNAL.ts)}`,
    );
    const asofColumns = [
      `${this.col(alias, INTERNAL.ts)} AS ${picked('ts')}`,
      ...(created === undefined ? [] : [`${this.col(alias, INTERNAL.created)} AS ${picked('c')}`]),
      ...group.map((_, i) => `${this.col(alias, INTERNAL.valueN(i))} AS ${picked(`v${i}`)}`),
    ];

    // 2. Tie repair, in two steps so the pass over the source that finds ties carries only keys and ts:
    //    a. the picked (keys, ts) that have another source row with the same keys and ts ("twins"), found by
    //       joining the distinct picks back to the source (a probe of (keys, ts) only, then a count);
    //    b. for those few, the best row per value column (`MAX(tieBreakKey)` over all the twins, the pick
    //       among them), a second probe into a tiny hash table. Picks without a twin are already exact.
    const twinsName = q(`__trellis_twins${g}`);
    const t = q('t');
    const d = q('d');
    const pickKeys = source.keyColumns.map((_, i) => q(INTERNAL.key(i)));
    const dKeys = pickKeys.map((k) => `${d}.${k}`);
    const tKeys = pickKeys.map((k) => `${t}.${k}`);
    const twinsCte =
      `${twinsName} AS (\n  SELECT ${[...dKeys, `${d}.${picked('ts')}`].join(', ')}\n` +
      `  FROM (SELECT DISTINCT ${[...pickKeys, picked('ts')].join(', ')} FROM ${asof} WHERE ${picked('ts')} IS NOT NULL) AS ${d}\n` +
      `  JOIN ${this.relationSql(source.relation)} AS ${r}\n` +
      `    ON ${[...keys.map((k, i) => `${k} = ${dKeys[i] ?? ''}`), `${ts} = ${d}.${picked('ts')}`].join(' AND ')}\n` +
      `  GROUP BY ${[...dKeys, `${d}.${picked('ts')}`].join(', ')}\n  HAVING COUNT(*) > 1\n)`;
    const fixCte =
      `${twinsCte},\n${fixName} AS (\n  SELECT ${[
        ...tKeys,
        `${t}.${picked('ts')} AS ${q(INTERNAL.ts)}`,
        ...group.map(({ feature }, i) => `MAX(${this.tieBreakKey(created === undefined ? undefined : this.col(r, created), this.col(r, feature.valueColumn))}) AS ${q(INTERNAL.valueN(i))}`),
      ].join(',\n    ')}\n` +
      `  FROM ${twinsName} AS ${t}\n  JOIN ${this.relationSql(source.relation)} AS ${r}\n` +
      `    ON ${[...keys.map((k, i) => `${k} = ${tKeys[i] ?? ''}`), `${ts} = ${t}.${picked('ts')}`].join(' AND ')}\n` +
      `  GROUP BY ${[...tKeys, `${t}.${picked('ts')}`].join(', ')}\n)`;
    const fixJoin = `LEFT JOIN ${fixName} AS ${fix} ON ${[
      ...source.keyColumns.map((_, i) => `${this.col(fix, INTERNAL.key(i))} = ${spineKeys[i] ?? ''}`),
      `${this.col(fix, INTERNAL.ts)} = ${pickedCol(s, 'ts')}`,
    ].join(' AND ')}`;

    // 3. Output per feature, with the TTL bound on the picked ts.
    const selects = new Map<number, string>();
    group.forEach(({ feature, index }, i) => {
      const repaired = this.col(fix, INTERNAL.valueN(i));
      const value = `CASE WHEN ${repaired} IS NOT NULL THEN ${this.tieBreakKeyValue(repaired)} ELSE ${pickedCol(s, `v${i}`)} END`;
      selects.set(
        index,
        feature.ttlSeconds === undefined
          ? value
          : `CASE WHEN ${pickedCol(s, 'ts')} >= ${this.spineTime(s, lag + feature.ttlSeconds)} THEN ${value} END`,
      );
    });
    return { asofColumns, asofJoin, fixCte, fixJoin, selects };
  }

  /**
   * Point-in-time join of latest-value features that share source, keys, timestamps and lag (the default
   * groups contain one feature). Default: ranked join.
   */
  protected compileLatestValueJoins(
    ctx: TrainingSetContext,
    group: readonly { feature: LatestValueJoin; index: number }[],
  ): FeatureJoinSql {
    const s = ctx.spineAlias;
    const ctes: string[] = [];
    const joins: string[] = [];
    const selects = new Map<number, string>();
    for (const { feature, index } of group) {
      const name = this.quoteIdentifier(INTERNAL.feature(index));
      const alias = this.quoteIdentifier(`f${index}`);
      const ss = this.quoteIdentifier('s');
      const r = this.quoteIdentifier('r');
      const rank = this.quoteIdentifier(INTERNAL.rank);
      const rowId = this.quoteIdentifier(INTERNAL.rowId);
      const value = this.quoteIdentifier(INTERNAL.value);
      ctes.push(
        `${name} AS (\n  SELECT ${rowId}, ${value} FROM (\n` +
          `    SELECT ${this.col(ss, INTERNAL.rowId)}, ${this.col(r, feature.valueColumn)} AS ${value},\n` +
          `      ROW_NUMBER() OVER (PARTITION BY ${this.col(ss, INTERNAL.rowId)} ORDER BY ${this.latestOrderTerms(r, feature.source, feature.valueColumn).join(', ')}) AS ${rank}\n` +
          `    FROM ${this.quoteIdentifier(INTERNAL.spine)} AS ${ss}\n` +
          `    JOIN ${this.relationSql(feature.source.relation)} AS ${r}\n` +
          `      ON ${this.latestValueConditions(ss, r, feature).join('\n      AND ')}\n` +
          `  ) AS ${this.quoteIdentifier('ranked')}\n  WHERE ${rank} = 1\n)`,
      );
      joins.push(`LEFT JOIN ${name} AS ${alias} ON ${this.col(alias, INTERNAL.rowId)} = ${this.col(s, INTERNAL.rowId)}`);
      selects.set(index, this.col(alias, INTERNAL.value));
    }
    return { ctes, join: joins.join('\n'), selects, needsRowId: true };
  }

  /** Key equality and the time bounds of a latest-value lookup (spine alias `s`, source row alias `r`). */
  protected latestValueConditions(s: string, r: string, feature: LatestValueJoin): string[] {
    const ts = this.col(r, feature.source.timestampColumn);
    const conditions = [
      this.keyEquality(
        feature.source.keyColumns.map((k) => this.col(r, k)),
        feature.source.keyColumns.map((_, i) => this.col(s, INTERNAL.key(i))),
      ),
      `${ts} <= ${this.spineTime(s, feature.lagSeconds)}`,
    ];
    if (feature.ttlSeconds !== undefined) {
      conditions.push(`${ts} >= ${this.spineTime(s, feature.lagSeconds + feature.ttlSeconds)}`);
    }
    return conditions;
  }

  /** Key equality and the window bounds of an aggregation (spine alias `s`, source row alias `r`). */
  protected windowConditions(s: string, r: string, feature: WindowAggregateJoin): string[] {
    const ts = this.col(r, feature.source.timestampColumn);
    return [
      this.keyEquality(
        feature.source.keyColumns.map((k) => this.col(r, k)),
        feature.source.keyColumns.map((_, i) => this.col(s, INTERNAL.key(i))),
      ),
      `${ts} > ${this.spineTime(s, feature.lagSeconds + feature.windowSeconds)}`,
      `${ts} <= ${this.spineTime(s, feature.lagSeconds)}`,
    ];
  }

  /** The aggregate over source alias `r` for one window feature. */
  protected windowAggregate(r: string, feature: WindowAggregateJoin): string {
    return this.aggregateSql(feature.fn, feature.column === undefined ? undefined : this.col(r, feature.column));
  }

  /** Output expression of an aggregation given its joined value (count of nothing is 0). */
  protected windowOutput(feature: WindowAggregateJoin, value: string): string {
    return feature.fn === 'count' ? `COALESCE(${value}, 0)` : value;
  }

  /** Window aggregation join. Default: range join grouped by spine row. */
  protected compileWindowAggregateJoin(ctx: TrainingSetContext, feature: WindowAggregateJoin, index: number): FeatureJoinSql {
    const name = this.quoteIdentifier(INTERNAL.feature(index));
    const alias = this.quoteIdentifier(`f${index}`);
    const ss = this.quoteIdentifier('s');
    const r = this.quoteIdentifier('r');
    // Reads the spine CTE itself (not a `base` replacing it): only spine columns are needed.
    const cte =
      `${name} AS (\n  SELECT ${this.col(ss, INTERNAL.rowId)}, ${this.windowAggregate(r, feature)} AS ${this.quoteIdentifier(INTERNAL.value)}\n` +
      `  FROM ${this.quoteIdentifier(INTERNAL.spine)} AS ${ss}\n` +
      `  JOIN ${this.relationSql(feature.source.relation)} AS ${r}\n` +
      `    ON ${this.windowConditions(ss, r, feature).join('\n    AND ')}\n` +
      `  GROUP BY ${this.col(ss, INTERNAL.rowId)}\n)`;
    return {
      ctes: [cte],
      join: `LEFT JOIN ${name} AS ${alias} ON ${this.col(alias, INTERNAL.rowId)} = ${this.col(ctx.spineAlias, INTERNAL.rowId)}`,
      selects: new Map([[index, this.windowOutput(feature, this.col(alias, INTERNAL.value))]]),
      needsRowId: true,
    };
  }

  // ---------------------------------------------------------------- materialization

  protected compileMaterialization(plan: MaterializationPlan, params: ParameterSink): string {
    return plan.feature.kind === 'latest-value'
      ? this.compileLatestPerKey(plan, plan.feature, params)
      : this.compileWindowPerKey(plan, plan.feature, params);
  }

  /** Filters shared by materialization queries: `ts ≤ asOf`, `ts > lower` and no null key component. */
  protected materializationFilters(r: string, source: SourceRead, asOf: string, lower: string | undefined): string[] {
    const ts = this.col(r, source.timestampColumn);
    return [
      `${ts} <= ${asOf}`,
      ...(lower === undefined ? [] : [`${ts} > ${lower}`]),
      ...source.keyColumns.map((k) => `${this.col(r, k)} IS NOT NULL`),
    ];
  }

  /** Final projection names of a materialization query. */
  protected materializationOutput(plan: MaterializationPlan, keys: readonly string[], value: string, eventTs: string, createdTs: string): string {
    return [
      ...plan.keyOutputNames.map((name, i) => `${keys[i] ?? ''} AS ${this.quoteIdentifier(name)}`),
      `${value} AS ${this.quoteIdentifier(plan.valueOutputName)}`,
      `${eventTs} AS ${this.quoteIdentifier(plan.eventTimestampOutputName)}`,
      `${createdTs} AS ${this.quoteIdentifier(plan.createdTimestampOutputName)}`,
    ].join(',\n  ');
  }

  /** Latest row per key as of the watermark. Default: `ROW_NUMBER()` per key, rank 1 kept. */
  protected compileLatestPerKey(plan: MaterializationPlan, feature: LatestValueJoin, params: ParameterSink): string {
    const r = this.quoteIdentifier('r');
    const q = this.quoteIdentifier('ranked');
    const source = feature.source;
    const asOf = params.add(plan.asOf);
    const since = plan.since === undefined ? undefined : params.add(plan.since);
    const inner = [
      ...source.keyColumns.map((k, i) => `${this.col(r, k)} AS ${this.quoteIdentifier(INTERNAL.key(i))}`),
      `${this.col(r, feature.valueColumn)} AS ${this.quoteIdentifier(INTERNAL.value)}`,
      `${this.col(r, source.timestampColumn)} AS ${this.quoteIdentifier(INTERNAL.ts)}`,
      `${source.createdTimestampColumn === undefined ? this.nullTimestamp() : this.col(r, source.createdTimestampColumn)} AS ${this.quoteIdentifier(INTERNAL.created)}`,
      `ROW_NUMBER() OVER (PARTITION BY ${source.keyColumns.map((k) => this.col(r, k)).join(', ')} ORDER BY ${this.latestOrderTerms(r, source, feature.valueColumn).join(', ')}) AS ${this.quoteIdentifier(INTERNAL.rank)}`,
    ];
    return [
      `SELECT ${this.materializationOutput(
        plan,
        source.keyColumns.map((_, i) => this.col(q, INTERNAL.key(i))),
        this.col(q, INTERNAL.value),
        this.col(q, INTERNAL.ts),
        this.col(q, INTERNAL.created),
      )}`,
      `FROM (\n  SELECT ${inner.join(',\n    ')}\n  FROM ${this.relationSql(source.relation)} AS ${r}`,
      `  WHERE ${this.materializationFilters(r, source, asOf, since).join(' AND ')}\n) AS ${q}`,
      `WHERE ${this.col(q, INTERNAL.rank)} = 1`,
    ].join('\n');
  }

  /**
   * Window value per key as of the watermark: conditional aggregates over `asOf − window < ts ≤ asOf`,
   * grouped by key, over the keys selected by the plan (see `MaterializationSpec`).
   */
  protected compileWindowPerKey(plan: MaterializationPlan, feature: WindowAggregateJoin, params: ParameterSink): string {
    const r = this.quoteIdentifier('r');
    const source = feature.source;
    const windowMs = feature.windowSeconds * 1000;
    const asOf = params.add(plan.asOf);
    const windowStart = params.add(new Date(plan.asOf.getTime() - windowMs));
    const lower = plan.since === undefined ? undefined : params.add(new Date(plan.since.getTime() - windowMs));
    const ts = this.col(r, source.timestampColumn);
    const inWindow = `${ts} > ${windowStart}`;
    const arg = feature.column === undefined ? '1' : this.col(r, feature.column);
    const keys = source.keyColumns.map((k) => this.col(r, k));
    return [
      `SELECT ${this.materializationOutput(
        plan,
        keys,
        this.windowOutput(feature, this.aggregateSql(feature.fn, `CASE WHEN ${inWindow} THEN ${arg} END`)),
        `MAX(CASE WHEN ${inWindow} THEN ${ts} END)`,
        this.nullTimestamp(),
      )}`,
      `FROM ${this.relationSql(source.relation)} AS ${r}`,
      `WHERE ${this.materializationFilters(r, source, asOf, lower).join(' AND ')}`,
      `GROUP BY ${keys.join(', ')}`,
    ].join('\n');
  }

  // ---------------------------------------------------------------- transformation

  protected compileTransformation(plan: TransformationPlan, params: ParameterSink): string {
    const body = trimStatement(
      plan.parts.map((part) => ('table' in part ? this.quoteTable(part.table) : part.text)).join(''),
    );
    const inc = plan.incremental;
    if (inc === undefined) return body;
    const t = this.quoteIdentifier('__trellis_t');
    const wm = this.col(t, inc.watermarkColumn);
    const conditions = [`${wm} <= ${params.add(inc.until)}`];
    if (inc.since !== undefined) conditions.push(`${wm} > ${params.add(inc.since)}`);
    return `SELECT * FROM (\n${body}\n) AS ${t}\nWHERE ${conditions.join(' AND ')}`;
  }
}

/** Trims whitespace and trailing semicolons from trusted SQL before it is embedded. */
export function trimStatement(sql: string): string {
  return sql.trim().replace(/;+\s*$/u, '').trimEnd();
}

type FeatureGroup = readonly { feature: LatestValueJoin; index: number }[];

/** Features that can share one ASOF join: same relation, keys, timestamps and lag. */
function asofGroupKey(feature: LatestValueJoin): string {
  const relation = feature.source.relation;
  return JSON.stringify([
    isQueryRelation(relation) ? { sql: relation.sql } : [relation.catalog ?? null, relation.schema ?? null, relation.name],
    feature.source.keyColumns,
    feature.source.timestampColumn,
    feature.source.createdTimestampColumn ?? null,
    feature.lagSeconds,
  ]);
}

/** Groups plan features by a key, keeping first-appearance order. */
export function groupFeatures<T extends FeatureJoin>(
  items: readonly { feature: T; index: number }[],
  key: (feature: T) => string,
): { feature: T; index: number }[][] {
  const groups = new Map<string, { feature: T; index: number }[]>();
  for (const item of items) {
    const k = key(item.feature);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return [...groups.values()];
}

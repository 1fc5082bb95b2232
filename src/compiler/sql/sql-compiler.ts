import type { Plan } from '../plan/plan-nodes.js';
import type { Relation, TableRef } from '../plan/plan-types.js';
import type { ColumnDefinition } from './column-type.js';
import type { CompiledParameter, CompiledQuery } from './compiled-query.js';
import type { Dialect } from './dialect.js';

export interface CompileOptions {
  /**
   * Write parameter values into the SQL as literals instead of placeholders (default `false`). Needed where
   * an engine refuses bind parameters, e.g. `CREATE VIEW` on Postgres. Literals are escaped by the dialect.
   */
  readonly inlineParameters?: boolean;
}

/**
 * A pure SQL compiler for one dialect: plans and table operations in, frozen `{ sql, parameters }` out.
 * It never talks to a database. Every identifier it writes is validated for the dialect and quoted; an
 * identifier the dialect cannot represent safely is refused with `TRELLIS_ERR_INVALID_DEFINITION`.
 *
 * @example
 * const compiler = createSqlCompiler('duckdb');
 * const { sql, parameters } = compiler.compile(planTrainingSet(spec));
 */
export interface SqlCompiler {
  /** Tag checked instead of `instanceof`. */
  readonly kind: 'trellis.sql-compiler';
  readonly dialect: Dialect;

  /** Compiles a training-set, materialization or transformation plan to one SELECT statement. */
  compile(plan: Plan, options?: CompileOptions): CompiledQuery;

  /** Validates and quotes one identifier, e.g. `a"b` → `"a""b"` (Postgres). */
  quoteIdentifier(name: string): string;
  /** Validates and quotes a table reference, e.g. `{ schema: 's', name: 't' }` → `"s"."t"`. */
  quoteTable(table: TableRef): string;
  /** A string literal, escaped for the dialect. */
  stringLiteral(value: string): string;
  /** A literal for a parameter value (used with `inlineParameters`). */
  literal(value: CompiledParameter): string;

  /** `CREATE [OR REPLACE] [TEMPORARY] TABLE t AS <query>` (parameters kept). */
  compileCreateTableAs(table: TableRef, query: CompiledQuery, options?: { replace?: boolean; temporary?: boolean }): CompiledQuery;
  /** `CREATE [OR REPLACE] VIEW v AS <query>`; the query must have no parameters (compile it with `inlineParameters`). */
  compileCreateView(view: TableRef, query: CompiledQuery, options?: { replace?: boolean }): CompiledQuery;
  /** `INSERT INTO t [(columns)] <query>`. */
  compileInsertInto(table: TableRef, query: CompiledQuery, columns?: readonly string[]): CompiledQuery;
  /** `CREATE [TEMPORARY] TABLE [IF NOT EXISTS] t (columns)`. */
  compileCreateTable(table: TableRef, columns: readonly ColumnDefinition[], options?: { temporary?: boolean; ifNotExists?: boolean }): CompiledQuery;
  /** A parameterised multi-row `INSERT INTO t (columns) VALUES (…), (…)`. */
  compileInsertValues(table: TableRef, columns: readonly string[], rows: readonly (readonly CompiledParameter[])[]): CompiledQuery;
  /** `DROP TABLE [IF EXISTS] t`. */
  compileDropTable(table: TableRef, options?: { ifExists?: boolean }): CompiledQuery;
  /** `DROP VIEW [IF EXISTS] v`. */
  compileDropView(view: TableRef, options?: { ifExists?: boolean }): CompiledQuery;
  /** `SELECT * FROM <relation> [LIMIT n]` — for previews and column introspection of queries. */
  compileSelectAll(relation: Relation, options?: { limit?: number }): CompiledQuery;
  /** The most parameters one statement may carry (loaders batch below it). */
  readonly maxParameters: number;
  /**
   * Whether two quoted column names differing only in case name different columns (Postgres, Snowflake: yes;
   * DuckDB, BigQuery: no — they match case-insensitively).
   */
  readonly caseSensitiveIdentifiers: boolean;
}

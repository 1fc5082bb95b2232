/**
 * The output of a `SqlCompiler`: one SQL statement and its bound parameters, frozen.
 *
 * `parameters` are dialect-neutral JavaScript values — `string`, `number`, `bigint`, `boolean`, `null` and
 * `Date` (an instant; executors bind it as an ISO-8601 UTC string, which engines coerce to the compared
 * column's timestamp type). Placeholders in `sql` follow the dialect (`$1` for Postgres and DuckDB, `?` for
 * Snowflake, `@p1` for BigQuery).
 */
export interface CompiledQuery {
  readonly sql: string;
  readonly parameters: readonly CompiledParameter[];
}

export type CompiledParameter = string | number | bigint | boolean | null | Date;

export function compiledQuery(sql: string, parameters: readonly CompiledParameter[] = []): CompiledQuery {
  return Object.freeze({ sql, parameters: Object.freeze([...parameters]) });
}

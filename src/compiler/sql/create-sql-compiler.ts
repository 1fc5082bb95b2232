import { BigQuerySqlCompiler } from './bigquery/bigquery-sql-compiler.js';
import type { Dialect } from './dialect.js';
import { DuckDbSqlCompiler } from './duckdb/duckdb-sql-compiler.js';
import { PostgresSqlCompiler } from './postgres/postgres-sql-compiler.js';
import { SnowflakeSqlCompiler } from './snowflake/snowflake-sql-compiler.js';
import type { SqlCompiler } from './sql-compiler.js';

const COMPILERS = {
  postgres: () => new PostgresSqlCompiler(),
  duckdb: () => new DuckDbSqlCompiler(),
  snowflake: () => new SnowflakeSqlCompiler(),
  bigquery: () => new BigQuerySqlCompiler(),
} as const satisfies Record<Dialect, () => SqlCompiler>;

/** The built-in SQL compiler for a dialect. Compilers are stateless; one instance may be shared. */
export function createSqlCompiler(dialect: Dialect): SqlCompiler {
  const factory = COMPILERS[dialect];
  if (factory === undefined) throw new Error(`unknown SQL dialect ${JSON.stringify(dialect)}`);
  return factory();
}

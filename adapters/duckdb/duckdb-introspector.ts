import type { DuckDBConnection } from '@duckdb/node-api';
import type { SqlCompiler } from '../../src/compiler/sql/sql-compiler.js';
import { isQueryRelation } from '../../src/compiler/plan/plan-types.js';
import type { ColumnInfo, OfflineIntrospector, Relation, TableInfo } from '../../src/spi/offline-store.js';
import type { DuckDbSession } from './duckdb-executor.js';

/**
 * Each call runs on a connection of its own (like `stream`), so apply-time checks and the training-set route do
 * not queue behind a long build on the store's main connection.
 */
export class DuckDbIntrospector implements OfflineIntrospector {
  readonly #session: DuckDbSession;
  readonly #compiler: SqlCompiler;

  constructor(session: DuckDbSession, compiler: SqlCompiler) {
    this.#session = session;
    this.#compiler = compiler;
  }

  async #withConnection<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const connection = await this.#session.instance().connect();
    try {
      return await fn(connection);
    } finally {
      connection.closeSync();
    }
  }

  async listTables(options: { schema?: string } = {}): Promise<TableInfo[]> {
    return this.#withConnection(async (connection) => {
      const reader = await connection.runAndReadAll(
        `SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables
         WHERE table_catalog = current_database() AND table_schema = coalesce($1, current_schema())
         ORDER BY table_schema, table_name`,
        [options.schema ?? null],
      );
      return reader.getRowObjectsJS().map((row) => ({
        schema: String(row.table_schema),
        name: String(row.table_name),
        type: String(row.table_type) === 'VIEW' ? ('view' as const) : ('table' as const),
      }));
    });
  }

  /** Names compare case-insensitively, as DuckDB resolves quoted identifiers. */
  async columns(relation: Relation): Promise<ColumnInfo[] | undefined> {
    return this.#withConnection(async (connection) => {
      if (!isQueryRelation(relation)) {
        const reader = await connection.runAndReadAll(
          `SELECT column_name, data_type, is_nullable FROM information_schema.columns
           WHERE lower(table_catalog) = lower(coalesce($1, current_database())) AND lower(table_schema) = lower(coalesce($2, current_schema()))
             AND lower(table_name) = lower($3)
           ORDER BY ordinal_position`,
          [relation.catalog ?? null, relation.schema ?? null, relation.name],
        );
        const rows = reader.getRowObjectsJS();
        if (rows.length === 0) return undefined;
        return rows.map((row) => ({
          name: String(row.column_name),
          type: String(row.data_type),
          nullable: String(row.is_nullable) !== 'NO',
        }));
      }
      const query = this.#compiler.compileSelectAll(relation, { limit: 0 });
      try {
        const result = await connection.run(query.sql);
        return result.columnNames().map((name, i) => ({ name, type: result.columnType(i).toString(), nullable: true }));
      } catch (error) {
        throw new Error(`duckdb: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    });
  }
}

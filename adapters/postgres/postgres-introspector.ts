import { isQueryRelation } from '../../src/compiler/plan/plan-types.js';
import type { SqlCompiler } from '../../src/compiler/sql/sql-compiler.js';
import type { ColumnInfo, OfflineIntrospector, Relation, TableInfo } from '../../src/spi/offline-store.js';
import { runQuery, type PostgresSession } from './postgres-executor.js';

export class PostgresIntrospector implements OfflineIntrospector {
  readonly #session: PostgresSession;
  readonly #compiler: SqlCompiler;

  constructor(session: PostgresSession, compiler: SqlCompiler) {
    this.#session = session;
    this.#compiler = compiler;
  }

  async listTables(options: { schema?: string } = {}): Promise<TableInfo[]> {
    const { rows } = await this.#session.pool().query(
      `SELECT table_schema, table_name, table_type FROM information_schema.tables
       WHERE table_schema = coalesce($1, current_schema()) ORDER BY table_schema, table_name`,
      [options.schema ?? null],
    );
    return rows.map((row) => ({
      schema: String(row.table_schema),
      name: String(row.table_name),
      type: row.table_type === 'VIEW' ? ('view' as const) : ('table' as const),
    }));
  }

  /** Tables resolve exactly as the compiled SQL would (`to_regclass` of the quoted name, search_path included). */
  async columns(relation: Relation): Promise<ColumnInfo[] | undefined> {
    const pool = this.#session.pool();
    if (!isQueryRelation(relation)) {
      const { rows } = await pool.query(
        `SELECT r.oid IS NOT NULL AS found, a.attname, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable
         FROM (SELECT to_regclass($1) AS oid) r
         LEFT JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum`,
        [this.#compiler.quoteTable(relation)],
      );
      if (rows.length === 0 || rows[0]?.found !== true) return undefined;
      return rows
        .filter((row) => row.attname !== null)
        .map((row) => ({ name: String(row.attname), type: String(row.type), nullable: row.nullable === true }));
    }
    const result = await runQuery(pool, this.#compiler.compileSelectAll(relation, { limit: 0 }));
    const { rows: types } = await pool.query(
      'SELECT t.oid::int AS oid, format_type(t.oid, NULL) AS type FROM unnest($1::oid[]) AS t(oid)',
      [result.fields.map((f) => f.dataTypeID)],
    );
    const byOid = new Map(types.map((t) => [Number(t.oid), String(t.type)]));
    return result.fields.map((f) => ({ name: f.name, type: byOid.get(f.dataTypeID) ?? String(f.dataTypeID), nullable: true }));
  }
}

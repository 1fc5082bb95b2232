import { isQueryRelation } from '../../src/compiler/plan/plan-types.js';
import type { SqlCompiler } from '../../src/compiler/sql/sql-compiler.js';
import type { ColumnInfo, OfflineIntrospector, Relation, TableInfo } from '../../src/spi/offline-store.js';
import { execute, type SnowflakeSession } from './snowflake-executor.js';

/**
 * Introspection through the database's INFORMATION_SCHEMA. Names compare exactly (the compiler always quotes,
 * so a table Trellis created as `"events"` is `events`, not `EVENTS`).
 */
export class SnowflakeIntrospector implements OfflineIntrospector {
  readonly #session: SnowflakeSession;
  readonly #compiler: SqlCompiler;

  constructor(session: SnowflakeSession, compiler: SqlCompiler) {
    this.#session = session;
    this.#compiler = compiler;
  }

  async listTables(options: { schema?: string } = {}): Promise<TableInfo[]> {
    const schema = options.schema === undefined ? 'CURRENT_SCHEMA()' : '?';
    const { rows } = await execute(
      this.#session.connection(),
      // Snowflake lists views in information_schema.tables too; fakesnow only in .views. UNION dedupes.
      `SELECT table_schema, table_name, CASE WHEN table_type = 'VIEW' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type
         FROM information_schema.tables WHERE table_schema = ${schema}
       UNION
       SELECT table_schema, table_name, 'VIEW' FROM information_schema.views WHERE table_schema = ${schema}
       ORDER BY 1, 2`,
      options.schema === undefined ? [] : [options.schema, options.schema],
    );
    return rows.map((row) => {
      const [schemaName, name, type] = row as [string, string, string];
      return { schema: schemaName, name, type: type === 'VIEW' ? ('view' as const) : ('table' as const) };
    });
  }

  async columns(relation: Relation): Promise<ColumnInfo[] | undefined> {
    const connection = this.#session.connection();
    if (!isQueryRelation(relation)) {
      const infoSchema = relation.catalog === undefined ? 'information_schema' : `${this.#compiler.quoteIdentifier(relation.catalog)}.information_schema`;
      const parameters = relation.schema === undefined ? [relation.name] : [relation.schema, relation.name];
      const { rows } = await execute(
        connection,
        `SELECT column_name, data_type, is_nullable FROM ${infoSchema}.columns
         WHERE table_schema = ${relation.schema === undefined ? 'CURRENT_SCHEMA()' : '?'} AND table_name = ?
         ORDER BY ordinal_position`,
        parameters,
      );
      if (rows.length === 0) return undefined;
      return rows.map((row) => {
        const [name, type, nullable] = row as [string, string, string];
        return { name, type, nullable: nullable !== 'NO' };
      });
    }
    // describeOnly: Snowflake compiles the query and reports its result columns without running it.
    const query = this.#compiler.compileSelectAll(relation, { limit: 0 });
    const { statement } = await execute(connection, query.sql, [], { describeOnly: true });
    return (statement.getColumns() ?? []).map((column) => ({
      name: column.getName(),
      type: column.getType().toUpperCase(),
      nullable: column.isNullable(),
    }));
  }
}

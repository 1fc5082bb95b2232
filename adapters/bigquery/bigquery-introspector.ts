import { isQueryRelation } from '../../src/compiler/plan/plan-types.js';
import type { SqlCompiler } from '../../src/compiler/sql/sql-compiler.js';
import type { ColumnInfo, OfflineIntrospector, Relation, TableInfo } from '../../src/spi/offline-store.js';
import { startJob, type BigQuerySession } from './bigquery-executor.js';
import { bigQueryRows } from './bigquery-value-converter.js';

/** Introspection through the dataset's `INFORMATION_SCHEMA` views. */
export class BigQueryIntrospector implements OfflineIntrospector {
  readonly #session: BigQuerySession;
  readonly #compiler: SqlCompiler;

  constructor(session: BigQuerySession, compiler: SqlCompiler) {
    this.#session = session;
    this.#compiler = compiler;
  }

  /** `` `project`.`dataset`.INFORMATION_SCHEMA.<view> `` */
  #informationSchema(view: 'TABLES' | 'COLUMNS', project?: string, dataset?: string): string {
    const q = (name: string) => this.#compiler.quoteIdentifier(name);
    return `${q(project ?? this.#session.projectId)}.${q(dataset ?? this.#session.dataset)}.INFORMATION_SCHEMA.${view}`;
  }

  async listTables(options: { schema?: string } = {}): Promise<TableInfo[]> {
    const { rows, response } = await startJob(
      this.#session,
      `SELECT table_schema, table_name, table_type FROM ${this.#informationSchema('TABLES', undefined, options.schema)} ORDER BY table_name`,
      [],
      100_000,
    );
    return bigQueryRows(response.schema?.fields ?? [], rows).map((row) => ({
      schema: String(row.table_schema),
      name: String(row.table_name),
      type: row.table_type === 'VIEW' ? ('view' as const) : ('table' as const),
    }));
  }

  async columns(relation: Relation): Promise<ColumnInfo[] | undefined> {
    if (!isQueryRelation(relation)) {
      const { rows, response } = await startJob(
        this.#session,
        `SELECT column_name, data_type, is_nullable FROM ${this.#informationSchema('COLUMNS', relation.catalog, relation.schema)}
         WHERE table_name = @p1 ORDER BY ordinal_position`,
        [relation.name],
        100_000,
      );
      if (rows.length === 0) return undefined;
      return bigQueryRows(response.schema?.fields ?? [], rows).map((row) => ({
        name: String(row.column_name),
        type: String(row.data_type),
        nullable: row.is_nullable !== 'NO',
      }));
    }
    const query = this.#compiler.compileSelectAll(relation, { limit: 0 });
    const { response } = await startJob(this.#session, query.sql, [], 0);
    return (response.schema?.fields ?? []).map((field) => ({
      name: field.name,
      type: field.mode === 'REPEATED' ? `ARRAY<${field.type}>` : field.type,
      nullable: field.mode !== 'REQUIRED',
    }));
  }
}

import type { SqlCompiler } from '../../src/compiler/sql/sql-compiler.js';
import {
  loadRowsByInsert,
  offlineQueryError,
  DEFAULT_STREAM_BATCH_SIZE,
  type ColumnDefinition,
  type CompiledParameter,
  type CompiledQuery,
  type LoadMode,
  type OfflineExecutor,
  type OfflineRow,
  type RunResult,
  type StreamOptions,
  type TableRef,
} from '../../src/spi/offline-store.js';
import type { SnowflakeConnectionLike, SnowflakeExecuteOptions, SnowflakeStatementLike } from './snowflake-connection.js';
import { snowflakeBind, snowflakeRows } from './snowflake-value-converter.js';

/** Connection access shared by the Snowflake roles; owned by the store. */
export interface SnowflakeSession {
  /** The store's connection (one Snowflake session); throws once the store is closed. */
  connection(): SnowflakeConnectionLike;
}

export interface StatementResult {
  readonly statement: SnowflakeStatementLike;
  readonly rows: unknown[];
}

/** Runs one statement; resolves when Snowflake answered (with all rows unless `streamResult`). */
export function execute(
  connection: SnowflakeConnectionLike,
  sql: string,
  parameters: readonly CompiledParameter[],
  options: Omit<SnowflakeExecuteOptions, 'sqlText' | 'binds' | 'complete'> = {},
): Promise<StatementResult> {
  return new Promise((resolve, reject) => {
    try {
      connection.execute({
        sqlText: sql,
        ...(parameters.length > 0 ? { binds: parameters.map(snowflakeBind) } : {}),
        rowMode: 'array',
        fetchAsString: ['Number'],
        ...options,
        complete: (error, statement, rows) => (error ? reject(wrapError(error, sql)) : resolve({ statement, rows: rows ?? [] })),
      });
    } catch (error) {
      reject(wrapError(error, sql));
    }
  });
}

export function wrapError(error: unknown, sql: string): Error {
  return offlineQueryError('snowflake', error, sql);
}

export class SnowflakeExecutor implements OfflineExecutor {
  readonly #session: SnowflakeSession;
  readonly #compiler: SqlCompiler;

  constructor(session: SnowflakeSession, compiler: SqlCompiler) {
    this.#session = session;
    this.#compiler = compiler;
  }

  async run(query: CompiledQuery): Promise<RunResult> {
    const { statement } = await execute(this.#session.connection(), query.sql, query.parameters);
    const updated = statement.getNumUpdatedRows();
    return { rowsAffected: typeof updated === 'number' && Number.isFinite(updated) ? updated : undefined };
  }

  async query<T extends OfflineRow = OfflineRow>(query: CompiledQuery): Promise<T[]> {
    const { statement, rows } = await execute(this.#session.connection(), query.sql, query.parameters);
    return snowflakeRows(statement.getColumns() ?? [], rows) as T[];
  }

  /**
   * `streamResult: true`: Snowflake sends the first chunk with the response and the SDK downloads further
   * result chunks as the row stream is read, so a slow consumer holds at most a chunk plus one batch.
   */
  async *stream<T extends OfflineRow = OfflineRow>(query: CompiledQuery, options: StreamOptions = {}): AsyncGenerator<T[]> {
    const batchSize = options.batchSize ?? DEFAULT_STREAM_BATCH_SIZE;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new Error(`invalid batchSize ${batchSize}`);
    const signal = options.signal;
    signal?.throwIfAborted();
    const connection = this.#session.connection();
    const { statement } = await execute(connection, query.sql, query.parameters, { streamResult: true });
    const columns = statement.getColumns() ?? [];
    const rows = statement.streamRows();
    let finished = false;
    const onAbort = () => {
      statement.cancel(() => undefined);
      rows.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let batch: unknown[] = [];
      for await (const row of rows) {
        batch.push(row);
        if (batch.length === batchSize) {
          signal?.throwIfAborted();
          yield snowflakeRows(columns, batch) as T[];
          batch = [];
        }
      }
      signal?.throwIfAborted();
      finished = true;
      if (batch.length > 0) yield snowflakeRows(columns, batch) as T[];
    } catch (error) {
      signal?.throwIfAborted();
      throw wrapError(error, query.sql);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!finished) {
        rows.destroy();
        statement.cancel(() => undefined);
      }
    }
  }

  async createTableAs(table: TableRef, query: CompiledQuery, options: { replace?: boolean; temporary?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileCreateTableAs(table, query, { replace: options.replace ?? false, temporary: options.temporary ?? false }));
  }

  async createView(view: TableRef, query: CompiledQuery, options: { replace?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileCreateView(view, query, options));
  }

  async loadRows(
    table: TableRef,
    columns: readonly ColumnDefinition[],
    rows: Iterable<readonly CompiledParameter[]> | AsyncIterable<readonly CompiledParameter[]>,
    options: { mode?: LoadMode } = {},
  ): Promise<number> {
    return loadRowsByInsert(this.#compiler, (query) => this.run(query), table, columns, rows, {
      ...options,
      insert: (batch, names) => this.run(this.#compiler.compileInsertValues(table, names, batch.map((row) => row.map((v, i) => loadValue(v, columns[i]))))),
    });
  }

  async dropTable(table: TableRef, options: { ifExists?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileDropTable(table, { ifExists: options.ifExists ?? true }));
  }

  async dropView(view: TableRef, options: { ifExists?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileDropView(view, { ifExists: options.ifExists ?? true }));
  }
}

/**
 * A loaded value as text Snowflake casts exactly into the column: a `timestamp` (TIMESTAMP_NTZ) column gets
 * the UTC wall-clock time without a zone, so no session time zone can shift it.
 */
function loadValue(value: CompiledParameter, column: ColumnDefinition | undefined): CompiledParameter {
  if (!(value instanceof Date) || column === undefined) return value;
  const iso = value.toISOString();
  return column.type === 'timestamp' ? iso.slice(0, -1).replace('T', ' ') : column.type === 'date' ? iso.slice(0, 10) : iso;
}

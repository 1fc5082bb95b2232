import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import type { SqlCompiler } from '../../src/compiler/sql/sql-compiler.js';
import {
  loadRowsByInsert,
  offlineQueryError,
  bindParameter,
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
import { duckDbValueConverter } from './duckdb-value-converter.js';

/** Connection access shared by the DuckDB roles; owned by the store. */
export interface DuckDbSession {
  /** Runs `fn` on the store's main connection, one call at a time. */
  withConnection<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T>;
  /** A fresh connection (for streams, which must not share the main connection). */
  instance(): DuckDBInstance;
  assertOpen(): void;
}

export function bindValues(parameters: readonly CompiledParameter[]): DuckDBValue[] {
  return parameters.map((p) => bindParameter(p) as DuckDBValue);
}

function rowObjects(names: readonly string[], rows: readonly unknown[][]): OfflineRow[] {
  return rows.map((row) => {
    const object: OfflineRow = {};
    names.forEach((name, i) => {
      object[name] = row[i] as OfflineRow[string];
    });
    return object;
  });
}

function wrapError(error: unknown, sql: string): Error {
  return offlineQueryError('duckdb', error, sql);
}

export class DuckDbExecutor implements OfflineExecutor {
  readonly #session: DuckDbSession;
  readonly #compiler: SqlCompiler;

  constructor(session: DuckDbSession, compiler: SqlCompiler) {
    this.#session = session;
    this.#compiler = compiler;
  }

  async run(query: CompiledQuery): Promise<RunResult> {
    return this.#session.withConnection(async (connection) => {
      try {
        const result = await connection.run(query.sql, bindValues(query.parameters));
        return { rowsAffected: result.rowsChanged };
      } catch (error) {
        throw wrapError(error, query.sql);
      }
    });
  }

  async query<T extends OfflineRow = OfflineRow>(query: CompiledQuery): Promise<T[]> {
    return this.#session.withConnection(async (connection) => {
      try {
        const reader = await connection.runAndReadAll(query.sql, bindValues(query.parameters));
        return rowObjects(reader.columnNames(), reader.convertRows(duckDbValueConverter)) as T[];
      } catch (error) {
        throw wrapError(error, query.sql);
      }
    });
  }

  async *stream<T extends OfflineRow = OfflineRow>(query: CompiledQuery, options: StreamOptions = {}): AsyncGenerator<T[]> {
    this.#session.assertOpen();
    const batchSize = options.batchSize ?? DEFAULT_STREAM_BATCH_SIZE;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new Error(`invalid batchSize ${batchSize}`);
    const signal = options.signal;
    signal?.throwIfAborted();
    const connection = await this.#session.instance().connect();
    const onAbort = () => connection.interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let result;
      try {
        result = await connection.stream(query.sql, bindValues(query.parameters));
      } catch (error) {
        throw wrapError(error, query.sql);
      }
      const names = result.columnNames();
      let batch: OfflineRow[] = [];
      for (;;) {
        signal?.throwIfAborted();
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        for (const row of rowObjects(names, chunk.convertRows(duckDbValueConverter))) {
          batch.push(row);
          if (batch.length === batchSize) {
            yield batch as T[];
            batch = [];
            signal?.throwIfAborted();
          }
        }
      }
      signal?.throwIfAborted();
      if (batch.length > 0) yield batch as T[];
    } finally {
      signal?.removeEventListener('abort', onAbort);
      connection.closeSync();
    }
  }

  async createTableAs(table: TableRef, query: CompiledQuery, options: { replace?: boolean; temporary?: boolean } = {}): Promise<void> {
    if (options.temporary) {
      throw new Error('duckdb: temporary tables are per connection and streams use their own connections; use a regular table');
    }
    await this.run(this.#compiler.compileCreateTableAs(table, query, { replace: options.replace ?? false }));
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
    return loadRowsByInsert(this.#compiler, (query) => this.run(query), table, columns, rows, options);
  }

  async dropTable(table: TableRef, options: { ifExists?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileDropTable(table, { ifExists: options.ifExists ?? true }));
  }

  async dropView(view: TableRef, options: { ifExists?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileDropView(view, { ifExists: options.ifExists ?? true }));
  }
}

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
import type { PgClientLike, PgPoolLike, PgQueryResult } from './postgres-connection.js';

/** Pool access shared by the Postgres roles; owned by the store. */
export interface PostgresSession {
  pool(): PgPoolLike;
}

function wrapError(error: unknown, sql: string): Error {
  return offlineQueryError('postgres', error, sql);
}

export async function runQuery(pool: PgPoolLike | PgClientLike, query: CompiledQuery): Promise<PgQueryResult> {
  try {
    return await pool.query(query.sql, query.parameters.map(bindParameter));
  } catch (error) {
    throw wrapError(error, query.sql);
  }
}

export class PostgresExecutor implements OfflineExecutor {
  readonly #session: PostgresSession;
  readonly #compiler: SqlCompiler;

  constructor(session: PostgresSession, compiler: SqlCompiler) {
    this.#session = session;
    this.#compiler = compiler;
  }

  async run(query: CompiledQuery): Promise<RunResult> {
    const result = await runQuery(this.#session.pool(), query);
    return { rowsAffected: result.rowCount ?? undefined };
  }

  async query<T extends OfflineRow = OfflineRow>(query: CompiledQuery): Promise<T[]> {
    return (await runQuery(this.#session.pool(), query)).rows as T[];
  }

  /** A server-side cursor in a read-only transaction on a dedicated connection; one `FETCH` per batch. */
  async *stream<T extends OfflineRow = OfflineRow>(query: CompiledQuery, options: StreamOptions = {}): AsyncGenerator<T[]> {
    const batchSize = options.batchSize ?? DEFAULT_STREAM_BATCH_SIZE;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new Error(`invalid batchSize ${batchSize}`);
    const signal = options.signal;
    signal?.throwIfAborted();
    const client = await this.#session.pool().connect();
    // Between FETCHes the checked-out client is idle: a server restart or a killed backend then emits 'error' on
    // it, which would crash the process without a listener (the pool listens only while the client is idle in
    // the pool). The next FETCH rejects anyway, and release(true) discards the client.
    let inTransaction = false;
    let broken = false;
    const onError = () => {
      broken = true;
    };
    client.on?.('error', onError);
    try {
      await client.query('BEGIN READ ONLY');
      inTransaction = true;
      try {
        await client.query(`DECLARE "__trellis_cursor" NO SCROLL CURSOR FOR ${query.sql}`, query.parameters.map(bindParameter));
      } catch (error) {
        throw wrapError(error, query.sql);
      }
      for (;;) {
        signal?.throwIfAborted();
        const result = await client.query(`FETCH FORWARD ${batchSize} FROM "__trellis_cursor"`);
        if (result.rows.length > 0) yield result.rows as T[];
        if (result.rows.length < batchSize) break;
      }
      await client.query('COMMIT');
      inTransaction = false;
    } finally {
      // Errors, aborts and an early `return()` from the consumer land here with the transaction open.
      if (inTransaction) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
      }
      client.off?.('error', onError);
      client.release(broken);
    }
  }

  async createTableAs(table: TableRef, query: CompiledQuery, options: { replace?: boolean; temporary?: boolean } = {}): Promise<void> {
    if (options.temporary) {
      throw new Error('postgres: temporary tables live in one pooled session; use a regular table');
    }
    if (options.replace) await this.dropTable(table, { ifExists: true });
    await this.run(this.#compiler.compileCreateTableAs(table, query));
  }

  async createView(view: TableRef, query: CompiledQuery, options: { replace?: boolean } = {}): Promise<void> {
    if (options.replace) await this.dropView(view, { ifExists: true });
    await this.run(this.#compiler.compileCreateView(view, query));
  }

  async loadRows(
    table: TableRef,
    columns: readonly ColumnDefinition[],
    rows: Iterable<readonly CompiledParameter[]> | AsyncIterable<readonly CompiledParameter[]>,
    options: { mode?: LoadMode } = {},
  ): Promise<number> {
    const client = await this.#session.pool().connect();
    try {
      await client.query('BEGIN');
      const count = await loadRowsByInsert(this.#compiler, (query) => runQuery(client, query), table, columns, rows, { ...options, maxRows: 5000 });
      await client.query('COMMIT');
      return count;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async dropTable(table: TableRef, options: { ifExists?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileDropTable(table, { ifExists: options.ifExists ?? true }));
  }

  async dropView(view: TableRef, options: { ifExists?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileDropView(view, { ifExists: options.ifExists ?? true }));
  }
}

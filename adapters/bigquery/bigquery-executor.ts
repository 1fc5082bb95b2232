import type { ColumnType } from '../../src/compiler/sql/column-type.js';
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
import type { BigQueryClientLike, BigQueryField, BigQueryJobLike, BigQueryQueryResponse } from './bigquery-client.js';
import { bigQueryParameter, bigQueryRows } from './bigquery-value-converter.js';

/** Client access shared by the BigQuery roles; owned by the store. */
export interface BigQuerySession {
  /** The client; throws once the store is closed. */
  client(): BigQueryClientLike;
  readonly projectId: string;
  readonly dataset: string;
  readonly location: string | undefined;
}

/** Rows per results page the executor asks for when nobody asked for batches. */
const QUERY_PAGE_ROWS = 50_000;

/** A query job and its first (or only) page. */
export interface JobPage {
  readonly job: BigQueryJobLike;
  readonly rows: unknown[];
  readonly response: BigQueryQueryResponse;
}

export function wrapError(error: unknown, sql: string): Error {
  return offlineQueryError('bigquery', error, sql);
}

/**
 * Starts a query job (`jobs.insert`) with the store's default dataset and named parameters `p1…pN` (the
 * compiler's `@pN` placeholders), then reads its first page of raw rows, waiting for the job to finish.
 */
export async function startJob(
  session: BigQuerySession,
  sql: string,
  parameters: readonly CompiledParameter[],
  pageRows: number,
  columnTypes?: readonly (ColumnType | undefined)[],
): Promise<JobPage> {
  const client = session.client();
  try {
    const [job] = await client.createQueryJob({
      query: sql,
      useLegacySql: false,
      defaultDataset: { projectId: session.projectId, datasetId: session.dataset },
      ...(session.location === undefined ? {} : { location: session.location }),
      ...(parameters.length === 0
        ? {}
        : { parameterMode: 'NAMED' as const, queryParameters: parameters.map((v, i) => bigQueryParameter(`p${i + 1}`, v, columnTypes?.[i])) }),
    });
    const page = await nextPage(job, pageRows, undefined);
    return { job, ...page };
  } catch (error) {
    throw wrapError(error, sql);
  }
}

/** One page of raw rows; polls while the job runs (`jobComplete: false`). */
export async function nextPage(job: BigQueryJobLike, pageRows: number, pageToken: string | undefined): Promise<{ rows: unknown[]; response: BigQueryQueryResponse }> {
  for (;;) {
    const [rows, , response = {}] = await job.getQueryResults({
      maxResults: pageRows,
      ...(pageToken === undefined ? {} : { pageToken }),
      timeoutMs: 60_000,
      autoPaginate: false,
      skipParsing: true,
    });
    if (response.jobComplete !== false) return { rows, response };
  }
}

export class BigQueryExecutor implements OfflineExecutor {
  readonly #session: BigQuerySession;
  readonly #compiler: SqlCompiler;

  constructor(session: BigQuerySession, compiler: SqlCompiler) {
    this.#session = session;
    this.#compiler = compiler;
  }

  async run(query: CompiledQuery): Promise<RunResult> {
    return this.#run(query);
  }

  async #run(query: CompiledQuery, columnTypes?: readonly (ColumnType | undefined)[]): Promise<RunResult> {
    const { response } = await startJob(this.#session, query.sql, query.parameters, 0, columnTypes);
    const affected = response.numDmlAffectedRows;
    return { rowsAffected: affected === undefined ? undefined : Number(affected) };
  }

  async query<T extends OfflineRow = OfflineRow>(query: CompiledQuery): Promise<T[]> {
    const all: T[] = [];
    for await (const batch of this.#pages<T>(query, QUERY_PAGE_ROWS)) all.push(...batch);
    return all;
  }

  /**
   * One `jobs.getQueryResults` page per batch, fetched only when the consumer asks for the next batch; pages
   * BigQuery cuts short (about 10 MB) are topped up from the next page, so every batch but the last is full.
   */
  async *stream<T extends OfflineRow = OfflineRow>(query: CompiledQuery, options: StreamOptions = {}): AsyncGenerator<T[]> {
    const batchSize = options.batchSize ?? DEFAULT_STREAM_BATCH_SIZE;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new Error(`invalid batchSize ${batchSize}`);
    const signal = options.signal;
    signal?.throwIfAborted();
    let batch: T[] = [];
    for await (const page of this.#pages<T>(query, batchSize, signal)) {
      for (const row of page) {
        batch.push(row);
        if (batch.length === batchSize) {
          yield batch;
          batch = [];
          signal?.throwIfAborted();
        }
      }
    }
    if (batch.length > 0) yield batch;
  }

  async *#pages<T extends OfflineRow>(query: CompiledQuery, pageRows: number, signal?: AbortSignal): AsyncGenerator<T[]> {
    const first = await startJob(this.#session, query.sql, query.parameters, pageRows);
    const job = first.job;
    let done = false;
    const onAbort = () => void job.cancel().catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let { rows, response } = first;
      const fields: readonly BigQueryField[] = response.schema?.fields ?? [];
      for (;;) {
        signal?.throwIfAborted();
        if (rows.length > 0) yield bigQueryRows(fields, rows) as T[];
        const token = response.pageToken;
        if (token === undefined || token === '') break;
        signal?.throwIfAborted();
        try {
          ({ rows, response } = await nextPage(job, pageRows, token));
        } catch (error) {
          throw wrapError(error, query.sql);
        }
      }
      done = true;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!done && !signal?.aborted) void job.cancel().catch(() => undefined);
    }
  }

  async createTableAs(table: TableRef, query: CompiledQuery, options: { replace?: boolean; temporary?: boolean } = {}): Promise<void> {
    if (options.temporary) {
      throw new Error('bigquery: temporary tables exist only inside a multi-statement query or session; use a regular table');
    }
    await this.run(this.#compiler.compileCreateTableAs(table, query, { replace: options.replace ?? false }));
  }

  async createView(view: TableRef, query: CompiledQuery, options: { replace?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileCreateView(view, query, options));
  }

  /**
   * Multi-row `INSERT … VALUES` with parameters typed from `columns` (DATETIME for `timestamp`, TIMESTAMP for
   * `timestamptz`, …). Fine for entity spines and test data; bulk loads belong in a load job.
   */
  async loadRows(
    table: TableRef,
    columns: readonly ColumnDefinition[],
    rows: Iterable<readonly CompiledParameter[]> | AsyncIterable<readonly CompiledParameter[]>,
    options: { mode?: LoadMode } = {},
  ): Promise<number> {
    return loadRowsByInsert(this.#compiler, (query) => this.run(query), table, columns, rows, {
      ...options,
      insert: (batch, names) => this.#run(this.#compiler.compileInsertValues(table, names, batch), batch.flatMap(() => columns.map((c) => c.type))),
    });
  }

  async dropTable(table: TableRef, options: { ifExists?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileDropTable(table, { ifExists: options.ifExists ?? true }));
  }

  async dropView(view: TableRef, options: { ifExists?: boolean } = {}): Promise<void> {
    await this.run(this.#compiler.compileDropView(view, { ifExists: options.ifExists ?? true }));
  }
}

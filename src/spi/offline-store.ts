/**
 * The offline store contract: a warehouse (Postgres, DuckDB, Snowflake, BigQuery, or a plugin) that holds
 * sources and computes transformations, training sets and materializations from SQL Trellis compiles.
 *
 * An offline store is a factory of small roles (STYLE 1):
 * - `compiler` — pure: plans in, frozen `{ sql, parameters }` out (see src/compiler);
 * - `executor` — runs statements, returns or streams rows, creates tables/views, loads rows;
 * - `introspector` — lists tables and their columns, so apply can refuse a missing table or column.
 * The coordinator uses the roles and never imports a vendor SDK; adapters never leak SDK types into this file.
 * Objects are recognised by their `kind` tag, never `instanceof` (a plugin may bundle its own copy).
 *
 * @example
 * ```ts
 * import type { OfflineStore } from '../src/spi/offline-store.js';
 * import { planTrainingSet, type TrainingSetSpec } from '../src/compiler/index.js';
 *
 * async function* trainingRows(store: OfflineStore, spec: TrainingSetSpec) {
 *   const query = store.compiler.compile(planTrainingSet(spec));
 *   for await (const batch of store.executor.stream(query, { batchSize: 10_000 })) yield* batch;
 * }
 * ```
 */
import type { Relation, TableRef } from '../compiler/plan/plan-types.js';
import type { ColumnDefinition } from '../compiler/sql/column-type.js';
import type { CompiledParameter, CompiledQuery } from '../compiler/sql/compiled-query.js';
import type { Dialect } from '../compiler/sql/dialect.js';
import type { SqlCompiler } from '../compiler/sql/sql-compiler.js';

export type { ColumnDefinition, ColumnType } from '../compiler/sql/column-type.js';
export type { CompiledParameter, CompiledQuery } from '../compiler/sql/compiled-query.js';
export type { Dialect } from '../compiler/sql/dialect.js';
export type { SqlCompiler } from '../compiler/sql/sql-compiler.js';
export type { QueryRelation, Relation, TableRef } from '../compiler/plan/plan-types.js';

/** The `kind` tag of every offline store; checked by {@link isOfflineStore} instead of `instanceof`. */
export const OFFLINE_STORE_KIND = 'trellis.offline-store';

/**
 * A value in a result row, by SQL type (the same on every adapter, so results compare across dialects):
 * - integers (`smallint` … `bigint`, DuckDB `HUGEINT`): a number when it is a safe integer, otherwise its exact
 *   decimal string;
 * - `real`/`double`: number; exact decimals (`numeric`, `DECIMAL`): the exact decimal string;
 * - `boolean`: boolean; text types: string;
 * - `timestamp` (without zone, read as UTC) and `timestamptz`: Date (millisecond precision; finer is truncated);
 *   ±infinity: the strings `'infinity'` / `'-infinity'`;
 * - `date`: `'YYYY-MM-DD'`;
 * - arrays/lists: arrays of these values; anything else: a JSON-compatible value or a string;
 * - SQL NULL: null.
 */
export type OfflineValue = string | number | boolean | Date | null | readonly OfflineValue[] | { readonly [key: string]: OfflineValue };

/** One result row keyed by output column name. */
export type OfflineRow = Record<string, OfflineValue>;

/** Result of {@link OfflineExecutor.run}. */
export interface RunResult {
  /** Rows inserted/updated/deleted when the engine reports it, otherwise undefined. */
  readonly rowsAffected: number | undefined;
}

/** Options of {@link OfflineExecutor.stream}. */
export interface StreamOptions {
  /** Rows per yielded batch (default 10 000; the last batch may be smaller; empty batches are never yielded). */
  readonly batchSize?: number;
  /** Aborting stops the query and ends the iteration with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** How {@link OfflineExecutor.loadRows} treats the target table. */
export type LoadMode = 'create' | 'replace' | 'append';

/**
 * Runs compiled SQL. Every method rejects with an error carrying the engine's message (and the engine error as
 * `cause`); none retries on its own.
 */
export interface OfflineExecutor {
  /** Runs one statement that returns no rows of interest (DDL, INSERT …). */
  run(query: CompiledQuery): Promise<RunResult>;

  /** Runs one query and returns all its rows (use {@link stream} for large results). */
  query<T extends OfflineRow = OfflineRow>(query: CompiledQuery): Promise<T[]>;

  /**
   * Runs one query and yields its rows in batches, with backpressure: the next batch is fetched from the engine
   * only when the consumer asks for it, so memory stays bounded by `batchSize`. Breaking out of the loop (or
   * `return()` on the iterator) releases the cursor/connection.
   */
  stream<T extends OfflineRow = OfflineRow>(query: CompiledQuery, options?: StreamOptions): AsyncIterable<T[]>;

  /** `CREATE [OR REPLACE] [TEMPORARY] TABLE table AS query`. `replace` drops an existing table first. */
  createTableAs(table: TableRef, query: CompiledQuery, options?: { replace?: boolean; temporary?: boolean }): Promise<void>;

  /**
   * `CREATE [OR REPLACE] VIEW view AS query`. A view cannot take bind parameters: compile its query with
   * `{ inlineParameters: true }`.
   */
  createView(view: TableRef, query: CompiledQuery, options?: { replace?: boolean }): Promise<void>;

  /**
   * Loads rows (value arrays in `columns` order) into `table`: `create` (default) creates the table and fails if
   * it exists, `replace` drops and recreates it, `append` inserts into an existing table. Used for entity spines
   * and test data; values follow {@link CompiledParameter} (Date for timestamps). Returns the number of rows.
   */
  loadRows(
    table: TableRef,
    columns: readonly ColumnDefinition[],
    rows: Iterable<readonly CompiledParameter[]> | AsyncIterable<readonly CompiledParameter[]>,
    options?: { mode?: LoadMode },
  ): Promise<number>;

  /** Drops a table (`ifExists` default true). */
  dropTable(table: TableRef, options?: { ifExists?: boolean }): Promise<void>;

  /** Drops a view (`ifExists` default true). */
  dropView(view: TableRef, options?: { ifExists?: boolean }): Promise<void>;
}

/** A column as the engine reports it. */
export interface ColumnInfo {
  readonly name: string;
  /** The engine's type name, e.g. `bigint`, `TIMESTAMP WITH TIME ZONE`, `VARCHAR`. */
  readonly type: string;
  /** Whether the column may hold NULL (true when unknown). */
  readonly nullable: boolean;
}

/** A table or view the introspector found. */
export interface TableInfo extends TableRef {
  readonly type: 'table' | 'view';
}

/** Answers schema questions, so apply can refuse a feature whose table or column does not exist. */
export interface OfflineIntrospector {
  /**
   * Tables and views visible to the store. `schema` limits the listing to one schema (default: the store's
   * default schema). System schemas are never listed.
   */
  listTables(options?: { schema?: string }): Promise<TableInfo[]>;

  /**
   * Columns of a table/view (in ordinal order) or of a query relation (its result columns). Resolves to
   * `undefined` when the table does not exist; a query that does not compile rejects with the engine's message.
   */
  columns(relation: Relation): Promise<ColumnInfo[] | undefined>;
}

/**
 * Capability flags. All optional and read-only; {@link OfflineStoreBase} supplies the documented defaults, so a
 * flag added later never breaks an adapter.
 */
export interface OfflineCapabilities {
  /** The engine has an ASOF join the compiler uses for point-in-time joins. Default false. */
  readonly supportsAsofJoin?: boolean;
  /** Temporary (session) tables are available through `createTableAs({ temporary: true })`. Default false. */
  readonly supportsTemporaryTables?: boolean;
  /** Views can be created (`createView`). Default true. */
  readonly supportsViews?: boolean;
  /** Data survives closing the store (a file or a server, not `:memory:`). Default true. */
  readonly supportsPersistence?: boolean;
  /** Several processes may use the same data at once. Default true. */
  readonly supportsSharedAccess?: boolean;
}

/**
 * An offline store: the three roles plus capability flags.
 *
 * Lifecycle: ready to use when the factory resolves; {@link close} releases connections/files; every method of
 * every role rejects after `close()`.
 */
export interface OfflineStore extends OfflineCapabilities {
  /** Always {@link OFFLINE_STORE_KIND}. */
  readonly kind: typeof OFFLINE_STORE_KIND;
  /** The adapter id (kebab-case), e.g. `duckdb`, `postgres`. */
  readonly adapterId: string;
  /** The SQL dialect of {@link compiler}. */
  readonly dialect: Dialect;
  readonly compiler: SqlCompiler;
  readonly executor: OfflineExecutor;
  readonly introspector: OfflineIntrospector;
  /** Releases connections and files. Idempotent. */
  close(): Promise<void>;
}

/**
 * Abstract base for offline stores: supplies {@link OFFLINE_STORE_KIND} and the capability defaults. Override a
 * flag with `override get supportsX() { return true; }`.
 */
export abstract class OfflineStoreBase implements OfflineStore {
  readonly kind = OFFLINE_STORE_KIND;
  abstract readonly adapterId: string;
  abstract readonly dialect: Dialect;
  abstract readonly compiler: SqlCompiler;
  abstract readonly executor: OfflineExecutor;
  abstract readonly introspector: OfflineIntrospector;
  abstract close(): Promise<void>;

  get supportsAsofJoin(): boolean {
    return false;
  }
  get supportsTemporaryTables(): boolean {
    return false;
  }
  get supportsViews(): boolean {
    return true;
  }
  get supportsPersistence(): boolean {
    return true;
  }
  get supportsSharedAccess(): boolean {
    return true;
  }
}

/** Whether `value` is an offline store (tag check; works across bundled copies of the SPI). */
export function isOfflineStore(value: unknown): value is OfflineStore {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === OFFLINE_STORE_KIND;
}

/** Default rows per batch of {@link OfflineExecutor.stream}. */
export const DEFAULT_STREAM_BATCH_SIZE = 10_000;

/**
 * Turns an engine integer into the offline value model: a number when safe, otherwise its decimal string.
 * Shared by adapters so every store answers the same.
 */
export function offlineInteger(value: bigint | number): number | string {
  if (typeof value === 'number') return value;
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** Binds a compiled parameter for engines that take text timestamps: Date → ISO-8601 UTC string. */
export function bindParameter(value: CompiledParameter): string | number | bigint | boolean | null {
  return value instanceof Date ? value.toISOString() : value;
}

/**
 * The apply-time check: which of `columns` the relation lacks, or `undefined` when the table itself does not
 * exist. Names compare as the compiled (always quoted) SQL will resolve them: exactly where the dialect's
 * quoted identifiers are case-sensitive (`compiler.caseSensitiveIdentifiers`), case-insensitively otherwise.
 *
 * @example
 * const missing = await missingColumns(store, { name: 'events' }, ['user_id', 'ts', 'clicks']);
 * if (missing === undefined) throw invalidDefinition('/source/relation', 'table events does not exist');
 * if (missing.length > 0) throw invalidDefinition('/valueColumn', `column ${missing[0]} does not exist`);
 */
export async function missingColumns(
  store: Pick<OfflineStore, 'introspector' | 'compiler'>,
  relation: Relation,
  columns: readonly string[],
): Promise<string[] | undefined> {
  const found = await store.introspector.columns(relation);
  if (found === undefined) return undefined;
  const fold = store.compiler.caseSensitiveIdentifiers ? (name: string) => name : (name: string) => name.toLowerCase();
  const names = new Set(found.map((c) => fold(c.name)));
  return [...new Set(columns)].filter((c) => !names.has(fold(c)));
}

/**
 * For adapters whose `loadRows` has no bulk-load path: feeds `rows` to `insert` in batches sized so one
 * multi-row `INSERT … VALUES` stays within the dialect's parameter limit (and at most `maxRows` rows).
 * Resolves to the number of rows inserted.
 *
 * @example
 * const count = await insertInBatches(rows, compiler.maxParameters, columns.length, 1000,
 *   (batch) => executor.run(compiler.compileInsertValues(table, names, batch)));
 */
export async function insertInBatches(
  rows: Iterable<readonly CompiledParameter[]> | AsyncIterable<readonly CompiledParameter[]>,
  maxParameters: number,
  columnCount: number,
  maxRows: number,
  insert: (batch: (readonly CompiledParameter[])[]) => Promise<unknown>,
): Promise<number> {
  const perStatement = Math.max(1, Math.min(maxRows, Math.floor(maxParameters / Math.max(1, columnCount))));
  let buffer: (readonly CompiledParameter[])[] = [];
  let count = 0;
  for await (const row of rows) {
    buffer.push(row);
    if (buffer.length >= perStatement) {
      await insert(buffer);
      count += buffer.length;
      buffer = [];
    }
  }
  if (buffer.length > 0) {
    await insert(buffer);
    count += buffer.length;
  }
  return count;
}

/**
 * `loadRows` for adapters without a bulk-load path: for mode `replace` drops the table, for `create` and
 * `replace` creates it from `columns`, then inserts the rows with multi-row `INSERT … VALUES` in batches
 * ({@link insertInBatches}). `run` executes each statement (an adapter passes its transaction's client to keep
 * it atomic); `insert` overrides how a batch is inserted (e.g. typed parameters or converted values).
 * Resolves to the number of rows inserted.
 */
export async function loadRowsByInsert(
  compiler: Pick<SqlCompiler, 'compileDropTable' | 'compileCreateTable' | 'compileInsertValues' | 'maxParameters'>,
  run: (query: CompiledQuery) => Promise<unknown>,
  table: TableRef,
  columns: readonly ColumnDefinition[],
  rows: Iterable<readonly CompiledParameter[]> | AsyncIterable<readonly CompiledParameter[]>,
  options: { mode?: LoadMode; maxRows?: number; insert?: (batch: (readonly CompiledParameter[])[], names: readonly string[]) => Promise<unknown> } = {},
): Promise<number> {
  const mode = options.mode ?? 'create';
  if (mode === 'replace') await run(compiler.compileDropTable(table, { ifExists: true }));
  if (mode !== 'append') await run(compiler.compileCreateTable(table, columns));
  const names = columns.map((c) => c.name);
  const insert = options.insert ?? ((batch) => run(compiler.compileInsertValues(table, names, batch)));
  return insertInBatches(rows, compiler.maxParameters, names.length, options.maxRows ?? 1000, (batch) => insert(batch, names));
}

/**
 * The error an executor raises when a statement fails: `<adapter>: <message>` plus the statement (cut at 2,000
 * characters), with the driver's error as `cause` so callers can still classify it (SQLSTATE, network codes).
 */
export function offlineQueryError(adapterId: string, error: unknown, sql: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`${adapterId}: ${message}\n-- while running:\n${sql.length > 2000 ? `${sql.slice(0, 2000)}…` : sql}`, { cause: error });
}

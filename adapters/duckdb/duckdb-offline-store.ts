import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DuckDbSqlCompiler } from '../../src/compiler/sql/duckdb/duckdb-sql-compiler.js';
import { OfflineStoreBase } from '../../src/spi/offline-store.js';
import { DuckDbExecutor, type DuckDbSession } from './duckdb-executor.js';
import { DuckDbIntrospector } from './duckdb-introspector.js';

/** Configuration of the embedded DuckDB offline store. */
export interface DuckDbOfflineStoreConfig {
  /** Database file, or `':memory:'` for a throw-away database. */
  readonly path: string;
  /** DuckDB settings passed when the database is opened, e.g. `{ threads: '4', memory_limit: '2GB' }`. */
  readonly settings?: Readonly<Record<string, string>>;
}

/**
 * DuckDB instances by database file in this process: two instances on one file in one process would both write
 * it (its lock is per process), so stores on the same file share one instance and the last `close()` closes it.
 * The settings of the first store to open a file apply.
 */
const sharedInstances = new Map<string, { instance: Promise<DuckDBInstance>; opened?: DuckDBInstance; stores: number }>();

async function acquireInstance(file: string, settings: Record<string, string>): Promise<{ instance: DuckDBInstance; release: () => void }> {
  if (file === ':memory:') {
    const instance = await DuckDBInstance.create(file, settings);
    return { instance, release: () => instance.closeSync() };
  }
  const key = path.resolve(file);
  let entry = sharedInstances.get(key);
  if (!entry) {
    const created: { instance: Promise<DuckDBInstance>; opened?: DuckDBInstance; stores: number } = { instance: DuckDBInstance.create(file, settings), stores: 0 };
    created.instance.then(
      (instance) => (created.opened = instance),
      () => sharedInstances.get(key) === created && sharedInstances.delete(key),
    );
    sharedInstances.set(key, created);
    entry = created;
  }
  entry.stores++;
  const shared = entry;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    if (--shared.stores > 0) return;
    if (sharedInstances.get(key) === shared) sharedInstances.delete(key);
    // Closed synchronously (as before sharing), so the file is free when close() resolves.
    if (shared.opened) shared.opened.closeSync();
    else void shared.instance.then((instance) => instance.closeSync(), () => {});
  };
  try {
    return { instance: await shared.instance, release };
  } catch (error) {
    release();
    throw error;
  }
}

/**
 * The embedded default warehouse. One database instance per file (shared by stores on the same file); a main connection serves `run`, `query`,
 * DDL and introspection one call at a time, and each `stream` opens its own connection (a DuckDB streaming
 * result is invalidated by the next query on its connection).
 */
export class DuckDbOfflineStore extends OfflineStoreBase {
  readonly adapterId = 'duckdb';
  readonly dialect = 'duckdb' as const;
  readonly compiler = new DuckDbSqlCompiler();
  readonly executor: DuckDbExecutor;
  readonly introspector: DuckDbIntrospector;
  readonly #config: DuckDbOfflineStoreConfig;
  readonly #instance: DuckDBInstance;
  readonly #releaseInstance: () => void;
  readonly #connection: DuckDBConnection;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(config: DuckDbOfflineStoreConfig, instance: DuckDBInstance, releaseInstance: () => void, connection: DuckDBConnection) {
    super();
    this.#config = config;
    this.#instance = instance;
    this.#releaseInstance = releaseInstance;
    this.#connection = connection;
    const session: DuckDbSession = {
      withConnection: (fn) => this.#serial(fn),
      instance: () => {
        this.#assertOpen();
        return this.#instance;
      },
      assertOpen: () => this.#assertOpen(),
    };
    this.executor = new DuckDbExecutor(session, this.compiler);
    this.introspector = new DuckDbIntrospector(session, this.compiler);
  }

  static async open(config: DuckDbOfflineStoreConfig): Promise<DuckDbOfflineStore> {
    if (typeof config?.path !== 'string' || config.path.length === 0) throw new Error('duckdb: config.path is required (a file or ":memory:")');
    const frozen = Object.freeze({ ...config, settings: Object.freeze({ ...(config.settings ?? {}) }) });
    const { instance, release } = await acquireInstance(frozen.path, { ...frozen.settings });
    try {
      const connection = await instance.connect();
      return new DuckDbOfflineStore(frozen, instance, release, connection);
    } catch (error) {
      release();
      throw error;
    }
  }

  override get supportsAsofJoin(): boolean {
    return true;
  }
  override get supportsPersistence(): boolean {
    return this.#config.path !== ':memory:';
  }
  override get supportsSharedAccess(): boolean {
    return false;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('duckdb: the offline store is closed');
  }

  #serial<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      this.#assertOpen();
      return fn(this.#connection);
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue;
    this.#closed = true;
    this.#connection.closeSync();
    this.#releaseInstance();
  }
}

import { PostgresSqlCompiler } from '../../src/compiler/sql/postgres/postgres-sql-compiler.js';
import { OfflineStoreBase } from '../../src/spi/offline-store.js';
import { createPgPool, type PgPoolLike } from './postgres-connection.js';
import { PostgresExecutor, type PostgresSession } from './postgres-executor.js';
import { PostgresIntrospector } from './postgres-introspector.js';

/** Configuration of the Postgres offline store. */
export interface PostgresOfflineStoreConfig {
  /** `postgres://user:password@host:port/database` (credentials resolved from a reference by the caller). */
  readonly connectionString: string;
  /**
   * Default schema: unqualified table names resolve to it and tables Trellis creates land in it (it is
   * created if missing). Default: the server's `search_path`.
   */
  readonly schema?: string;
  /** Pool size (default 10). */
  readonly maxConnections?: number;
  /**
   * A lazy pool factory replacing the built-in `pg.Pool` (tests, custom drivers). Its sessions must use the
   * adapter's type parsers (`offlineTypeParsers`) and apply `settings` (GUCs: `TimeZone`, `search_path`).
   */
  readonly pool?: (settings: Readonly<Record<string, string>>) => PgPoolLike;
}

/**
 * Postgres as an offline store. Point-in-time joins compile to `LEFT JOIN LATERAL … LIMIT 1`: give each source
 * an index on (entity keys…, event timestamp) for an index scan per spine row.
 */
export class PostgresOfflineStore extends OfflineStoreBase {
  readonly adapterId = 'postgres';
  readonly dialect = 'postgres' as const;
  readonly compiler = new PostgresSqlCompiler();
  readonly executor: PostgresExecutor;
  readonly introspector: PostgresIntrospector;
  readonly #pool: PgPoolLike;
  #closed = false;

  private constructor(pool: PgPoolLike) {
    super();
    this.#pool = pool;
    const session: PostgresSession = {
      pool: () => {
        if (this.#closed) throw new Error('postgres: the offline store is closed');
        return this.#pool;
      },
    };
    this.executor = new PostgresExecutor(session, this.compiler);
    this.introspector = new PostgresIntrospector(session, this.compiler);
  }

  static async open(config: PostgresOfflineStoreConfig): Promise<PostgresOfflineStore> {
    if (typeof config?.connectionString !== 'string' || config.connectionString.length === 0) {
      throw new Error('postgres: config.connectionString is required');
    }
    const frozen = Object.freeze({ ...config });
    const compiler = new PostgresSqlCompiler();
    const schema = frozen.schema === undefined ? undefined : compiler.quoteIdentifier(frozen.schema);
    const settings: Record<string, string> = { TimeZone: 'UTC', ...(schema === undefined ? {} : { search_path: schema }) };
    const pool = frozen.pool ? frozen.pool(settings) : createPgPool(frozen.connectionString, frozen.maxConnections ?? 10, settings);
    try {
      if (schema !== undefined) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      else await pool.query('SELECT 1');
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new Error(`postgres: cannot open the offline store: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return new PostgresOfflineStore(pool);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

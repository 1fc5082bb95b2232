import { SnowflakeSqlCompiler } from '../../src/compiler/sql/snowflake/snowflake-sql-compiler.js';
import { OfflineStoreBase } from '../../src/spi/offline-store.js';
import { connectSnowflake, type SnowflakeConnectionLike } from './snowflake-connection.js';
import { execute, SnowflakeExecutor, type SnowflakeSession } from './snowflake-executor.js';
import { SnowflakeIntrospector } from './snowflake-introspector.js';

/** Configuration of the Snowflake offline store. */
export interface SnowflakeOfflineStoreConfig {
  /** Account identifier, e.g. `myorg-myaccount`. */
  readonly account: string;
  readonly username: string;
  /** Password (resolve a secret reference first); other authenticators go through `options`. */
  readonly password?: string;
  readonly warehouse?: string;
  readonly role?: string;
  /** Database holding the store's schema. Names are exact (quoted), so `analytics` ≠ `ANALYTICS`. */
  readonly database: string;
  /** Default schema: unqualified tables resolve to it and tables Trellis creates land in it. */
  readonly schema: string;
  /** `CREATE DATABASE IF NOT EXISTS` on open (default false: it needs account-level privileges). */
  readonly createDatabase?: boolean;
  /** `CREATE SCHEMA IF NOT EXISTS` on open (default true). */
  readonly createSchema?: boolean;
  /** Account URL override: private link, or an emulator such as `http://127.0.0.1:PORT`. */
  readonly accessUrl?: string;
  /** Further snowflake-sdk connection options (authenticator, privateKey, timeout, …). */
  readonly options?: Readonly<Record<string, unknown>>;
  /**
   * A lazy connection factory replacing snowflake-sdk's `createConnection` + `connect` (tests, custom
   * drivers). Called once, on open; must resolve to a connected session.
   */
  readonly connection?: () => SnowflakeConnectionLike | Promise<SnowflakeConnectionLike>;
}

/**
 * Snowflake as an offline store, over one snowflake-sdk connection (one Snowflake session, which runs
 * statements concurrently). Temporary tables live in that session until `close()`.
 */
export class SnowflakeOfflineStore extends OfflineStoreBase {
  readonly adapterId = 'snowflake';
  readonly dialect = 'snowflake' as const;
  readonly compiler = new SnowflakeSqlCompiler();
  readonly executor: SnowflakeExecutor;
  readonly introspector: SnowflakeIntrospector;
  readonly #connection: SnowflakeConnectionLike;
  #closed = false;

  private constructor(connection: SnowflakeConnectionLike) {
    super();
    this.#connection = connection;
    const session: SnowflakeSession = {
      connection: () => {
        if (this.#closed) throw new Error('snowflake: the offline store is closed');
        return this.#connection;
      },
    };
    this.executor = new SnowflakeExecutor(session, this.compiler);
    this.introspector = new SnowflakeIntrospector(session, this.compiler);
  }

  static async open(config: SnowflakeOfflineStoreConfig): Promise<SnowflakeOfflineStore> {
    for (const key of ['account', 'username', 'database', 'schema'] as const) {
      if (typeof config?.[key] !== 'string' || config[key].length === 0) throw new Error(`snowflake: config.${key} is required`);
    }
    const frozen = Object.freeze({ ...config, options: Object.freeze({ ...(config.options ?? {}) }) });
    const compiler = new SnowflakeSqlCompiler();
    const database = compiler.quoteIdentifier(frozen.database);
    const schema = `${database}.${compiler.quoteIdentifier(frozen.schema)}`;
    let connection: SnowflakeConnectionLike;
    try {
      connection = frozen.connection ? await frozen.connection() : await connectSnowflake(frozen);
    } catch (error) {
      throw new Error(`snowflake: cannot connect: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    try {
      if (frozen.createDatabase === true) await execute(connection, `CREATE DATABASE IF NOT EXISTS ${database}`, []);
      if (frozen.createSchema !== false) await execute(connection, `CREATE SCHEMA IF NOT EXISTS ${schema}`, []);
      await execute(connection, `USE SCHEMA ${schema}`, []);
    } catch (error) {
      await new Promise<void>((resolve) => connection.destroy(() => resolve()));
      throw new Error(`snowflake: cannot open the offline store: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return new SnowflakeOfflineStore(connection);
  }

  override get supportsTemporaryTables(): boolean {
    return true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve, reject) => this.#connection.destroy((error) => (error ? reject(error) : resolve())));
  }
}

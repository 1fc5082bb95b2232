/**
 * The small structural subset of snowflake-sdk the adapter uses, and the default (lazy) connection factory.
 * Nothing here leaks into src/spi: the store works with anything shaped like {@link SnowflakeConnectionLike}.
 */
import type { Readable } from 'node:stream';

/** A value snowflake-sdk binds to a `?` placeholder. */
export type SnowflakeBind = string | number | boolean | null;

/** A result column as snowflake-sdk describes it. */
export interface SnowflakeColumnLike {
  getName(): string;
  /** `fixed`, `real`, `text`, `boolean`, `date`, `time`, `timestamp_ntz`, `timestamp_ltz`, `timestamp_tz`, `variant`, … */
  getType(): string;
  getScale(): number;
  isNullable(): boolean;
}

/** A statement handle. */
export interface SnowflakeStatementLike {
  getColumns(): SnowflakeColumnLike[] | undefined;
  getNumUpdatedRows(): number | undefined;
  /** Rows (arrays in `rowMode: 'array'`) as an object-mode stream; reading slowly pauses it (backpressure). */
  streamRows(options?: { start?: number; end?: number }): Readable;
  cancel(callback?: (error: Error | undefined) => void): void;
}

/** Options of {@link SnowflakeConnectionLike.execute} the adapter sets. */
export interface SnowflakeExecuteOptions {
  readonly sqlText: string;
  readonly binds?: readonly SnowflakeBind[];
  readonly streamResult?: boolean;
  readonly describeOnly?: boolean;
  readonly rowMode?: 'array';
  readonly fetchAsString?: readonly 'Number'[];
  readonly complete: (error: Error | undefined, statement: SnowflakeStatementLike, rows?: unknown[]) => void;
}

/** A connected snowflake-sdk connection (one Snowflake session). */
export interface SnowflakeConnectionLike {
  execute(options: SnowflakeExecuteOptions): SnowflakeStatementLike;
  destroy(callback: (error: Error | undefined) => void): void;
}

/** Connection settings of the default factory (snowflake-sdk `ConnectionOptions`). */
export interface SnowflakeConnectionSettings {
  readonly account: string;
  readonly username: string;
  /** Password (resolve a secret reference before passing it; never logged). */
  readonly password?: string;
  readonly warehouse?: string;
  readonly role?: string;
  /** Full URL of the account endpoint, e.g. a private link or an emulator (`http://127.0.0.1:PORT`). */
  readonly accessUrl?: string;
  /** Other snowflake-sdk connection options (authenticator, privateKey, timeout, …). */
  readonly options?: Readonly<Record<string, unknown>>;
}

/**
 * Opens a snowflake-sdk connection. The SDK is imported on first use only, so a deployment without Snowflake
 * never loads it. Logging goes nowhere unless `SNOWFLAKE_LOG_LEVEL` says otherwise (the SDK would otherwise
 * write `snowflake.log` into the working directory).
 */
export async function connectSnowflake(settings: SnowflakeConnectionSettings): Promise<SnowflakeConnectionLike> {
  const { default: snowflake } = await import('snowflake-sdk');
  const level = (process.env.SNOWFLAKE_LOG_LEVEL ?? 'OFF').toUpperCase();
  snowflake.configure({ logLevel: level as 'OFF', additionalLogToConsole: level !== 'OFF' });
  const connection = snowflake.createConnection({
    account: settings.account,
    username: settings.username,
    ...(settings.password === undefined ? {} : { password: settings.password }),
    ...(settings.warehouse === undefined ? {} : { warehouse: settings.warehouse }),
    ...(settings.role === undefined ? {} : { role: settings.role }),
    ...(settings.accessUrl === undefined ? {} : { accessUrl: settings.accessUrl }),
    ...settings.options,
  });
  await new Promise<void>((resolve, reject) => {
    connection.connect((error) => (error ? reject(error) : resolve()));
  });
  return connection as unknown as SnowflakeConnectionLike;
}

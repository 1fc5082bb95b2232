import pg from 'pg';
import { offlineInteger } from '../../src/spi/offline-store.js';

/** The subset of a `pg` query result the adapter reads. */
export interface PgQueryResult {
  readonly rows: Record<string, unknown>[];
  readonly rowCount: number | null;
  readonly fields: readonly { readonly name: string; readonly dataTypeID: number }[];
}

/** The subset of a pooled `pg` client the adapter uses. */
export interface PgClientLike {
  query(text: string, values?: readonly unknown[]): Promise<PgQueryResult>;
  release(error?: Error | boolean): void;
  /** pg's client is an EventEmitter: 'error' fires when its connection breaks while no query is running. */
  on?(event: 'error', listener: (error: Error) => void): unknown;
  off?(event: 'error', listener: (error: Error) => void): unknown;
}

/** The subset of a `pg` pool the adapter uses; supply your own with `PostgresOfflineStoreConfig.pool`. */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
  query(text: string, values?: readonly unknown[]): Promise<PgQueryResult>;
  end(): Promise<void>;
}

const OID = { int8: 20, timestamp: 1114, timestamptz: 1184, date: 1082 } as const;

const TIMESTAMP = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)?( BC)?$/;

/** `timestamp without time zone` text → Date, read as UTC (never the process's local zone). */
export function parseUtcTimestamp(text: string): Date | string {
  if (text === 'infinity' || text === '-infinity') return text;
  const m = TIMESTAMP.exec(text);
  if (!m) return text;
  const [, y, mo, d, h, mi, s, frac = '', bc] = m;
  const date = new Date(0);
  date.setUTCFullYear(bc ? 1 - Number(y) : Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), Math.floor(Number(`0${frac || '.0'}`) * 1000));
  return date;
}

/** Type parsers giving the SPI's `OfflineValue` model. */
export function offlineTypeParsers(): { getTypeParser: typeof pg.types.getTypeParser } {
  const overrides = new Map<number, (text: string) => unknown>([
    [OID.int8, (text) => offlineInteger(BigInt(text))],
    [OID.timestamp, parseUtcTimestamp],
    [OID.timestamptz, (text) => (text === 'infinity' || text === '-infinity' ? text : defaultTimestamptz(text))],
    [OID.date, (text) => text],
  ]);
  const getTypeParser = ((oid: number, format?: 'text' | 'binary') => {
    const parser = format === 'binary' ? undefined : overrides.get(oid);
    return parser ?? pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser;
  return { getTypeParser };
}

const defaultTimestamptz = pg.types.getTypeParser(OID.timestamptz, 'text') as (text: string) => unknown;

/**
 * The default pool: `pg.Pool` with the adapter's type parsers; every session starts with `settings`
 * (e.g. `TimeZone`, `search_path`) passed as startup options, so no extra round trip is needed.
 */
export function createPgPool(connectionString: string, maxConnections: number, settings: Readonly<Record<string, string>>): PgPoolLike {
  const pool = new pg.Pool({
    connectionString,
    max: maxConnections,
    types: offlineTypeParsers(),
    options: startupOptions(settings),
  });
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it on the next checkout.
  });
  return pool as unknown as PgPoolLike;
}

/** `-c name=value …` with backslashes and whitespace escaped (libpq's rule for the `options` parameter). */
export function startupOptions(settings: Readonly<Record<string, string>>): string {
  const escape = (text: string) => text.replace(/[\\\s]/g, (c) => `\\${c}`);
  return Object.entries(settings)
    .map(([name, value]) => `-c ${escape(name)}=${escape(value)}`)
    .join(' ');
}

import { offlineInteger, type CompiledParameter, type OfflineRow, type OfflineValue } from '../../src/spi/offline-store.js';
import type { SnowflakeBind, SnowflakeColumnLike } from './snowflake-connection.js';

/**
 * Converts one cell, read with `fetchAsString: ['Number']` (so no number loses precision in the SDK), to the
 * SPI's `OfflineValue` model: integers (`fixed`, scale 0) → number when safe else decimal string; other
 * `fixed` → exact decimal string; `real` → number; timestamps → Date (ms); `date` → `YYYY-MM-DD`.
 */
export function snowflakeValue(column: SnowflakeColumnLike, value: unknown): OfflineValue {
  if (value === null || value === undefined) return null;
  switch (column.getType().toLowerCase()) {
    // fetchAsString turns a NULL number into the text 'NULL' (the SDK's toString of null).
    case 'fixed':
      if (value === 'NULL') return null;
      if (column.getScale() === 0) return offlineInteger(BigInt(String(value)));
      return String(value);
    case 'real':
      if (value === 'NULL') return null;
      return realNumber(String(value));
    case 'boolean':
      return typeof value === 'boolean' ? value : String(value).toLowerCase() === 'true' || String(value) === '1';
    case 'date':
      return (value as Date).toISOString().slice(0, 10);
    case 'timestamp_ntz':
    case 'timestamp_ltz':
    case 'timestamp_tz':
      // The SDK's SfDate extends Date; keep a plain Date.
      return new Date((value as Date).getTime());
    case 'binary':
      return Buffer.isBuffer(value) ? value.toString('hex') : String(value);
    default:
      return value as OfflineValue;
  }
}

function realNumber(text: string): number {
  switch (text.toLowerCase()) {
    case 'inf':
    case 'infinity':
      return Infinity;
    case '-inf':
    case '-infinity':
      return -Infinity;
    default:
      return Number(text);
  }
}

/** Array rows (`rowMode: 'array'`) → objects keyed by column name. */
export function snowflakeRows(columns: readonly SnowflakeColumnLike[], rows: readonly unknown[]): OfflineRow[] {
  const names = columns.map((c) => c.getName());
  return rows.map((row) => {
    const cells = row as unknown[];
    const object: OfflineRow = {};
    columns.forEach((column, i) => {
      object[names[i] ?? String(i)] = snowflakeValue(column, cells[i]);
    });
    return object;
  });
}

/**
 * A compiled parameter as a snowflake-sdk bind: bigint → decimal text (exact), Date → ISO-8601 UTC text, which
 * Snowflake casts to the compared or inserted column's type.
 */
export function snowflakeBind(value: CompiledParameter): SnowflakeBind {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return value;
}

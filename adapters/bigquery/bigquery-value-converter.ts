import type { ColumnType } from '../../src/compiler/sql/column-type.js';
import { offlineInteger, type CompiledParameter, type OfflineRow, type OfflineValue } from '../../src/spi/offline-store.js';
import type { BigQueryField, BigQueryQueryParameter, BigQueryRawRow } from './bigquery-client.js';

/**
 * One raw REST cell (`skipParsing`) → the SPI's `OfflineValue`: INTEGER → number when safe else decimal
 * string; FLOAT → number; NUMERIC/BIGNUMERIC → exact decimal string; TIMESTAMP (int64 microseconds, the
 * client's default format) and DATETIME (UTC wall clock) → Date (ms); DATE → `YYYY-MM-DD`; BOOLEAN → boolean;
 * RECORD → object; REPEATED → array.
 */
export function bigQueryValue(field: BigQueryField, value: unknown): OfflineValue {
  if (value === null || value === undefined) return null;
  if (field.mode === 'REPEATED') {
    const single = { ...field, mode: 'NULLABLE' };
    return (value as { v: unknown }[]).map((cell) => bigQueryValue(single, cell.v));
  }
  const text = value as string;
  switch (field.type) {
    case 'INTEGER':
    case 'INT64':
      return offlineInteger(BigInt(text));
    case 'FLOAT':
    case 'FLOAT64':
      return Number(text);
    case 'BOOLEAN':
    case 'BOOL':
      return text.toLowerCase() === 'true';
    case 'TIMESTAMP':
      return /^-?\d+$/.test(text) ? new Date(Number(BigInt(text) / 1000n) - (BigInt(text) % 1000n < 0n ? 1 : 0)) : new Date(text.includes('T') ? text : Number(text) * 1000);
    case 'DATETIME':
      return new Date(`${text.replace(' ', 'T').slice(0, 23)}Z`);
    case 'RECORD':
    case 'STRUCT': {
      const object: Record<string, OfflineValue> = {};
      const cells = (value as BigQueryRawRow).f;
      (field.fields ?? []).forEach((child, i) => {
        object[child.name] = bigQueryValue(child, cells[i]?.v ?? null);
      });
      return object;
    }
    case 'JSON':
      return JSON.parse(text) as OfflineValue;
    default:
      // STRING, NUMERIC, BIGNUMERIC, DATE, TIME, BYTES (base64), GEOGRAPHY: the REST text as is.
      return text;
  }
}

export function bigQueryRows(fields: readonly BigQueryField[], rows: readonly unknown[]): OfflineRow[] {
  return rows.map((row) => {
    const cells = (row as BigQueryRawRow).f;
    const object: OfflineRow = {};
    fields.forEach((field, i) => {
      object[field.name] = bigQueryValue(field, cells[i]?.v ?? null);
    });
    return object;
  });
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, no zone): coerces to DATETIME as the wall clock and to TIMESTAMP as UTC. */
function utcText(value: Date): string {
  return `${value.toISOString().slice(0, 23).replace('T', ' ')}000`;
}

/**
 * A compiled parameter as a named REST query parameter. The client's own `params` cannot send a bigint and
 * needs explicit types for NULL, so parameters are typed here:
 * - string → STRING; boolean → BOOL; bigint and integral numbers → INT64; other numbers → FLOAT64;
 * - Date → STRING in UTC without a zone: GoogleSQL coerces a STRING parameter to the DATETIME or TIMESTAMP it
 *   is compared with, which no single timestamp type would do;
 * - null → a STRING NULL (coerces to the date/time types and strings; pass a typed value where it must not).
 * With `column` (loads), the parameter takes the column's exact type instead.
 */
export function bigQueryParameter(name: string, value: CompiledParameter, column?: ColumnType): BigQueryQueryParameter {
  const parameter = (type: string, text: string | null): BigQueryQueryParameter => ({ name, parameterType: { type }, parameterValue: { value: text } });
  if (column !== undefined) return parameter(COLUMN_PARAMETER_TYPES[column], value === null ? null : columnText(value, column));
  if (value === null) return parameter('STRING', null);
  if (value instanceof Date) return parameter('STRING', utcText(value));
  switch (typeof value) {
    case 'string':
      return parameter('STRING', value);
    case 'boolean':
      return parameter('BOOL', String(value));
    case 'bigint':
      return parameter('INT64', value.toString());
    case 'number':
      return Number.isSafeInteger(value) ? parameter('INT64', String(value)) : parameter('FLOAT64', floatText(value));
  }
  throw new Error(`bigquery: cannot bind a parameter of type ${typeof value}`);
}

const COLUMN_PARAMETER_TYPES = {
  string: 'STRING',
  int64: 'INT64',
  float64: 'FLOAT64',
  boolean: 'BOOL',
  timestamp: 'DATETIME',
  timestamptz: 'TIMESTAMP',
  date: 'DATE',
} as const satisfies Record<ColumnType, string>;

function columnText(value: Exclude<CompiledParameter, null>, column: ColumnType): string {
  if (value instanceof Date) {
    if (column === 'date') return value.toISOString().slice(0, 10);
    return column === 'timestamptz' ? `${utcText(value)}+00:00` : utcText(value);
  }
  if (typeof value === 'number' && column === 'float64') return floatText(value);
  return String(value);
}

function floatText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return String(value);
}

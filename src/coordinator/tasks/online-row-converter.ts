import type { ValueType } from '../../registry/resource-schemas.js';
import type { OfflineRow, OfflineValue } from '../../spi/offline-store.js';
import type { EntityKeyValue, OnlineWriteRow, OnlineWriteValue } from '../../spi/online-store.js';
import { PermanentError } from '../task-errors.js';

const INT_TEXT = /^-?\d+$/;
const INT_WITH_ZERO_FRACTION = /^(-?\d+)\.0*$/;

/**
 * Turns one offline value into what an online table of `type` accepts. Warehouses differ in what they return for
 * the same SQL (a Postgres `sum(int)` is an exact decimal string, DuckDB a number), so the conversion is lenient
 * where no information is lost and fails the run (PermanentError) where it would be.
 */
export function toOnlineValue(type: ValueType, value: OfflineValue, column: string): OnlineWriteValue {
  if (value === null) return null;
  switch (type) {
    case 'float':
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
      break;
    case 'int':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'string') {
        if (INT_TEXT.test(value)) return value;
        const m = INT_WITH_ZERO_FRACTION.exec(value);
        if (m) return m[1]!;
      }
      break;
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      if (value instanceof Date) return value.toISOString();
      break;
    case 'bool':
      if (typeof value === 'boolean') return value;
      break;
    case 'timestamp':
      if (value instanceof Date) return value;
      break;
    case 'float_list':
      if (Array.isArray(value) && value.every((x) => typeof x === 'number')) return value as number[];
      break;
  }
  throw new PermanentError(`column ${column}: cannot store ${describe(value)} as ${type}`);
}

/** An entity key part from an offline value, typed like the entity's key column (what the read path builds). */
export function toKeyPart(type: ValueType, value: OfflineValue, column: string): EntityKeyValue {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      break;
    case 'int':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'string' && INT_TEXT.test(value)) return Number.isSafeInteger(Number(value)) ? Number(value) : BigInt(value);
      break;
    case 'float':
      if (typeof value === 'number') return value;
      break;
    case 'bool':
      if (typeof value === 'boolean') return value;
      break;
    case 'timestamp':
      if (value instanceof Date) return value.toISOString();
      if (typeof value === 'string') return value;
      break;
    default:
      break;
  }
  throw new PermanentError(`key column ${column}: cannot use ${describe(value)} as a ${type} entity key`);
}

function describe(value: OfflineValue): string {
  if (value === null) return 'null';
  if (value instanceof Date) return 'a timestamp';
  if (Array.isArray(value)) return 'a list';
  return `${typeof value} ${JSON.stringify(value).slice(0, 40)}`;
}

/** Reads a materialization query's rows (see planMaterialization's output columns) as online writes. */
export class OnlineRowConverter {
  readonly #keyColumns: readonly string[];
  readonly #keyTypes: readonly ValueType[];
  readonly #valueColumn: string;
  readonly #valueType: ValueType;
  readonly #eventTsColumn: string;
  /** Aggregations: every cell carries the watermark as its event time (the value is "as of" it). */
  readonly #fixedEventTs: number | undefined;

  constructor(options: {
    keyColumns: readonly string[];
    keyTypes: readonly ValueType[];
    valueColumn: string;
    valueType: ValueType;
    eventTsColumn: string;
    fixedEventTs?: number;
  }) {
    this.#keyColumns = options.keyColumns;
    this.#keyTypes = options.keyTypes;
    this.#valueColumn = options.valueColumn;
    this.#valueType = options.valueType;
    this.#eventTsColumn = options.eventTsColumn;
    this.#fixedEventTs = options.fixedEventTs;
  }

  convert(rows: readonly OfflineRow[]): OnlineWriteRow[] {
    const out = new Array<OnlineWriteRow>(rows.length);
    const keyCount = this.#keyColumns.length;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const key = new Array<EntityKeyValue>(keyCount);
      for (let k = 0; k < keyCount; k++) {
        const column = this.#keyColumns[k]!;
        key[k] = toKeyPart(this.#keyTypes[k]!, row[column] ?? null, column);
      }
      let eventTs = this.#fixedEventTs;
      if (eventTs === undefined) {
        const ts = row[this.#eventTsColumn];
        if (!(ts instanceof Date)) throw new PermanentError(`the event timestamp of key ${JSON.stringify(key.map(String))} is ${ts === null ? 'null' : 'not a timestamp'}`);
        eventTs = ts.getTime();
      }
      out[i] = { key, value: toOnlineValue(this.#valueType, row[this.#valueColumn] ?? null, this.#valueColumn), eventTs };
    }
    return out;
  }
}

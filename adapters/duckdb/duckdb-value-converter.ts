import {
  DuckDBTypeId,
  JSDuckDBValueConverter,
  type JS,
  type DuckDBValueConverter,
} from '@duckdb/node-api';
import { offlineInteger, type OfflineValue } from '../../src/spi/offline-store.js';

const INTEGER_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
  DuckDBTypeId.BIGNUM,
]);

const TIMESTAMP_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.TIMESTAMP,
  DuckDBTypeId.TIMESTAMP_TZ,
  DuckDBTypeId.TIMESTAMP_S,
  DuckDBTypeId.TIMESTAMP_MS,
  DuckDBTypeId.TIMESTAMP_NS,
]);

/** Converts DuckDB values to the SPI's `OfflineValue` model (see src/spi/offline-store.ts). */
export const duckDbValueConverter: DuckDBValueConverter<OfflineValue> = (value, type, converter) => {
  if (value === null) return null;
  const typeId = type.typeId;
  if (INTEGER_TYPES.has(typeId)) return offlineInteger(value as bigint);
  if (typeId === DuckDBTypeId.DECIMAL) return String(value);
  if (TIMESTAMP_TYPES.has(typeId)) {
    const finite = (value as { isFinite?: boolean }).isFinite;
    if (finite === false) return String(value).startsWith('-') ? '-infinity' : 'infinity';
  }
  if (typeId === DuckDBTypeId.DATE) return String(value);
  // Nested values (lists, structs) recurse through this converter.
  return JSDuckDBValueConverter(value, type, converter as unknown as DuckDBValueConverter<JS>) as OfflineValue;
};

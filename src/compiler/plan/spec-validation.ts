import { invalidDefinition } from '../../errors/trellis-error.js';
import type { AggregationFunction, Relation, SourceSpec, TableRef } from './plan-types.js';
import { isQueryRelation } from './plan-types.js';
import type { SourceRead } from './plan-nodes.js';

/** Largest duration (seconds) accepted for TTL, lag and windows: 1000 years. */
const MAX_SECONDS = 1000 * 366 * 24 * 3600;

/**
 * Dialect-independent identifier check: a non-empty string without NUL or other control characters.
 * Dialect compilers add their own limits (length, forbidden characters) when quoting.
 */
export function checkIdentifier(value: unknown, pointer: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidDefinition(pointer, 'must be a non-empty identifier');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalidDefinition(pointer, 'identifier contains a control character');
  return value;
}

export function checkSeconds(value: unknown, pointer: string, options: { positive?: boolean } = {}): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_SECONDS) {
    throw invalidDefinition(pointer, `must be a whole number of seconds between 0 and ${MAX_SECONDS}`);
  }
  if (options.positive && value === 0) throw invalidDefinition(pointer, 'must be greater than 0');
  return value;
}

export function checkWatermark(value: unknown, pointer: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalidDefinition(pointer, 'must be a valid Date');
  return value;
}

export function checkTableRef(ref: TableRef, pointer: string): TableRef {
  if (typeof ref !== 'object' || ref === null) throw invalidDefinition(pointer, 'must be a table reference');
  return Object.freeze({
    ...(ref.catalog === undefined ? {} : { catalog: checkIdentifier(ref.catalog, `${pointer}/catalog`) }),
    ...(ref.schema === undefined ? {} : { schema: checkIdentifier(ref.schema, `${pointer}/schema`) }),
    name: checkIdentifier(ref.name, `${pointer}/name`),
  });
}

export function checkRelation(relation: Relation, pointer: string): Relation {
  if (typeof relation !== 'object' || relation === null) throw invalidDefinition(pointer, 'must be a table or a query');
  if (isQueryRelation(relation)) {
    if (relation.sql.trim().length === 0) throw invalidDefinition(`${pointer}/sql`, 'must not be empty');
    if (relation.sql.includes('\u0000')) throw invalidDefinition(`${pointer}/sql`, 'contains a NUL character');
    return Object.freeze({ sql: relation.sql });
  }
  return checkTableRef(relation, pointer);
}

export function checkKeyColumns(columns: readonly string[], pointer: string, expectedLength?: number): readonly string[] {
  if (!Array.isArray(columns) || columns.length === 0) throw invalidDefinition(pointer, 'needs at least one key column');
  if (expectedLength !== undefined && columns.length !== expectedLength) {
    throw invalidDefinition(pointer, `has ${columns.length} key columns but the entity key has ${expectedLength}`);
  }
  return Object.freeze(columns.map((c, i) => checkIdentifier(c, `${pointer}/${i}`)));
}

export function readSource(source: SourceSpec, keyColumns: readonly string[], pointer: string): SourceRead {
  if (typeof source !== 'object' || source === null) throw invalidDefinition(pointer, 'must be a source');
  return Object.freeze({
    relation: checkRelation(source.relation, `${pointer}/relation`),
    keyColumns,
    timestampColumn: checkIdentifier(source.timestampColumn, `${pointer}/timestampColumn`),
    createdTimestampColumn:
      source.createdTimestampColumn === undefined
        ? undefined
        : checkIdentifier(source.createdTimestampColumn, `${pointer}/createdTimestampColumn`),
  });
}

const AGGREGATIONS = new Set<AggregationFunction>(['count', 'sum', 'avg', 'min', 'max']);

export function checkAggregationFunction(value: unknown, pointer: string): AggregationFunction {
  if (!AGGREGATIONS.has(value as AggregationFunction)) {
    throw invalidDefinition(pointer, `must be one of ${[...AGGREGATIONS].join(', ')}`);
  }
  return value as AggregationFunction;
}

/** Refuses two output columns with the same name, naming both owners. */
export function checkDistinctNames(columns: readonly { name: string; owner: string }[]): void {
  const seen = new Map<string, string>();
  for (const { name, owner } of columns) {
    const previous = seen.get(name);
    if (previous !== undefined) {
      throw invalidDefinition(owner, `output column ${JSON.stringify(name)} would also be produced by ${previous}`);
    }
    seen.set(name, owner);
  }
}

import { fieldPath, type StreamField, type StreamSourceSpec } from './stream-job.js';

/** A parsed event: field values by name (nulls for absent optional fields) and its event time, epoch ms. */
export interface ParsedStreamEvent {
  readonly values: Readonly<Record<string, string | number | boolean | null | readonly number[]>>;
  readonly eventTs: number;
}

/** Why an event does not fit its source: the JSON pointer below the event (`/amount`) and a reason. */
export interface StreamEventProblem {
  readonly pointer: string;
  readonly reason: string;
}

export type StreamParseResult = { readonly ok: true; readonly event: ParsedStreamEvent } | { readonly ok: false; readonly problem: StreamEventProblem };

const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Epoch ms of a timestamp value: an integer of epoch ms or ISO-8601 text; null when it is neither. */
export function timestampMs(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  if (typeof value === 'string' && ISO_TIME.test(value)) {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

function checkField(field: StreamField, value: unknown): { ok: true; value: string | number | boolean | null | readonly number[] } | { ok: false; reason: string } {
  if (value === null || value === undefined) return { ok: true, value: null };
  switch (field.type) {
    case 'string':
      return typeof value === 'string' ? { ok: true, value } : { ok: false, reason: `expected a string, got ${kindOf(value)}` };
    case 'int':
      return typeof value === 'number' && Number.isSafeInteger(value) ? { ok: true, value } : { ok: false, reason: `expected an integer, got ${kindOf(value)}` };
    case 'float':
      return typeof value === 'number' && Number.isFinite(value) ? { ok: true, value } : { ok: false, reason: `expected a finite number, got ${kindOf(value)}` };
    case 'bool':
      return typeof value === 'boolean' ? { ok: true, value } : { ok: false, reason: `expected a boolean, got ${kindOf(value)}` };
    case 'timestamp': {
      const ms = timestampMs(value);
      return ms === null ? { ok: false, reason: 'expected epoch milliseconds or an ISO-8601 time' } : { ok: true, value: ms };
    }
    case 'float_list':
      return Array.isArray(value) && value.every((x) => typeof x === 'number' && Number.isFinite(x)) ? { ok: true, value: value as number[] } : { ok: false, reason: 'expected a list of finite numbers' };
  }
}

const kindOf = (value: unknown): string => (Array.isArray(value) ? 'array' : typeof value === 'number' && !Number.isFinite(value) ? String(value) : typeof value);

/** How to read one field of an event: the pointer reported in problems and the member names to follow. */
export interface FieldReader {
  readonly pointer: string;
  readonly steps: readonly string[];
}

const readers = new WeakMap<readonly StreamField[], readonly FieldReader[]>();

/** Field readers of a source, built once per `fields` array (the hot path reads every field of every event). */
export function fieldReaders(fields: readonly StreamField[]): readonly FieldReader[] {
  let cached = readers.get(fields);
  if (!cached) {
    cached = fields.map((field) => {
      const pointer = fieldPath(field);
      // RFC 6901: split on '/', then ~1 → '/' and ~0 → '~' (in that order).
      return { pointer, steps: pointer.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~')) };
    });
    readers.set(fields, cached);
  }
  return cached;
}

/** The value at a field's path (undefined when a step is missing or not an object member; arrays take indexes). */
function valueAt(record: Record<string, unknown>, steps: readonly string[]): unknown {
  if (steps.length === 1) return Object.hasOwn(record, steps[0]!) ? record[steps[0]!] : undefined;
  let node: unknown = record;
  for (const step of steps) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, step)) return undefined;
    node = (node as Record<string, unknown>)[step];
  }
  return node;
}

/**
 * Checks one event (a JSON object) against the source's fields: each declared field, read at its `path` (default:
 * the top-level member of its name), must have its type (null or absent is allowed except for the event-time field
 * and `required` fields such as entity keys); other members are ignored. The first problem wins; its pointer is
 * the field's path in the event.
 */
export function parseStreamEvent(source: StreamSourceSpec, raw: unknown, required: ReadonlySet<string> = new Set()): StreamParseResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, problem: { pointer: '', reason: 'an event must be a JSON object' } };
  const record = raw as Record<string, unknown>;
  const values: Record<string, string | number | boolean | null | readonly number[]> = {};
  let eventTs: number | null = null;
  const fields = source.fields;
  const fieldReader = fieldReaders(fields);
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const { pointer, steps } = fieldReader[i]!;
    const value = valueAt(record, steps);
    if (field.name === source.timestampField) {
      eventTs = timestampMs(value);
      if (eventTs === null) return { ok: false, problem: { pointer, reason: value === undefined || value === null ? 'missing event time' : 'expected epoch milliseconds or an ISO-8601 time' } };
      values[field.name] = eventTs;
      continue;
    }
    if ((value === undefined || value === null) && required.has(field.name)) return { ok: false, problem: { pointer, reason: `missing ${field.name}` } };
    const checked = checkField(field, value);
    if (!checked.ok) return { ok: false, problem: { pointer, reason: checked.reason } };
    values[field.name] = checked.value;
  }
  if (eventTs === null) {
    const value = record[source.timestampField];
    eventTs = timestampMs(value);
    if (eventTs === null) return { ok: false, problem: { pointer: `/${source.timestampField}`, reason: 'missing or invalid event time' } };
  }
  return { ok: true, event: { values, eventTs } };
}

/**
 * Turns a message value of a non-JSON source into an event record (e.g. Avro through a schema registry:
 * src/streaming/avro-schema-registry.ts); a value it cannot read is a problem at pointer '' with its reason.
 */
export interface StreamValueDecoder {
  decode(value: Buffer): { readonly ok: true; readonly record: unknown } | { readonly ok: false; readonly reason: string };
}

/**
 * Parses a message value of a topic: UTF-8 JSON, or what `decoder` reads (an Avro source); malformed JSON or a value
 * the decoder cannot read is a problem at pointer ''. The record then goes through the same field checks.
 */
export function parseStreamMessage(source: StreamSourceSpec, value: Buffer | null, required?: ReadonlySet<string>, decoder?: StreamValueDecoder): StreamParseResult {
  if (value === null) return { ok: false, problem: { pointer: '', reason: 'empty message (tombstone)' } };
  if (decoder) {
    const decoded = decoder.decode(value);
    return decoded.ok ? parseStreamEvent(source, decoded.record, required) : { ok: false, problem: { pointer: '', reason: decoded.reason } };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return { ok: false, problem: { pointer: '', reason: `invalid JSON: ${(error as Error).message}` } };
  }
  return parseStreamEvent(source, raw, required);
}

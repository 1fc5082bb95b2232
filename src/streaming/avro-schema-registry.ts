import avro, { type Type } from 'avsc';
import { TrellisError } from '../errors/trellis-error.js';
import { fieldReaders, timestampMs, type StreamValueDecoder } from './stream-event-parser.js';
import type { StreamSourceSpec } from './stream-job.js';
import type { StreamProvider } from '../spi/stream-provider.js';

/**
 * Avro values through a Confluent-compatible schema registry (Confluent's own, Apicurio's `/apis/ccompat/v7`,
 * Karapace, Redpanda's): the registry client (schemas fetched by id and cached), the decoder a stream worker runs
 * before the source's field checks, and the encoder the push API uses. A value is in the registry's wire format:
 * a magic byte 0, the schema id as a 4-byte big-endian integer, then the Avro binary body written with that schema.
 */

/** A kafka provider's `schemaRegistry` config, secrets resolved. */
export interface SchemaRegistryConfig {
  /** Base URL of the Confluent-compatible API (the one that serves `/subjects` and `/schemas/ids/{id}`). */
  readonly url: string;
  /** HTTP basic auth (both or neither). */
  readonly username?: string;
  readonly password?: string;
  /** Per request; default 5000. */
  readonly timeoutMs?: number;
}

/**
 * The registry gave no usable answer — unreachable, timed out, an HTTP error, refused credentials, or no subject of
 * that name: the messages are not at fault, so a worker retries them rather than dead-lettering them.
 */
export class SchemaRegistryError extends Error {
  override readonly name = 'SchemaRegistryError';
}

/** A schema by id: its Avro type, or why a message naming that id cannot be read (the message is at fault). */
export type SchemaLookup = { readonly ok: true; readonly type: Type } | { readonly ok: false; readonly reason: string };

/** How long "no schema with this id" is believed before the registry is asked again. */
const UNKNOWN_ID_TTL_MS = 30_000;
const HEADER_BYTES = 5;
const MAGIC = 0;

const causeOf = (error: unknown): string => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
};

/** A client of the Confluent schema registry REST API: schemas by id (cached for good: ids are immutable), latest by subject. */
export class SchemaRegistryClient {
  readonly url: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #byId = new Map<number, { readonly lookup: SchemaLookup; readonly until: number }>();
  readonly #pending = new Map<number, Promise<SchemaLookup>>();

  constructor(config: SchemaRegistryConfig) {
    this.url = config.url.replace(/\/+$/, '');
    this.#timeoutMs = config.timeoutMs ?? 5000;
    this.#headers = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
    if (config.username !== undefined) this.#headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;
  }

  /**
   * GET a path: the JSON body, or null when the registry says the subject, version or schema does not exist (404 with
   * Confluent error code 40401–40403). Throws {@link SchemaRegistryError} on anything else — a bare 404 too: a wrong
   * base URL must not make every message an "unknown schema id".
   */
  async #get(path: string): Promise<Record<string, unknown> | null> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, { headers: this.#headers, signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (error) {
      throw new SchemaRegistryError(`schema registry ${this.url} unreachable: ${causeOf(error)}`, { cause: error });
    }
    const text = await response.text().catch(() => '');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the message
    }
    const code = typeof body === 'object' && body !== null ? (body as { error_code?: unknown }).error_code : undefined;
    if (response.status === 404 && (code === 40401 || code === 40402 || code === 40403)) return null;
    const said = typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : text.slice(0, 200);
    if (response.status === 401 || response.status === 403) {
      throw new SchemaRegistryError(`schema registry ${this.url} refused the credentials (HTTP ${response.status}): check schemaRegistry.username and schemaRegistry.password`);
    }
    if (response.status === 404) throw new SchemaRegistryError(`schema registry ${this.url} answered HTTP 404 to GET ${path} (is schemaRegistry.url the base of its Confluent-compatible API?): ${said}`);
    if (!response.ok || typeof body !== 'object' || body === null) throw new SchemaRegistryError(`schema registry ${this.url} answered HTTP ${response.status} to GET ${path}: ${said}`);
    return body as Record<string, unknown>;
  }

  /** The cached lookup of a schema id (undefined when never fetched). */
  cached(id: number): SchemaLookup | undefined {
    return this.#byId.get(id)?.lookup;
  }

  /** The schema with this id, fetched once (an unknown id is asked again after 30 s). */
  schema(id: number): Promise<SchemaLookup> {
    const cached = this.#byId.get(id);
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.lookup);
    let pending = this.#pending.get(id);
    if (!pending) {
      pending = this.#get(`/schemas/ids/${id}`)
        .then((body) => {
          const lookup: SchemaLookup = body === null ? { ok: false, reason: `schema id ${id} is not in the schema registry` } : parseSchema(id, body);
          this.#byId.set(id, { lookup, until: body === null ? Date.now() + UNKNOWN_ID_TTL_MS : Infinity });
          return lookup;
        })
        .finally(() => this.#pending.delete(id));
      this.#pending.set(id, pending);
    }
    return pending;
  }

  /** The latest version of a subject: its id and type. Throws {@link SchemaRegistryError} when there is none or it is not usable Avro. */
  async latest(subject: string): Promise<{ readonly id: number; readonly type: Type }> {
    const body = await this.#get(`/subjects/${encodeURIComponent(subject)}/versions/latest`);
    if (body === null) throw new SchemaRegistryError(`schema registry ${this.url} has no schema under subject ${subject}`);
    const id = body.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new SchemaRegistryError(`schema registry ${this.url} answered subject ${subject} without a schema id`);
    let lookup = this.#byId.get(id)?.lookup;
    if (!lookup?.ok) {
      lookup = parseSchema(id, body);
      this.#byId.set(id, { lookup, until: Infinity });
    }
    if (!lookup.ok) throw new SchemaRegistryError(`subject ${subject}: ${lookup.reason}`);
    return { id, type: lookup.type };
  }
}

/**
 * `timestamp-micros` longs read as epoch ms, the unit of every Trellis event time (and written back as micros).
 * `timestamp-millis` needs nothing: its long already is epoch ms.
 */
class MicrosAsMillis extends avro.types.LogicalType {
  protected override _fromValue(micros: number): number {
    return Math.floor(micros / 1000);
  }

  protected override _toValue(ms: unknown): unknown {
    return typeof ms === 'number' ? ms * 1000 : ms;
  }
}

/** An Avro type from a registry answer `{ schema, schemaType?, references? }`. */
function parseSchema(id: number, body: Record<string, unknown>): SchemaLookup {
  const schemaType = body.schemaType ?? 'AVRO';
  if (schemaType !== 'AVRO') return { ok: false, reason: `schema id ${id} is a ${String(schemaType)} schema, not Avro` };
  if (Array.isArray(body.references) && body.references.length > 0) return { ok: false, reason: `schema id ${id} uses schema references, which Trellis does not resolve` };
  if (typeof body.schema !== 'string') return { ok: false, reason: `schema id ${id}: the registry answered no schema text` };
  try {
    return { ok: true, type: avro.Type.forSchema(JSON.parse(body.schema) as avro.Schema, { logicalTypes: { 'timestamp-micros': MicrosAsMillis } }) };
  } catch (error) {
    return { ok: false, reason: `schema id ${id} is not a valid Avro schema: ${(error as Error).message}` };
  }
}

/** The schema id of a wire-format value, or a reason it is not one. */
function wireSchemaId(value: Buffer): { ok: true; id: number } | { ok: false; reason: string } {
  if (value.length < HEADER_BYTES) return { ok: false, reason: `not in the schema registry wire format: ${value.length} bytes, expected a magic byte 0 and a 4-byte schema id before the Avro body` };
  if (value[0] !== MAGIC) return { ok: false, reason: `not in the schema registry wire format: magic byte 0x${value[0]!.toString(16).padStart(2, '0')}, expected 0x00` };
  return { ok: true, id: value.readUInt32BE(1) };
}

/**
 * Decodes wire-format Avro values for a stream worker. {@link prepare} fetches the schemas a batch names (async,
 * may throw {@link SchemaRegistryError}); {@link decode} is then synchronous. A value that is not in the wire format,
 * names an unknown schema id or does not read with its schema is a problem (a dead letter), never a throw.
 */
export class AvroWireDecoder implements StreamValueDecoder {
  readonly registry: SchemaRegistryClient;

  constructor(registry: SchemaRegistryClient) {
    this.registry = registry;
  }

  /** Fetches every schema the values name that is not cached (or whose "unknown" answer expired). */
  async prepare(values: readonly (Buffer | null)[]): Promise<void> {
    const ids = new Set<number>();
    for (const value of values) {
      if (value === null) continue;
      const header = wireSchemaId(value);
      if (header.ok) ids.add(header.id);
    }
    await Promise.all([...ids].map((id) => this.registry.schema(id)));
  }

  decode(value: Buffer): { ok: true; record: unknown } | { ok: false; reason: string } {
    const header = wireSchemaId(value);
    if (!header.ok) return header;
    const lookup = this.registry.cached(header.id);
    if (lookup === undefined) return { ok: false, reason: `schema id ${header.id} was not fetched from the schema registry` };
    if (!lookup.ok) return lookup;
    try {
      return { ok: true, record: lookup.type.fromBuffer(value.subarray(HEADER_BYTES)) };
    } catch (error) {
      return { ok: false, reason: `the Avro body does not read with schema id ${header.id}: ${(error as Error).message}` };
    }
  }
}

const clients = new WeakMap<StreamProvider, SchemaRegistryClient>();

/**
 * The schema registry client of a stream provider (one per provider client, so a changed config gets a new one).
 * Throws TRELLIS_ERR_PROVIDER_UNAVAILABLE when the provider's config has no `schemaRegistry`.
 */
export function schemaRegistryOf(provider: StreamProvider, source: StreamSourceSpec): SchemaRegistryClient {
  let client = clients.get(provider);
  if (!client) {
    // The kafka provider keeps its parsed config (adapters/kafka/kafka-config.ts); `schemaRegistry` is optional there.
    const config = (provider as { readonly config?: { readonly schemaRegistry?: SchemaRegistryConfig } }).config?.schemaRegistry;
    if (!config) {
      throw new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider: source.provider, reason: `source ${source.id} has format avro, but the provider config has no schemaRegistry { url }` });
    }
    client = new SchemaRegistryClient(config);
    clients.set(provider, client);
  }
  return client;
}

/** Where and why an event does not fit an Avro schema: a JSON pointer below the event and a reason. */
export type AvroEncodeResult = { readonly ok: true; readonly values: readonly Buffer[] } | { readonly ok: false; readonly index: number; readonly pointer: string; readonly reason: string };

const pointerOf = (path: readonly string[]): string => path.map((s) => `/${s.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');

const describe = (type: Type): string => {
  const branches = (type as { types?: Type[] }).types;
  if (branches) return branches.map(describe).join(' or ');
  return (type as { name?: string }).name ?? type.typeName;
};

const kindOf = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'number' && Number.isInteger(value) ? 'an integer' : typeof value);

/** The first place `value` does not fit `type` (strict: a member the schema does not declare does not fit either). */
function firstMismatch(type: Type, value: unknown): { pointer: string; reason: string } | null {
  let found: { pointer: string; reason: string } | null = null;
  type.isValid(value, {
    noUndeclaredFields: true,
    errorHook: (path, val: unknown, at) => {
      if (found) return;
      const fields = (at as { fields?: { name: string }[] }).fields;
      if (fields && typeof val === 'object' && val !== null && !Array.isArray(val)) {
        const extra = Object.keys(val).find((k) => !fields.some((f) => f.name === k));
        if (extra !== undefined) {
          found = { pointer: pointerOf([...path, extra]), reason: `not a field of the Avro record ${describe(at)}` };
          return;
        }
      }
      found = { pointer: pointerOf(path), reason: val === undefined ? `missing: the Avro schema requires ${describe(at)}` : `expected Avro ${describe(at)}, got ${kindOf(val)}` };
    },
  });
  return found;
}

/**
 * Encodes JSON events in the wire format with the latest schema of `subject` (`<topic>-value`). Event-time fields
 * given as ISO-8601 text are written as epoch ms where the schema wants a number. Throws {@link SchemaRegistryError}
 * when the registry cannot answer; an event that does not fit is `{ ok: false }` naming its index and field.
 */
export async function encodeAvroEvents(registry: SchemaRegistryClient, subject: string, source: StreamSourceSpec, events: readonly Record<string, unknown>[]): Promise<AvroEncodeResult> {
  const { id, type } = await registry.latest(subject);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(MAGIC, 0);
  header.writeUInt32BE(id, 1);
  const timeFields = fieldReaders(source.fields).filter((_, i) => source.fields[i]!.type === 'timestamp');
  const values: Buffer[] = [];
  for (const [index, event] of events.entries()) {
    let value: Record<string, unknown> = event;
    let mismatch = firstMismatch(type, value);
    // ISO-8601 event times where the schema has a long (plain or timestamp-millis): write them as epoch ms.
    for (const { pointer, steps } of timeFields) {
      if (mismatch?.pointer !== pointer) continue;
      const parent = steps.slice(0, -1).reduce<unknown>((node, step) => (node as Record<string, unknown> | undefined)?.[step], value);
      const last = steps[steps.length - 1]!;
      const raw = (parent as Record<string, unknown> | undefined)?.[last];
      const ms = typeof raw === 'string' ? timestampMs(raw) : null;
      if (ms === null) continue;
      value = structuredClone(value);
      (steps.slice(0, -1).reduce<unknown>((node, step) => (node as Record<string, unknown>)[step], value) as Record<string, unknown>)[last] = ms;
      mismatch = firstMismatch(type, value);
    }
    if (mismatch) return { ok: false, index, pointer: mismatch.pointer, reason: `${mismatch.reason} (schema id ${id}, subject ${subject})` };
    values.push(Buffer.concat([header, type.toBuffer(value)]));
  }
  return { ok: true, values };
}

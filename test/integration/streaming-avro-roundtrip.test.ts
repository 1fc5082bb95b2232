/**
 * The Avro path against the JSON path as oracle, on the real schema registry (no Kafka needed): any event that
 * fits the schema, encoded as the push API encodes it and decoded as a stream worker decodes it, parses to exactly
 * what the same event parses to as JSON.
 */
import { createServer } from 'node:net';
import avro from 'avsc';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AvroWireDecoder, SchemaRegistryClient, SchemaRegistryError, encodeAvroEvents } from '../../src/streaming/avro-schema-registry.js';
import { parseStreamEvent, parseStreamMessage } from '../../src/streaming/stream-event-parser.js';
import type { StreamSourceSpec } from '../../src/streaming/stream-job.js';
import { schemaRegistryUrl, uniqueId } from '../support/services.js';

const source: StreamSourceSpec = {
  id: 'rt@default',
  provider: 'events@default',
  topic: 'rt',
  format: 'avro',
  fields: [
    { name: 'card_id', type: 'string', path: '/card/id' },
    { name: 'amount', type: 'float' },
    { name: 'n', type: 'int' },
    { name: 'ok', type: 'bool' },
    { name: 'event_time', type: 'timestamp' },
    { name: 'channel', type: 'string' },
    { name: 'scores', type: 'float_list' },
  ],
  timestampField: 'event_time',
  allowedLatenessMs: 0,
};
const required = new Set(['card_id']);

const schema = (timeUnit: 'timestamp-millis' | 'timestamp-micros') => ({
  type: 'record',
  name: 'Event',
  fields: [
    { name: 'card', type: { type: 'record', name: 'Card', fields: [{ name: 'id', type: 'string' }] } },
    { name: 'amount', type: 'double' },
    { name: 'n', type: 'long' },
    { name: 'ok', type: 'boolean' },
    { name: 'event_time', type: { type: 'long', logicalType: timeUnit } },
    { name: 'channel', type: ['null', 'string'], default: null },
    { name: 'scores', type: { type: 'array', items: 'double' } },
  ],
});

async function register(subject: string, body: object): Promise<number> {
  const res = await fetch(`${schemaRegistryUrl()}/subjects/${subject}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(body) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: number }).id;
}

const MIN_TS = Date.UTC(2000, 0, 1);
const MAX_TS = Date.UTC(2100, 0, 1);
const eventArb = fc.record(
  {
    card: fc.record({ id: fc.string({ unit: 'grapheme', maxLength: 12 }) }),
    amount: fc.double({ noNaN: true, noDefaultInfinity: true }),
    n: fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
    ok: fc.boolean(),
    event_time: fc.oneof(fc.integer({ min: MIN_TS, max: MAX_TS }), fc.integer({ min: MIN_TS, max: MAX_TS }).map((ms) => new Date(ms).toISOString())),
    channel: fc.option(fc.string({ unit: 'grapheme', maxLength: 8 })),
    scores: fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 5 }),
  },
  { requiredKeys: ['card', 'amount', 'n', 'ok', 'event_time', 'scores'] },
);

let client: SchemaRegistryClient;
let millisSubject: string;
let microsSubject: string;

beforeAll(async () => {
  client = new SchemaRegistryClient({ url: schemaRegistryUrl() });
  millisSubject = `rt-${uniqueId()}-value`;
  microsSubject = `rt-${uniqueId()}-value`;
  await register(millisSubject, schema('timestamp-millis'));
  await register(microsSubject, schema('timestamp-micros'));
});

describe('Avro round trip through the schema registry', () => {
  for (const unit of ['millis', 'micros'] as const) {
    it(`an event encoded by the push path and decoded by the worker parses as its JSON does (timestamp-${unit})`, async () => {
      const subject = unit === 'millis' ? millisSubject : microsSubject;
      const decoder = new AvroWireDecoder(client);
      await fc.assert(
        fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 5 }), async (events) => {
          const encoded = await encodeAvroEvents(client, subject, source, events);
          if (!encoded.ok) throw new Error(`${encoded.pointer}: ${encoded.reason}`);
          await decoder.prepare(encoded.values);
          encoded.values.forEach((value, i) => {
            const viaAvro = parseStreamMessage(source, value, required, decoder);
            const viaJson = parseStreamEvent(source, events[i], required);
            expect(viaAvro).toEqual(viaJson);
          });
        }),
        { numRuns: 150 },
      );
    });
  }

  it('timestamp-micros written by another producer read as epoch ms', async () => {
    const { id } = await client.latest(microsSubject);
    const type = avro.Type.forSchema(schema('timestamp-micros') as avro.Schema); // no logical type class: raw micros
    const micros = Date.UTC(2026, 10, 23, 12, 0, 0, 123) * 1000 + 456;
    const header = Buffer.from([0, 0, 0, 0, 0]);
    header.writeUInt32BE(id, 1);
    const value = Buffer.concat([header, type.toBuffer({ card: { id: 'x' }, amount: 1, n: 2, ok: true, event_time: micros, channel: null, scores: [] })]);
    const decoder = new AvroWireDecoder(client);
    await decoder.prepare([value]);
    const parsed = parseStreamMessage(source, value, required, decoder);
    expect(parsed).toEqual({ ok: true, event: { eventTs: Date.UTC(2026, 10, 23, 12, 0, 0, 123), values: { card_id: 'x', amount: 1, n: 2, ok: true, event_time: Date.UTC(2026, 10, 23, 12, 0, 0, 123), channel: null, scores: [] } } });
  });

  it('a registry that does not answer is a SchemaRegistryError naming it, not a problem of the message', async () => {
    const closed = await closedPort();
    const down = new SchemaRegistryClient({ url: `http://127.0.0.1:${closed}/apis/ccompat/v7`, timeoutMs: 1000 });
    await expect(new AvroWireDecoder(down).prepare([Buffer.from([0, 0, 0, 0, 1, 2])])).rejects.toThrow(SchemaRegistryError);
    await expect(down.latest('x-value')).rejects.toThrow(new RegExp(`^schema registry http://127\\.0\\.0\\.1:${closed}/apis/ccompat/v7 unreachable: ECONNREFUSED$`));
    // A path the registry does not serve (a wrong base URL) is an HTTP error, not "unknown schema id".
    const wrongBase = new SchemaRegistryClient({ url: schemaRegistryUrl().replace('/apis/ccompat/v7', '/nope') });
    await expect(wrongBase.latest('x-value')).rejects.toThrow(/answered HTTP 404 to GET \/subjects\/x-value\/versions\/latest \(is schemaRegistry.url the base of its Confluent-compatible API\?\)/);
    await expect(new AvroWireDecoder(wrongBase).prepare([Buffer.from([0, 0, 0, 0, 1, 2])])).rejects.toThrow(/answered HTTP 404 to GET \/schemas\/ids\/1/);
  });
});

/** A loopback port nothing listens on (taken from the OS, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

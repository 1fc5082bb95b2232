/**
 * Avro sources end to end on the real services: Kafka and a Confluent-compatible schema registry (Apicurio Registry,
 * scripts/services/schema-registry.sh). Messages are in the registry wire format (magic 0, 4-byte schema id, Avro
 * binary); schemas are registered through the registry's REST API as a producer application would.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import avro from 'avsc';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKafkaConfig } from '../../adapters/kafka/kafka-config.js';
import type { KafkaStreamProvider } from '../../adapters/kafka/index.js';
import { StreamRuntime } from '../../src/streaming/stream-runtime.js';
import { DLQ_HEADERS, deadLetterTopic } from '../../src/streaming/stream-worker.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, kafkaBrokers, kafkaClient, redisUrl, schemaRegistryUrl, uniqueId } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';
import { waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';

const prefix = createRedisPrefix('stream-avro');
const admin = new Redis(redisUrl(), { lazyConnect: true });
let t: TestTrellis;
let streams: StreamRuntime;

const fields = [
  { name: 'card_id', type: 'string', path: '/card/id' },
  { name: 'amount', type: 'float' },
  { name: 'event_time', type: 'timestamp' },
  { name: 'channel', type: 'string' },
];

const card = { type: 'record', name: 'Card', fields: [{ name: 'id', type: 'string' }] };
const swipeV1 = { type: 'record', name: 'Swipe', namespace: 'test.trellis', fields: [{ name: 'card', type: card }, { name: 'amount', type: 'double' }, { name: 'event_time', type: { type: 'long', logicalType: 'timestamp-millis' } }] };
/** v2 adds an optional field (backward compatible). */
const swipeV2 = { ...swipeV1, fields: [...swipeV1.fields, { name: 'channel', type: ['null', 'string'], default: null }] };

/** Registers a schema under a subject through the registry's REST API; its id. */
async function register(subject: string, schema: object): Promise<number> {
  const res = await fetch(`${schemaRegistryUrl()}/subjects/${subject}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  const body = (await res.json()) as { id: number };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.id;
}

/** A value in the wire format, header written byte by byte. */
function wire(id: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]), body]);
}

async function produceRaw(topic: string, values: readonly Buffer[]): Promise<void> {
  const producer = kafkaClient().producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: values.map((value) => ({ value })) });
  } finally {
    await producer.disconnect();
  }
}

const kafka = async (): Promise<KafkaStreamProvider> => (await streams.provider('events')) as KafkaStreamProvider;

/** Sources and features over an Avro topic (names suffixed, so tests do not share consumer state). */
async function applyAvroSource(name: string, topic: string, provider = 'events'): Promise<void> {
  const resources = [
    { kind: 'source', name, provider, topic, format: 'avro', fields, timestampColumn: 'event_time', allowedLateness: '1m' },
    { kind: 'feature', name: `${name}_count_10m`, entity: 'card', source: name, aggregation: { fn: 'count', window: '10m', slide: '1m' }, valueType: 'int', onlineProvider: 'cache' },
    { kind: 'feature', name: `${name}_amount_10m`, entity: 'card', source: name, aggregation: { fn: 'sum', column: 'amount', window: '10m', slide: '1m' }, valueType: 'float', onlineProvider: 'cache' },
    { kind: 'feature', name: `${name}_last_channel`, entity: 'card', source: name, column: 'channel', valueType: 'string', onlineProvider: 'cache' },
  ];
  const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
  expect(res.statusCode, res.body).toBe(200);
}

beforeAll(async () => {
  t = await openTestTrellis('pglite', {}, { verifySources: false });
  streams = new StreamRuntime(t.registry, { dataDir: null });
  const resources = [
    { kind: 'provider', name: 'events', type: 'kafka', roles: ['stream'], config: { brokers: kafkaBrokers(), schemaRegistry: { url: schemaRegistryUrl() } } },
    { kind: 'provider', name: 'bare', type: 'kafka', roles: ['stream'], config: { brokers: kafkaBrokers() } },
    { kind: 'provider', name: 'cache', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
    { kind: 'entity', name: 'card', keys: [{ name: 'card_id', type: 'string' }] },
  ];
  const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
  expect(res.statusCode, res.body).toBe(200);
}, 120_000);

afterAll(async () => {
  await streams?.close();
  await t?.close();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

describe('Avro stream sources through a schema registry', () => {
  it('a worker serves exact values from Avro messages written with two schema versions (v2 adds an optional field)', async () => {
    const topic = await createKafkaTopic('stream-avro', 1);
    await applyAvroSource('swipes', topic);
    const v1 = await register(`${topic}-value`, swipeV1);
    const v2 = await register(`${topic}-value`, swipeV2);
    expect(v2).not.toBe(v1);
    const t1 = avro.Type.forSchema(swipeV1 as avro.Schema);
    const t2 = avro.Type.forSchema(swipeV2 as avro.Schema);
    const now = Date.now();
    const old = (id: string, amount: number, dt: number) => wire(v1, t1.toBuffer({ card: { id }, amount, event_time: now + dt }));
    const neu = (id: string, amount: number, dt: number, channel: string | null) => wire(v2, t2.toBuffer({ card: { id }, amount, event_time: now + dt, channel }));
    await produceRaw(topic, [old('c1', 10, -120_000), neu('c1', 5.5, -90_000, 'web'), old('c2', 7, -100_000), old('c1', 2, -60_000), neu('c1', 1.25, -30_000, 'app'), neu('c3', 4, -20_000, null)]);

    const groupId = `g-${uniqueId()}`;
    const worker = await streams.startWorker('swipes', { groupId });
    await waitCaughtUp(await kafka(), groupId, topic);
    await streams.stopWorker(worker);
    expect(worker.stats).toMatchObject({ messages: 6, deadLetters: 0, registryErrors: 0 });
    const cells = await streams.readFeatures(['swipes_count_10m', 'swipes_amount_10m', 'swipes_last_channel'], [['c1'], ['c2'], ['c3']], now + 60_000);
    expect(cells[0]!.map((c) => c?.value)).toEqual([4, 18.75, 'app']);
    expect(cells[1]!.slice(0, 2).map((c) => c?.value)).toEqual([1, 7]);
    expect(cells[2]!.slice(0, 2).map((c) => c?.value)).toEqual([1, 4]);
    expect(cells[0]![2]!.eventTs).toBe(now - 30_000);
  });

  it('unknown schema ids, values not in the wire format, corrupt bodies and fields of the wrong type go to the dead-letter topic with the reason', async () => {
    const topic = await createKafkaTopic('stream-avro-dlq', 1);
    await applyAvroSource('swipes_dlq', topic);
    const id = await register(`${topic}-value`, swipeV1);
    // A schema under another subject whose amount is text, and one whose card id may be null.
    const textAmount = { ...swipeV1, name: 'SwipeText', fields: [swipeV1.fields[0], { name: 'amount', type: 'string' }, swipeV1.fields[2]] };
    const nullableCard = { ...swipeV1, name: 'SwipeNoCard', fields: [{ name: 'card', type: { type: 'record', name: 'Card2', fields: [{ name: 'id', type: ['null', 'string'] }] } }, ...swipeV1.fields.slice(1)] };
    const textId = await register(`other-${uniqueId()}-value`, textAmount);
    const noCardId = await register(`other-${uniqueId()}-value`, nullableCard);
    const type = avro.Type.forSchema(swipeV1 as avro.Schema);
    const now = Date.now();
    const good = (amount: number) => wire(id, type.toBuffer({ card: { id: 'd1' }, amount, event_time: now - 10_000 }));
    const body = type.toBuffer({ card: { id: 'd1' }, amount: 3, event_time: now - 10_000 });
    const unknownId = 2_000_000_000 + Math.floor(Math.random() * 1_000_000);
    const values = [
      good(1), // 0
      Buffer.from(JSON.stringify({ card: { id: 'd1' }, amount: 1, event_time: now })), // 1: JSON on an Avro topic
      Buffer.from([0, 0, 0]), // 2: shorter than the header
      wire(unknownId, body), // 3
      wire(id, body.subarray(0, body.length - 3)), // 4: truncated body
      wire(textId, avro.Type.forSchema(textAmount as avro.Schema).toBuffer({ card: { id: 'd1' }, amount: 'lots', event_time: now })), // 5
      wire(noCardId, avro.Type.forSchema(nullableCard as avro.Schema).toBuffer({ card: { id: null }, amount: 2, event_time: now })), // 6
      good(2), // 7
    ];
    await produceRaw(topic, values);
    const groupId = `g-${uniqueId()}`;
    const worker = await streams.startWorker('swipes_dlq', { groupId });
    await waitCaughtUp(await kafka(), groupId, topic);
    await streams.stopWorker(worker);
    expect(worker.stats).toMatchObject({ messages: 8, deadLetters: 6 });
    const [[count, sum]] = (await streams.readFeatures(['swipes_dlq_count_10m', 'swipes_dlq_amount_10m'], [['d1']], now + 60_000)) as [[{ value: unknown }, { value: unknown }]];
    expect([count.value, sum.value]).toEqual([2, 3]);

    const consumer = kafkaClient().consumer({ groupId: `dlq-${uniqueId()}`, maxWaitTimeInMs: 250 });
    const seen: { offset: string; pointer: string; reason: string; value: Buffer }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [deadLetterTopic(topic)], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const h = message.headers ?? {};
        seen.push({ offset: String(h[DLQ_HEADERS.offset]), pointer: String(h[DLQ_HEADERS.pointer]), reason: String(h[DLQ_HEADERS.reason]), value: message.value! });
      },
    });
    // The app's own stream supervisor runs a worker for this source too (another group): its dead letters are the
    // same records, so compare one per source offset.
    const distinct = () => [...new Map(seen.map((s) => [s.offset, s])).values()].sort((a, b) => Number(a.offset) - Number(b.offset));
    const deadline = Date.now() + 20_000;
    while (distinct().length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    for (const s of seen) expect(s).toEqual(distinct().find((d) => d.offset === s.offset));
    seen.splice(0, seen.length, ...distinct());
    expect(seen.map((s) => [s.offset, s.pointer])).toEqual([['1', ''], ['2', ''], ['3', ''], ['4', ''], ['5', '/amount'], ['6', '/card/id']]);
    expect(seen[0]!.reason).toBe('not in the schema registry wire format: magic byte 0x7b, expected 0x00');
    expect(seen[1]!.reason).toMatch(/^not in the schema registry wire format: 3 bytes/);
    expect(seen[2]!.reason).toBe(`schema id ${unknownId} is not in the schema registry`);
    expect(seen[3]!.reason).toBe(`the Avro body does not read with schema id ${id}: truncated buffer`);
    expect(seen[4]!.reason).toBe('expected a finite number, got string');
    expect(seen[5]!.reason).toBe('missing card_id');
    // Dead letters keep the original bytes.
    seen.forEach((s) => expect(s.value.equals(values[Number(s.offset)]!)).toBe(true));
  });

  it('POST /v1/push encodes JSON events with the subject’s latest schema; 400 names the field that does not fit', async () => {
    const topic = await createKafkaTopic('stream-avro-push', 1);
    await applyAvroSource('taps', topic);
    const push = (events: object[]) => t.app.inject({ method: 'POST', url: '/v1/push/taps', headers: t.auth, payload: { events } });

    // No schema under <topic>-value yet: nothing to encode with.
    const none = await push([{ card: { id: 'p1' }, amount: 1, event_time: Date.now() }]);
    expect(none.statusCode, none.body).toBe(503);
    expect(none.json().error).toMatchObject({ code: 'TRELLIS_ERR_PROVIDER_UNAVAILABLE' });
    expect(none.json().error.message).toContain(`no schema under subject ${topic}-value`);

    await register(`${topic}-value`, swipeV1);
    const id = await register(`${topic}-value`, swipeV2);
    const now = Date.now();
    const bad = async (events: object[], pointer: string, reason: RegExp) => {
      const res = await push(events);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.pointer).toBe(pointer);
      expect(res.json().error.message).toMatch(reason);
    };
    const ok = { card: { id: 'p1' }, amount: 2, event_time: now - 50_000 };
    await bad([ok, { ...ok, coupon: 'x' }], '/events/1/coupon', /not a field of the Avro record test\.trellis\.Swipe/);
    await bad([{ ...ok, card: { id: 'p1', region: 'eu' } }], '/events/0/card/region', /not a field of the Avro record/);
    await bad([{ ...ok, channel: 7 }], '/events/0/channel', /expected a string/); // the source's own field check comes first
    await bad([{ ...ok, event_time: 'yesterday' }], '/events/0/event_time', /ISO-8601/);
    expect((await (await kafka()).endOffsets(topic)).map((e) => e.offset)).toEqual(['0']);

    const events = [ok, { card: { id: 'p1' }, amount: 0.5, event_time: new Date(now - 40_000).toISOString(), channel: 'kiosk' }, { card: { id: 'p2' }, amount: 9, event_time: now - 30_000, channel: null }];
    const res = await push(events);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ accepted: 3, topic, dropped: 0 });

    // On the topic: the wire format with the latest id, bodies that read with that schema.
    const consumer = kafkaClient().consumer({ groupId: `raw-${uniqueId()}`, maxWaitTimeInMs: 250 });
    const raw: Buffer[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void raw.push(message.value!) });
    const deadline = Date.now() + 20_000;
    while (raw.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    const v2 = avro.Type.forSchema(swipeV2 as avro.Schema);
    expect(raw.map((b) => [b[0], b.readUInt32BE(1)])).toEqual([[0, id], [0, id], [0, id]]);
    expect(raw.map((b) => ({ ...(v2.fromBuffer(b.subarray(5)) as object) }))).toEqual([
      { card: expect.objectContaining({ id: 'p1' }), amount: 2, event_time: now - 50_000, channel: null },
      { card: expect.objectContaining({ id: 'p1' }), amount: 0.5, event_time: now - 40_000, channel: 'kiosk' },
      { card: expect.objectContaining({ id: 'p2' }), amount: 9, event_time: now - 30_000, channel: null },
    ]);

    const groupId = `g-${uniqueId()}`;
    const worker = await streams.startWorker('taps', { groupId });
    await waitCaughtUp(await kafka(), groupId, topic);
    await streams.stopWorker(worker);
    const cells = await streams.readFeatures(['taps_count_10m', 'taps_amount_10m', 'taps_last_channel'], [['p1'], ['p2']], now + 60_000);
    expect(cells[0]!.map((c) => c?.value)).toEqual([2, 2.5, 'kiosk']);
    expect(cells[1]!.slice(0, 2).map((c) => c?.value)).toEqual([1, 9]);
  });

  it('registry down: the worker reports a clear error and retries without crashing or dead-lettering; it goes on once the registry is back; a push answers 503', async () => {
    // A plain TCP relay in front of the real registry, which the test closes and opens again.
    const relay = await tcpRelay(new URL(schemaRegistryUrl()).port);
    const topic = await createKafkaTopic('stream-avro-down', 1);
    const url = schemaRegistryUrl().replace(/:\d+\//, `:${relay.port}/`);
    const apply = await t.app.inject({
      method: 'POST', url: '/v1/apply', headers: t.auth,
      payload: { resources: [{ kind: 'provider', name: 'relayed', type: 'kafka', roles: ['stream'], config: { brokers: kafkaBrokers(), schemaRegistry: { url, timeoutMs: 2000 } } }] },
    });
    expect(apply.statusCode, apply.body).toBe(200);
    await applyAvroSource('outage', topic, 'relayed');
    const id = await register(`${topic}-value`, swipeV1);
    const now = Date.now();
    const type = avro.Type.forSchema(swipeV1 as avro.Schema);
    await produceRaw(topic, [wire(id, type.toBuffer({ card: { id: 'o1' }, amount: 4, event_time: now - 5_000 })), wire(id, type.toBuffer({ card: { id: 'o1' }, amount: 6, event_time: now - 4_000 }))]);

    await relay.close();
    const pushed = await t.app.inject({ method: 'POST', url: '/v1/push/outage', headers: t.auth, payload: { events: [{ card: { id: 'o1' }, amount: 1, event_time: now }] } });
    expect(pushed.statusCode, pushed.body).toBe(503);
    expect(pushed.json().error.message).toMatch(new RegExp(`Provider relayed@\\S+ unavailable: schema registry http://127\\.0\\.0\\.1:${relay.port}/\\S+ unreachable: ECONNREFUSED`));

    const errors: string[] = [];
    const crashes: Error[] = [];
    const groupId = `g-${uniqueId()}`;
    const worker = await streams.startWorker('outage', { groupId, onError: (e) => errors.push(e.message), onCrash: (e) => crashes.push(e) });
    try {
      const deadline = Date.now() + 20_000;
      while (errors.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(errors.length).toBeGreaterThanOrEqual(3);
      expect(errors[0]).toMatch(/^schema registry http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 unreachable: ECONNREFUSED$/);
      expect(worker.stats).toMatchObject({ deadLetters: 0, batches: 0 });
      expect((await (await streams.provider('relayed')).committedOffsets(groupId, topic)).map((c) => c.offset)).toEqual(['-1']);

      await relay.open();
      await waitCaughtUp(await streams.provider('relayed'), groupId, topic);
    } finally {
      await streams.stopWorker(worker);
      await relay.close();
    }
    expect(crashes).toEqual([]);
    expect(worker.stats).toMatchObject({ messages: 2, deadLetters: 0 });
    expect(worker.stats.registryErrors).toBe(errors.length);
    const [[count, sum]] = (await streams.readFeatures(['outage_count_10m', 'outage_amount_10m'], [['o1']], now + 60_000)) as [[{ value: unknown }, { value: unknown }]];
    expect([count.value, sum.value]).toEqual([2, 10]);
  });

  it('an Avro source on a provider without schemaRegistry is refused at apply at its format; the config is checked key by key', async () => {
    const topic = await createKafkaTopic('stream-avro-bare', 1);
    const res = await t.app.inject({
      method: 'POST', url: '/v1/apply', headers: t.auth,
      payload: { resources: [{ kind: 'source', name: 'bare_src', provider: 'bare', topic, format: 'avro', fields, timestampColumn: 'event_time' }] },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', pointer: '/resources/0/format' });
    expect(res.json().error.message).toMatch(/provider bare@\S+ has none \(config\.schemaRegistry\.url\)/);
    expect((await t.app.inject({ method: 'GET', url: '/v1/source/bare_src', headers: t.auth })).statusCode).toBe(404);

    const config = (schemaRegistry: unknown) => () => parseKafkaConfig({ brokers: ['127.0.0.1:1'], schemaRegistry });
    expect(config({ url: 'http://r:8081', username: 'u', password: 'p' })().schemaRegistry).toEqual({ url: 'http://r:8081', username: 'u', password: 'p', timeoutMs: 5000 });
    expect(config('http://r:8081')).toThrow('kafka provider config schemaRegistry: expected { url');
    expect(config({ url: 'r:8081' })).toThrow('kafka provider config schemaRegistry.url: expected an http(s) URL');
    expect(config({ url: 'http://r', username: 'u' })).toThrow('schemaRegistry.username: give username and password together');
    expect(config({ url: 'http://r', timeoutMs: 0 })).toThrow('schemaRegistry.timeoutMs');
  });
});

/** A TCP relay on a fixed loopback port to 127.0.0.1:`target`, closed and opened again by the test. */
async function tcpRelay(target: string): Promise<{ port: number; open(): Promise<void>; close(): Promise<void> }> {
  let server: Server | null = null;
  const sockets = new Set<Socket>();
  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(Number(target), '127.0.0.1');
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
  server = await listen(0);
  const port = (server.address() as { port: number }).port;
  return {
    port,
    async open() {
      server ??= await listen(port);
    },
    async close() {
      const s = server;
      server = null;
      for (const sock of sockets) sock.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

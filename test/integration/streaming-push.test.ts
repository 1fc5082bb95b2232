import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamRuntime } from '../../src/streaming/stream-runtime.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, kafkaBrokers, redisUrl, uniqueId } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';
import { waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';

const prefix = createRedisPrefix('stream-push');
const admin = new Redis(redisUrl(), { lazyConnect: true });
let t: TestTrellis;
let streams: StreamRuntime;
let topic: string;

const fields = [
  { name: 'card_id', type: 'string' },
  { name: 'amount', type: 'float' },
  { name: 'event_time', type: 'timestamp' },
];

beforeAll(async () => {
  topic = await createKafkaTopic('stream-push', 2);
  // About the push path: the offline table behind `refunds` is never created, so apply-time source checks are off.
  t = await openTestTrellis('pglite', {}, { verifySources: false });
  streams = new StreamRuntime(t.registry, { dataDir: null });
  const resources = [
    { kind: 'provider', name: 'events', type: 'kafka', roles: ['stream'], config: { brokers: kafkaBrokers() } },
    { kind: 'provider', name: 'cache', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
    { kind: 'provider', name: 'lake', type: 'duckdb', roles: ['offline'], config: { path: 'lake.duckdb' } },
    { kind: 'entity', name: 'card', keys: [{ name: 'card_id', type: 'string' }] },
    { kind: 'source', name: 'swipes', provider: 'events', topic, format: 'json', fields, timestampColumn: 'event_time', allowedLateness: '1m' },
    { kind: 'source', name: 'refunds', provider: 'lake', table: 'refunds_copy', fields, timestampColumn: 'event_time', allowedLateness: '1m' },
    { kind: 'feature', name: 'swipe_count_10m', entity: 'card', source: 'swipes', aggregation: { fn: 'count', window: '10m', slide: '1m' }, valueType: 'int', onlineProvider: 'cache' },
    { kind: 'feature', name: 'swipe_amount_10m', entity: 'card', source: 'swipes', aggregation: { fn: 'sum', column: 'amount', window: '10m', slide: '1m' }, valueType: 'float', onlineProvider: 'cache' },
    { kind: 'feature', name: 'last_swipe_amount', entity: 'card', source: 'swipes', column: 'amount', valueType: 'float', onlineProvider: 'cache' },
    { kind: 'feature', name: 'refund_max_1h', entity: 'card', source: 'refunds', aggregation: { fn: 'max', column: 'amount', window: '1h' }, valueType: 'float', onlineProvider: 'cache' },
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

describe('POST /v1/push/{source}', () => {
  it('refuses a stream feature definition whose window is not a multiple of its slide', async () => {
    const res = await t.app.inject({
      method: 'POST', url: '/v1/apply', headers: t.auth,
      payload: { resources: [{ kind: 'feature', name: 'bad_slide', entity: 'card', source: 'swipes', aggregation: { fn: 'count', window: '10m', slide: '3m' }, valueType: 'int' }] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.pointer).toMatch(/aggregation\/slide/);
  });

  it('400 names /events/i/field and writes nothing when one event does not fit', async () => {
    const now = Date.now();
    const res = await t.app.inject({
      method: 'POST', url: '/v1/push/swipes', headers: t.auth,
      payload: { events: [{ card_id: 'c1', amount: 1, event_time: now }, { card_id: 'c1', amount: 'lots', event_time: now }] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'TRELLIS_ERR_VALIDATION', pointer: '/events/1/amount' });
    const ends = await (await streams.provider('events')).endOffsets(topic);
    expect(ends.every((e) => e.offset === '0')).toBe(true);
    const missingKey = await t.app.inject({ method: 'POST', url: '/v1/push/swipes', headers: t.auth, payload: { events: [{ amount: 1, event_time: now }] } });
    expect(missingKey.statusCode).toBe(400);
    expect(missingKey.json().error.pointer).toBe('/events/0/card_id');
  });

  it('needs an API key with write scope', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/push/swipes', payload: { events: [{ card_id: 'c1', amount: 1, event_time: 1 }] } });
    expect(res.statusCode).toBe(401);
  });

  it('produces to the topic; a worker started from the registry makes the windows readable', async () => {
    const now = Date.now();
    const events = [
      { card_id: 'c1', amount: 10, event_time: now - 120_000 },
      { card_id: 'c1', amount: 5.5, event_time: new Date(now - 90_000).toISOString() },
      { card_id: 'c2', amount: 7, event_time: now - 100_000 },
      { card_id: 'c1', amount: 1, event_time: now - 20 * 60_000 }, // behind the 10m window (and within lateness of nothing yet)
    ];
    const res = await t.app.inject({ method: 'POST', url: '/v1/push/swipes', headers: t.auth, payload: { events } });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ accepted: 4, topic, dropped: 0 });

    const groupId = `g-${uniqueId()}`;
    const worker = await streams.startWorker('swipes', { groupId });
    await waitCaughtUp(await streams.provider('events'), groupId, topic);
    await worker.stop();
    const readAt = now + 60_000; // a full slide later: every event above is inside (t* − 10m, t*]... except the old one
    const cells = await streams.readFeatures(['swipe_count_10m', 'swipe_amount_10m', 'last_swipe_amount'], [['c1'], ['c2'], ['c3']], readAt);
    expect(cells[0]!.map((c) => c?.value)).toEqual([2, 15.5, 5.5]);
    expect(cells[1]!.map((c) => c?.value)).toEqual([1, 7, 7]);
    expect(cells[2]![0]).toMatchObject({ value: 0 });
    expect(cells[2]![1]).toMatchObject({ value: null });
    expect(cells[2]![2]).toBeNull();
    expect(cells[0]![0]!.eventTs).toBe(Math.floor(readAt / 60_000) * 60_000);
  });

  it('reads fields at their JSON paths in nested events, and names the path of a bad one', async () => {
    const nestedTopic = await createKafkaTopic('stream-push-nested', 1);
    const nested = [
      { name: 'card_id', type: 'string', path: '/card/id' },
      { name: 'amount', type: 'float', path: '/payment/amount' },
      { name: 'event_time', type: 'timestamp', path: '/meta/at' },
      { name: 'odd/key~', type: 'string' }, // default path /odd~1key~0
    ];
    const applied = await t.app.inject({
      method: 'POST', url: '/v1/apply', headers: t.auth,
      payload: {
        resources: [
          { kind: 'source', name: 'orders', provider: 'events', topic: nestedTopic, format: 'json', fields: nested, timestampColumn: 'event_time', allowedLateness: '1m' },
          { kind: 'feature', name: 'order_amount_10m', entity: 'card', source: 'orders', aggregation: { fn: 'sum', column: 'amount', window: '10m', slide: '1m' }, valueType: 'float', onlineProvider: 'cache' },
          { kind: 'feature', name: 'last_order_tag', entity: 'card', source: 'orders', column: 'odd/key~', valueType: 'string', onlineProvider: 'cache' },
        ],
      },
    });
    expect(applied.statusCode, applied.body).toBe(200);
    const now = Date.now();
    const event = (card: string | null, amount: unknown, at: number, tag = 't') => ({ card: card === null ? {} : { id: card }, payment: { amount }, meta: { at }, 'odd/key~': tag, ignored: { deep: [1, 2] } });
    const bad = async (events: object[], pointer: string) => {
      const res = await t.app.inject({ method: 'POST', url: '/v1/push/orders', headers: t.auth, payload: { events } });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.pointer).toBe(pointer);
    };
    await bad([event('c1', 1, now), event(null, 2, now)], '/events/1/card/id');
    await bad([event('c1', 'ten', now)], '/events/0/payment/amount');
    await bad([{ ...event('c1', 1, now), meta: 'not an object' }], '/events/0/meta/at');
    await bad([event('c1', 1, now, 7 as unknown as string)], '/events/0/odd~1key~0');
    const ok = await t.app.inject({ method: 'POST', url: '/v1/push/orders', headers: t.auth, payload: { events: [event('c1', 2.5, now - 60_000, 'a'), event('c1', 4, now - 30_000, 'b'), event('c2', 1, now - 30_000, 'c')] } });
    expect(ok.statusCode, ok.body).toBe(202);

    const groupId = `g-${uniqueId()}`;
    const worker = await streams.startWorker('orders', { groupId });
    await waitCaughtUp(await streams.provider('events'), groupId, nestedTopic);
    await worker.stop();
    expect(worker.stats.deadLetters).toBe(0);
    const cells = await streams.readFeatures(['order_amount_10m', 'last_order_tag'], [['c1'], ['c2']], now + 60_000);
    expect(cells.map((row) => row.map((c) => c?.value))).toEqual([[6.5, 'b'], [1, 'c']]);
  });

  it('writes tiles directly for a source without a topic; events older than the allowed lateness are dropped', async () => {
    const now = Date.now();
    const res = await t.app.inject({
      method: 'POST', url: '/v1/push/refunds', headers: t.auth,
      payload: { events: [{ card_id: 'c9', amount: 3, event_time: now - 1000 }, { card_id: 'c9', amount: 8, event_time: now - 500 }, { card_id: 'c9', amount: 99, event_time: now - 3_600_000 }] },
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ accepted: 2, topic: null, dropped: 1 });
    const [[max]] = (await streams.readFeatures(['refund_max_1h'], [['c9']], now + 3_600_000 - 1)) as [[{ value: unknown }]];
    expect(max.value).toBe(8);
  });

  it('404 for an unknown source', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/push/nope', headers: t.auth, payload: { events: [{ a: 1 }] } });
    expect(res.statusCode).toBe(404);
  });
});

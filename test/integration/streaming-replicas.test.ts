/**
 * Two Trellis replicas on one Postgres registry: each runs a member of the same stream job's consumer group, Kafka
 * spreads the topic's partitions over them, and the window values served by either replica are exact.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tileLayout } from '../../src/streaming/tiles.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, createTestDatabase, kafkaBrokers, kafkaClient, redisUrl, type TestDatabase } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';
import { oracleValue, type OracleEvent } from '../unit/streaming/stream-oracle.js';
import { waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';

const prefix = createRedisPrefix('stream-replicas');
const admin = new Redis(redisUrl(), { lazyConnect: true });
let database: TestDatabase;
let a: TestTrellis;
let b: TestTrellis;
let topic: string;

async function until<T>(probe: () => T, ok: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  topic = await createKafkaTopic('stream-replicas', 4);
  database = await createTestDatabase('stream_replicas');
  a = await openTestTrellis('pglite', { databaseUrl: database.url });
  b = await openTestTrellis('pglite', { databaseUrl: database.url });
  const res = await a.app.inject({
    method: 'POST', url: '/v1/apply', headers: a.auth,
    payload: {
      resources: [
        { kind: 'provider', name: 'events', type: 'kafka', roles: ['stream'], config: { brokers: kafkaBrokers() } },
        { kind: 'provider', name: 'cache', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
        { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
        { kind: 'source', name: 'clicks', provider: 'events', topic, timestampColumn: 'ts', allowedLateness: '1h', fields: [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'ts', type: 'timestamp' }] },
        { kind: 'feature', name: 'clicks_1h', entity: 'user', source: 'clicks', aggregation: { fn: 'count', window: '1h', slide: '1m' }, valueType: 'int', onlineProvider: 'cache' },
        { kind: 'feature', name: 'amount_1h', entity: 'user', source: 'clicks', aggregation: { fn: 'sum', column: 'amount', window: '1h', slide: '1m' }, valueType: 'int', onlineProvider: 'cache' },
      ],
    },
  });
  expect(res.statusCode, res.body).toBe(200);
}, 120_000);

afterAll(async () => {
  await b?.close();
  await a?.close();
  await database?.drop();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

describe('stream jobs on two Trellis replicas', () => {
  it('share the partitions of one consumer group and serve exact totals', async () => {
    // b learns about the apply through the registry's NOTIFY channel.
    const [jobA, jobB] = await Promise.all([until(() => a.streamSupervisor.jobs, (j) => j.length === 1), until(() => b.streamSupervisor.jobs, (j) => j.length === 1)]);
    expect(jobA![0]!.groupId).toBe(jobB![0]!.groupId);
    await new Promise((r) => setTimeout(r, 3000)); // both members joined: the group rebalanced to two members
    const now = Date.now();
    const events: OracleEvent[] = Array.from({ length: 2000 }, (_, i) => ({ partition: i % 4, offset: Math.floor(i / 4), key: `u${i % 13}`, ts: now - 5 * 60_000 - (i % 600) * 1000, value: (i * 7919) % 100 }));
    const producer = kafkaClient().producer();
    await producer.connect();
    for (const p of [0, 1, 2, 3]) {
      await producer.send({ topic, messages: events.filter((e) => e.partition === p).map((e) => ({ partition: p, value: JSON.stringify({ user_id: e.key, amount: e.value, ts: e.ts }) })) });
    }
    await producer.disconnect();
    await waitCaughtUp(await a.streams.provider('events'), jobA![0]!.groupId, topic, 60_000);
    const consumed = [a, b].map((t) => t.streamSupervisor.jobs[0]!.workers.reduce((sum, w) => sum + w.stats.messages, 0));
    expect(consumed[0]).toBeGreaterThan(0);
    expect(consumed[1]).toBeGreaterThan(0);
    expect(consumed[0]! + consumed[1]!).toBeGreaterThanOrEqual(events.length);

    const users = Array.from({ length: 13 }, (_, i) => `u${i}`);
    for (const t of [a, b]) {
      const before = Date.now();
      const res = await t.app.inject({ method: 'POST', url: '/v1/features/online', headers: a.auth, payload: { features: ['clicks_1h', 'amount_1h'], entities: users.map((user_id) => ({ user_id })) } });
      expect(res.statusCode, res.body).toBe(200);
      const layout = (fn: 'count' | 'sum') => tileLayout({ fn, windowMs: 3_600_000, slideMs: 60_000 });
      res.json().results.forEach((row: { values: unknown[] }, i: number) => {
        expect(row.values).toEqual([oracleValue(layout('count'), events, users[i]!, before, true), oracleValue(layout('sum'), events, users[i]!, before, false)]);
      });
    }
  }, 120_000);
});

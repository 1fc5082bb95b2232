import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaStreamProvider, type KafkaStreamProvider } from '../../adapters/kafka/index.js';
import { createRedisTileStore, type RedisTileStore } from '../../adapters/redis/redis-tile-store.js';
import { DLQ_HEADERS, StreamWorker, deadLetterTopic } from '../../src/streaming/stream-worker.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, kafkaBrokers, kafkaClient, redisUrl, uniqueId } from '../support/services.js';
import { oracleAccepted, type OracleEvent } from '../unit/streaming/stream-oracle.js';
import { LATENESS, expectOracle, streamJob, waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';

const prefix = createRedisPrefix('stream');
const admin = new Redis(redisUrl(), { lazyConnect: true });
let provider: KafkaStreamProvider;
let tiles: RedisTileStore;

beforeAll(async () => {
  provider = await createKafkaStreamProvider({ brokers: kafkaBrokers(), clientId: 'trellis-stream-test' });
  tiles = createRedisTileStore({ url: redisUrl(), keyPrefix: prefix });
});

afterAll(async () => {
  await tiles.close();
  await provider.close();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

async function produce(topic: string, events: readonly (OracleEvent & { raw?: string })[]): Promise<void> {
  const producer = await provider.producer();
  const byPartition = new Map<number, typeof events[number][]>();
  for (const e of events) (byPartition.get(e.partition) ?? byPartition.set(e.partition, []).get(e.partition)!).push(e);
  for (const [partition, list] of byPartition) {
    await producer.send({
      topic,
      messages: [...list].sort((a, b) => a.offset - b.offset).map((e) => ({ partition, key: e.key, value: e.raw ?? JSON.stringify({ user_id: e.key, amount: e.value, ts: e.ts }) })),
    });
  }
}

/** Random events: 3 partitions, keys a–e, event times spread ±40 s around `base` (out of order, some too late). */
const streamArb = (base: number) =>
  fc
    .array(fc.record({ partition: fc.integer({ min: 0, max: 2 }), key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), dt: fc.integer({ min: -40_000, max: 20_000 }), value: fc.integer({ min: -500, max: 500 }) }), {
      minLength: 1,
      maxLength: 300,
    })
    .map((raw) => {
      const offsets = [0, 0, 0];
      return raw.map((r): OracleEvent => ({ partition: r.partition, offset: offsets[r.partition]!++, key: r.key, ts: base + r.dt, value: r.value }));
    });

describe('stream workers on the real broker', () => {
  it('window results equal the brute-force oracle for random streams (out of order, late events)', async () => {
    const base = Date.now() - 30_000;
    await fc.assert(
      fc.asyncProperty(streamArb(base), async (events) => {
        const topic = await createKafkaTopic('stream-oracle', 3);
        const job = streamJob(topic);
        await produce(topic, events);
        const worker = new StreamWorker({ job, provider, tileStoreFor: async () => tiles, groupId: `g-${uniqueId()}` });
        await worker.start();
        try {
          await waitCaughtUp(provider, worker.groupId, topic);
        } finally {
          await worker.stop();
        }
        const accepted = oracleAccepted(events, LATENESS);
        expect(worker.stats.dropped).toBe(events.length - accepted.length);
        for (const now of [base + 20_000, base + 25_001, base + 35_000]) await expectOracle(job, tiles, events, now);
      }),
      { numRuns: 4 },
    );
  }, 240_000);

  it('two workers in one group share the partitions and the totals are exact', async () => {
    const topic = await createKafkaTopic('stream-pair', 4);
    const job = streamJob(topic, 3_600_000);
    const groupId = `g-${uniqueId()}`;
    const base = Date.now() - 10_000;
    const events: OracleEvent[] = [];
    const offsets = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const partition = i % 4;
      events.push({ partition, offset: offsets[partition]!++, key: `k${i % 37}`, ts: base + (i % 500), value: (i * 7919) % 1000 });
    }
    const a = new StreamWorker({ job, provider, tileStoreFor: async () => tiles, groupId });
    const b = new StreamWorker({ job, provider, tileStoreFor: async () => tiles, groupId });
    await Promise.all([a.start(), b.start()]);
    try {
      await new Promise((r) => setTimeout(r, 1500)); // let the group settle on two members
      await produce(topic, events);
      await waitCaughtUp(provider, groupId, topic);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(a.stats.messages).toBeGreaterThan(0);
    expect(b.stats.messages).toBeGreaterThan(0);
    expect(a.stats.messages + b.stats.messages - a.stats.skipped / job.features.length - b.stats.skipped / job.features.length).toBeGreaterThanOrEqual(4000);
    await expectOracle(job, tiles, events, base + 10_000);
  });

  it('malformed messages go to the dead-letter topic with the reason, and the consumer goes on', async () => {
    const topic = await createKafkaTopic('stream-dlq', 1);
    const job = streamJob(topic);
    const base = Date.now();
    const good = (offset: number, key: string, value: number): OracleEvent => ({ partition: 0, offset, key, ts: base + offset, value });
    const events = [
      good(0, 'a', 1),
      { ...good(1, 'a', 0), raw: '{not json' },
      good(2, 'a', 2),
      { ...good(3, 'a', 0), raw: JSON.stringify({ user_id: 'a', amount: 'ten', ts: base }) },
      { ...good(4, 'a', 0), raw: JSON.stringify({ amount: 3, ts: base }) },
      { ...good(5, 'a', 0), raw: JSON.stringify({ user_id: 'a', amount: 3 }) },
      good(6, 'b', 5),
    ];
    await produce(topic, events);
    const worker = new StreamWorker({ job, provider, tileStoreFor: async () => tiles, groupId: `g-${uniqueId()}` });
    await worker.start();
    try {
      await waitCaughtUp(provider, worker.groupId, topic);
    } finally {
      await worker.stop();
    }
    expect(worker.stats.deadLetters).toBe(4);
    await expectOracle(job, tiles, events.filter((e) => !('raw' in e)), base + 10_000);

    const consumer = kafkaClient().consumer({ groupId: `dlq-${uniqueId()}`, maxWaitTimeInMs: 250 });
    const seen: { reason: string; pointer: string; offset: string; value: string }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [deadLetterTopic(topic)], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const h = message.headers ?? {};
        seen.push({ reason: String(h[DLQ_HEADERS.reason]), pointer: String(h[DLQ_HEADERS.pointer]), offset: String(h[DLQ_HEADERS.offset]), value: message.value?.toString() ?? '' });
      },
    });
    const deadline = Date.now() + 20_000;
    while (seen.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    expect(seen.map((s) => [s.offset, s.pointer])).toEqual([
      ['1', ''],
      ['3', '/amount'],
      ['4', '/user_id'],
      ['5', '/ts'],
    ]);
    expect(seen[0]!.reason).toMatch(/invalid JSON/);
    expect(seen[0]!.value).toBe('{not json');
    expect(seen[1]!.reason).toMatch(/integer/);
  });
});


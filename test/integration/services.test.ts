/**
 * Smoke tests proving the test services are the real thing: a Postgres server, a Redis server and
 * a Kafka broker that creates topics, spreads messages over partitions and runs consumer groups.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  clearRedisPrefix,
  createKafkaTopic,
  createRedisPrefix,
  createTestDatabase,
  deleteKafkaTopics,
  kafkaClient,
  redisUrl,
  uniqueId,
} from '../support/services.js';

describe('postgres', () => {
  it('answers select version() on a fresh database', async () => {
    const db = await createTestDatabase('smoke');
    try {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: string; db: string }>(
          'select version() as version, current_database() as db',
        );
        expect(rows[0]?.version).toMatch(/^PostgreSQL \d+/);
        expect(rows[0]?.db).toBe(db.name);
        expect(db.name).toMatch(/^trellis_t_smoke_[0-9a-f]+$/);
        // A fresh database has no user tables.
        const tables = await client.query(
          "select count(*)::int as n from information_schema.tables where table_schema = 'public'",
        );
        expect(tables.rows[0].n).toBe(0);
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
    const admin = new pg.Client({ connectionString: db.url.replace(`/${db.name}`, '/postgres') });
    await admin.connect();
    try {
      const { rows } = await admin.query('select 1 from pg_database where datname = $1', [db.name]);
      expect(rows).toHaveLength(0);
    } finally {
      await admin.end();
    }
  });
});

describe('redis', () => {
  const redis = new Redis(redisUrl(), { lazyConnect: true });
  const prefix = createRedisPrefix('smoke');

  afterAll(async () => {
    await clearRedisPrefix(redis, prefix);
    redis.disconnect();
  });

  it('stores and reads back values under a test prefix', async () => {
    await redis.connect();
    await redis.set(`${prefix}greeting`, 'hello');
    await redis.hset(`${prefix}h`, { a: '1', b: '2' });
    expect(await redis.get(`${prefix}greeting`)).toBe('hello');
    expect(await redis.hmget(`${prefix}h`, 'a', 'b', 'c')).toEqual(['1', '2', null]);
    expect(await clearRedisPrefix(redis, prefix)).toBe(2);
    expect(await redis.get(`${prefix}greeting`)).toBeNull();
  });
});

describe('kafka', () => {
  const topics: string[] = [];
  afterAll(async () => {
    await deleteKafkaTopics(...topics);
  });

  it('delivers 100 messages over 3 partitions to a consumer group exactly once', async () => {
    const topic = await createKafkaTopic('smoke', 3);
    topics.push(topic);
    const kafka = kafkaClient();

    const admin = kafka.admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(meta.topics[0]?.partitions).toHaveLength(3);
    } finally {
      await admin.disconnect();
    }

    const sent = new Map<string, string>();
    const producer = kafka.producer();
    await producer.connect();
    try {
      const messages = Array.from({ length: 100 }, (_, i) => {
        const key = `key-${i}`;
        const value = `value-${i}-${uniqueId(3)}`;
        sent.set(key, value);
        return { key, value, partition: i % 3 };
      });
      await producer.send({ topic, messages, acks: -1 });
    } finally {
      await producer.disconnect();
    }

    const seen = new Map<string, string[]>();
    const partitionsSeen = new Set<number>();
    // A short fetch long-poll: disconnect() waits for the fetch in flight (default up to 5s).
    const consumer = kafka.consumer({ groupId: `trellis-smoke-${uniqueId()}`, maxWaitTimeInMs: 250 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let received = 0;
      const allReceived = new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ partition, message }) => {
            const key = message.key?.toString() ?? '';
            const values = seen.get(key) ?? [];
            values.push(message.value?.toString() ?? '');
            seen.set(key, values);
            partitionsSeen.add(partition);
            if (++received === 100) resolve();
          },
        });
      });
      await Promise.race([
        allReceived,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`only ${received} of 100 messages consumed within 45s`)), 45_000),
        ),
      ]);
      // Give any duplicate delivery a moment to show up before checking "exactly once".
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      await consumer.disconnect();
    }

    expect(partitionsSeen).toEqual(new Set([0, 1, 2]));
    expect(seen.size).toBe(100);
    for (const [key, value] of sent) {
      expect(seen.get(key), key).toEqual([value]);
    }
  });
});

/**
 * Streaming benchmark (not a timed test): needs Kafka and Redis (`bash scripts/services/up.sh`).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/streaming/stream-bench.js
 *
 * 1. Throughput: N events already in a 4-partition topic; one worker (one process) consumes them into Redis tiles
 *    for 3 features (count/sum 10m sliding by 1m, last) — events/s from start to fully committed.
 * 2. Freshness at a steady RATE events/s for SECONDS: event time (stamped at produce) → tiles written in Redis
 *    (visible to a read of the tile), p50/p99/max per event.
 * Env: TRELLIS_TEST_KAFKA_BROKERS (127.0.0.1:59092), TRELLIS_TEST_REDIS_URL (redis://127.0.0.1:56379),
 * BENCH_EVENTS (200000), BENCH_RATE (10000), BENCH_SECONDS (20), BENCH_KEYS (100000 distinct entity keys).
 * Also reports the CPU time per event of this process (the worker) and of the Redis server (`INFO cpu`), since wall
 * time on a shared machine is noisy: compare runs of the old and new code made in one session.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import { createKafkaStreamProvider, type KafkaStreamProvider } from '../../adapters/kafka/index.js';
import { createRedisTileStore } from '../../adapters/redis/redis-tile-store.js';
import type { StreamJob } from '../../src/streaming/stream-job.js';
import { StreamWorker } from '../../src/streaming/stream-worker.js';
import { tileLayout } from '../../src/streaming/tiles.js';

const brokers = (process.env.TRELLIS_TEST_KAFKA_BROKERS ?? '127.0.0.1:59092').split(',');
const redisUrl = process.env.TRELLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:56379';
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const RATE = Number(process.env.BENCH_RATE ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const id = () => randomBytes(4).toString('hex');
const prefix = `trellis:bench-stream:${id()}:`;

function job(topic: string): StreamJob {
  const common = { entity: 'user@default', onlineProvider: 'cache@default', keyFields: ['user_id'], valueType: 'float' as const, ttlSeconds: undefined };
  return {
    source: {
      id: 'clicks@default', provider: 'events@default', topic, timestampField: 'ts', allowedLatenessMs: 60_000,
      fields: [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'float' }, { name: 'ts', type: 'timestamp' }],
    },
    features: [
      { ...common, id: `clicks_10m@b${id()}`, layout: tileLayout({ fn: 'count', windowMs: 600_000, slideMs: 60_000 }), valueField: null },
      { ...common, id: `amount_10m@b${id()}`, layout: tileLayout({ fn: 'sum', windowMs: 600_000, slideMs: 60_000 }), valueField: 'amount' },
      { ...common, id: `last_amount@b${id()}`, layout: tileLayout({ fn: 'last' }), valueField: 'amount' },
    ],
  };
}

async function createTopic(provider: KafkaStreamProvider, name: string): Promise<string> {
  const topic = `${name}-${id()}`;
  await provider.ensureTopic(topic, { partitions: 4 });
  return topic;
}

const message = (i: number, ts: number) => ({ partition: i % 4, value: JSON.stringify({ user_id: `u${(i * 7919) % KEYS}`, amount: (i % 1000) / 10, ts }) });

async function redisCpuSeconds(): Promise<number> {
  const redis = new Redis(redisUrl);
  const info = await redis.info('cpu');
  await redis.quit();
  return Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]);
}

async function throughput(provider: KafkaStreamProvider): Promise<{ eps: number; nodeCpuUs: number; redisCpuUs: number }> {
  const topic = await createTopic(provider, 'bench-throughput');
  const producer = await provider.producer();
  const now = Date.now();
  for (let i = 0; i < EVENTS; i += 5000) {
    await producer.send({ topic, messages: Array.from({ length: Math.min(5000, EVENTS - i) }, (_, j) => message(i + j, now - 60_000 + ((i + j) % 60_000))) });
  }
  const tiles = createRedisTileStore({ url: redisUrl, keyPrefix: prefix });
  let consumed = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const worker = new StreamWorker({ job: job(topic), provider, tileStoreFor: async () => tiles, groupId: `bench-${id()}`, onBatch: (b) => ((consumed += b.messages) >= EVENTS ? done() : undefined) });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const redisCpu = await redisCpuSeconds();
  await worker.start();
  await finished;
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const redisUsed = (await redisCpuSeconds()) - redisCpu;
  await worker.stop();
  await tiles.close();
  return { eps: EVENTS / seconds, nodeCpuUs: (used.user + used.system) / EVENTS, redisCpuUs: (redisUsed * 1e6) / EVENTS };
}

async function freshness(provider: KafkaStreamProvider): Promise<{ p50: number; p99: number; max: number; events: number; produced: number; ackP99: number }> {
  const topic = await createTopic(provider, 'bench-freshness');
  const tiles = createRedisTileStore({ url: redisUrl, keyPrefix: prefix });
  const lags: number[] = [];
  let measuring = false;
  const worker = new StreamWorker({
    job: job(topic), provider, tileStoreFor: async () => tiles, groupId: `bench-${id()}`,
    onBatch: (b) => { if (measuring) for (const ts of b.eventTimes) lags.push(b.visibleAt - ts); },
  });
  await worker.start();
  await new Promise((r) => setTimeout(r, 2000)); // group joined, partitions assigned
  // A producer of its own (acks=1, requests in flight): the shared idempotent producer sends one request at a
  // time, and its queueing on a loaded machine would be counted as stream freshness.
  const producer = new kafkajs.Kafka({ clientId: 'trellis-stream-bench-load', brokers, logLevel: kafkajs.logLevel.NOTHING }).producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const acks: number[] = [];
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((RATE * tickMs) / 1000));
  const started = Date.now();
  let i = 0;
  measuring = true;
  while (Date.now() - started < SECONDS * 1000) {
    const due = started + ((i / perTick) * tickMs);
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const ts = Date.now();
    void producer.send({ topic, acks: 1, messages: Array.from({ length: perTick }, (_, j) => message(i + j, ts)) }).then(() => acks.push(Date.now() - ts));
    i += perTick;
  }
  const produced = i;
  const drainUntil = Date.now() + 15_000;
  while (lags.length < produced && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 100));
  await worker.stop();
  await producer.disconnect();
  await tiles.close();
  lags.sort((a, b) => a - b);
  acks.sort((a, b) => a - b);
  const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
  return { p50: q(lags, 0.5), p99: q(lags, 0.99), max: lags[lags.length - 1] ?? NaN, events: lags.length, produced, ackP99: q(acks, 0.99) };
}

const provider = await createKafkaStreamProvider({ brokers, clientId: 'trellis-stream-bench' });
try {
  const t = await throughput(provider);
  console.log(`throughput: ${EVENTS} events, ${KEYS} keys, 3 features, 1 worker → ${Math.round(t.eps)} events/s; CPU per event: worker ${t.nodeCpuUs.toFixed(1)} µs, Redis ${t.redisCpuUs.toFixed(1)} µs`);
  const f = await freshness(provider);
  console.log(`freshness at ${RATE} events/s for ${SECONDS}s (${f.events} of ${f.produced} events visible within 15 s of the end): p50 ${f.p50} ms, p99 ${f.p99} ms, max ${f.max} ms; produce ack p99 ${f.ackP99} ms`);
} finally {
  await provider.close();
  const redis = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
  await redis.quit();
}
// kafkajs may keep a reconnect timer alive after disconnect; the benchmark is done.
process.exit(0);

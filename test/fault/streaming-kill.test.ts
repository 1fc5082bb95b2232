/**
 * kill -9 a stream worker process mid-stream, several times, while events keep arriving; restart it each time.
 * At the end every window equals the brute-force oracle: nothing lost, nothing double-counted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaStreamProvider, type KafkaStreamProvider } from '../../adapters/kafka/index.js';
import { createRedisTileStore, type RedisTileStore } from '../../adapters/redis/redis-tile-store.js';
import { buildWorkerScript, type CompiledWorker } from '../support/coordinator-child.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, kafkaBrokers, redisUrl, uniqueId } from '../support/services.js';
import { expectOracle, streamJob, waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';
import type { OracleEvent } from '../unit/streaming/stream-oracle.js';

let worker: CompiledWorker | undefined;
let script: string;
const prefix = createRedisPrefix('stream-kill');
const admin = new Redis(redisUrl(), { lazyConnect: true });
let provider: KafkaStreamProvider;
let tiles: RedisTileStore;

function spawnWorker(config: object): { child: ChildProcess; batches: () => number; ready: Promise<void> } {
  const child = spawn(process.execPath, [script], { env: { ...process.env, TRELLIS_STREAM_WORKER: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'inherit'] });
  let batches = 0;
  let buffer = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.includes('"batch"')) batches++;
      if (line.includes('"ready"')) markReady();
    }
  });
  return { child, batches: () => batches, ready };
}

beforeAll(async () => {
  worker = await buildWorkerScript('stream-worker');
  script = worker.script;
  provider = await createKafkaStreamProvider({ brokers: kafkaBrokers(), clientId: 'trellis-stream-kill-test' });
  tiles = createRedisTileStore({ url: redisUrl(), keyPrefix: prefix });
}, 240_000);

afterAll(async () => {
  await tiles?.close();
  await provider?.close();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
  worker?.cleanup();
});

describe('stream worker crash (kill -9)', () => {
  it('restarts after SIGKILL mid-stream with exact windows, nothing double-counted', async () => {
    const topic = await createKafkaTopic('stream-kill', 3);
    const job = streamJob(topic);
    const groupId = `g-${uniqueId()}`;
    const config = { brokers: kafkaBrokers(), groupId, redisUrl: redisUrl(), keyPrefix: prefix, job };
    const base = Date.now() - 20_000;
    const events: OracleEvent[] = [];
    const offsets = [0, 0, 0];
    let seq = 0;
    const producer = await provider.producer();
    const produceChunk = async (n: number) => {
      const chunk: OracleEvent[] = [];
      for (let i = 0; i < n; i++, seq++) {
        const partition = seq % 3;
        chunk.push({ partition, offset: offsets[partition]!++, key: `k${(seq * 31) % 23}`, ts: base + ((seq * 7919) % 30_000) - 8_000, value: (seq * 104729) % 1000 - 500 });
      }
      events.push(...chunk);
      for (const p of [0, 1, 2]) {
        await producer.send({ topic, messages: chunk.filter((e) => e.partition === p).map((e) => ({ partition: p, value: JSON.stringify({ user_id: e.key, amount: e.value, ts: e.ts }) })) });
      }
    };

    let kills = 0;
    for (let round = 0; round < 4; round++) {
      const w = spawnWorker(config);
      await w.ready;
      // Keep producing until this worker committed a few batches, then kill it without warning.
      const target = w.batches() + 3 + round;
      const deadline = Date.now() + 30_000;
      while (w.batches() < target && Date.now() < deadline) await produceChunk(150);
      if (round < 3) {
        await produceChunk(300);
        w.child.kill('SIGKILL');
        kills++;
        await new Promise((r) => w.child.once('exit', r));
      } else {
        await waitCaughtUp(provider, groupId, topic, 60_000);
        w.child.kill('SIGTERM');
        await new Promise((r) => w.child.once('exit', r));
      }
    }
    expect(kills).toBe(3);
    expect(events.length).toBeGreaterThan(1000);
    for (const now of [base + 22_000, base + 30_000]) await expectOracle(job, tiles, events, now);
  }, 240_000);
});

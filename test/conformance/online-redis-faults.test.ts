import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisOnlineStore, type RedisOnlineStore } from '../../adapters/redis/index.js';
import { isOnlineStoreError } from '../../src/spi/online-store.js';
import { startRedisServer, type RedisServerProcess } from '../unit/online/redis-server-process.js';

// A private redis-server: these tests pause, kill and restart it.
let server: RedisServerProcess;
let store: RedisOnlineStore;
const table = { entity: 'user', table: 'age@v1', valueType: 'int' } as const;

beforeAll(async () => {
  server = await startRedisServer();
  store = createRedisOnlineStore({ url: server.url, keyPrefix: 'trellis:faults:' }); // default 100 ms deadline
  await store.ensureTable(table);
  await store.writeBatch('user', 'age@v1', [{ key: ['u1'], value: 41, eventTs: 1 }]);
});

afterAll(async () => {
  await store?.close();
  await server?.dispose();
});

async function timedRead(): Promise<{ ms: number; error: unknown; cells?: unknown }> {
  const started = performance.now();
  try {
    const cells = await store.read('user', [['u1']], ['age@v1']);
    return { ms: performance.now() - started, error: undefined, cells };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

async function until<T>(probe: () => Promise<T | undefined>, limitMs: number): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return { value, ms: performance.now() - started };
    if (performance.now() - started > limitMs) throw new Error(`not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('redis online store: faults', () => {
  it('reads normally', async () => {
    expect((await timedRead()).cells).toEqual([[{ value: 41, eventTs: 1 }]]);
  });

  it('fails fast with TRELLIS_ERR_ONLINE_UNAVAILABLE while Redis is stalled, then recovers', async () => {
    await server.cli('CLIENT', 'PAUSE', '800', 'ALL');
    const stalled = await Promise.all(Array.from({ length: 50 }, () => timedRead()));
    for (const r of stalled) {
      expect(isOnlineStoreError(r.error, 'TRELLIS_ERR_ONLINE_UNAVAILABLE'), String(r.error)).toBe(true);
      expect(r.ms).toBeLessThan(250);
    }
    const { ms } = await until(async () => ((await timedRead()).error === undefined ? true : undefined), 3000);
    expect(ms).toBeLessThan(1500);
  });

  it('fails fast while Redis is down and recovers by itself when it returns', async () => {
    await server.kill();
    const down = await Promise.all(Array.from({ length: 200 }, () => timedRead()));
    for (const r of down) {
      expect(isOnlineStoreError(r.error, 'TRELLIS_ERR_ONLINE_UNAVAILABLE'), String(r.error)).toBe(true);
      expect(r.ms).toBeLessThan(250);
    }
    const write = await store.writeBatch('user', 'age@v1', [{ key: ['u1'], value: 1, eventTs: 2 }]).catch((e: unknown) => e);
    expect(isOnlineStoreError(write, 'TRELLIS_ERR_ONLINE_UNAVAILABLE')).toBe(true);
    await new Promise((r) => setTimeout(r, 1500)); // several reconnect attempts fail meanwhile

    await server.start(); // empty again: no persistence
    const { ms } = await until(async () => ((await timedRead()).error === undefined ? true : undefined), 5000);
    expect(ms).toBeLessThan(1500);
    expect((await timedRead()).cells).toEqual([[null]]);
    await store.ensureTable(table);
    await store.writeBatch('user', 'age@v1', [{ key: ['u1'], value: 42, eventTs: 3 }]);
    expect((await timedRead()).cells).toEqual([[{ value: 42, eventTs: 3 }]]);
  });

  it('answers its first calls once a store created while Redis was down can connect', async () => {
    await server.kill();
    const late = createRedisOnlineStore({ url: server.url, keyPrefix: 'trellis:faults:' });
    try {
      const early = await late.read('user', [['u1']], ['age@v1']).catch((e: unknown) => e);
      expect(isOnlineStoreError(early, 'TRELLIS_ERR_ONLINE_UNAVAILABLE')).toBe(true);
      await server.start();
      await until(async () => (await late.read('user', [['u1']], ['age@v1']).then(() => true).catch(() => undefined)), 5000);
    } finally {
      await late.close();
    }
  });
});

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisOnlineStore, type RedisOnlineStore } from '../../adapters/redis/index.js';
import { isOnlineStoreError, type OnlineWriteRow } from '../../src/spi/online-store.js';
import { clearRedisPrefix, createRedisPrefix, redisUrl } from '../support/services.js';

// The standalone write path builds each script call's arguments in place (materialization's hot path): a batch
// spanning many script calls is still validated as a whole before anything is sent, errors name the row, and the
// compare-and-set outcome is summed over the calls.
const prefix = createRedisPrefix('write-path');
const admin = new Redis(redisUrl(), { lazyConnect: true });
let store: RedisOnlineStore;

beforeAll(async () => {
  store = createRedisOnlineStore({ url: redisUrl(), keyPrefix: prefix, commandTimeoutMs: 2000, writeChunkRows: 7 });
  await store.ensureTable({ entity: 'user', table: 'score', valueType: 'float' });
  await store.ensureTable({ entity: 'user', table: 'emb', valueType: 'float_list' });
});

afterAll(async () => {
  await store?.close();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

const rowsOf = (n: number, eventTs: (i: number) => number, value: (i: number) => number): OnlineWriteRow[] =>
  Array.from({ length: n }, (_, i) => ({ key: [`u${i}`, i], value: value(i), eventTs: eventTs(i) }));

async function rejection(promise: Promise<unknown>): Promise<{ code: string; pointer: string }> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isOnlineStoreError(error, 'TRELLIS_ERR_VALIDATION')) throw new Error(`expected a validation error, got ${String(error)}`);
  return { code: error.code, pointer: error.params.pointer };
}

describe('redis writeBatch over many script calls (7 rows per call)', () => {
  it('sums written and skipped over the calls, keeps newer cells and applies equal event times in order', async () => {
    const first = await store.writeBatch('user', 'score', rowsOf(50, (i) => 1_000 + i, (i) => i));
    expect(first).toEqual({ written: 50, skippedOlder: 0 });
    // Even rows older than stored, odd rows newer: every other row is skipped, in every call.
    const second = await store.writeBatch('user', 'score', rowsOf(50, (i) => (i % 2 === 0 ? 999 : 2_000 + i), (i) => -i));
    expect(second).toEqual({ written: 25, skippedOlder: 25 });
    const read = await store.read('user', rowsOf(50, () => 0, () => 0).map((r) => r.key), ['score']);
    read.forEach(([cell], i) => expect(cell, `row ${i}`).toEqual(i % 2 === 0 ? { value: i, eventTs: 1_000 + i } : { value: -i, eventTs: 2_000 + i }));
    // The same key twice in one batch with one event time: the later row wins.
    await store.writeBatch('user', 'score', [
      { key: ['dup', 0], value: 1, eventTs: 5_000 },
      { key: ['dup', 0], value: 2, eventTs: 5_000 },
    ]);
    expect((await store.read('user', [['dup', 0]], ['score']))[0]![0]).toEqual({ value: 2, eventTs: 5_000 });
  });

  it('validates the whole batch before writing any of it, naming the bad row', async () => {
    const rows = rowsOf(30, () => 10_000, (i) => 100 + i).map((r) => ({ ...r, key: [`v${String(r.key[0])}`, r.key[1]!] }));
    const badValue = rows.map((r, i) => (i === 23 ? { ...r, value: 'x' } : r));
    expect(await rejection(store.writeBatch('user', 'score', badValue))).toEqual({ code: 'TRELLIS_ERR_VALIDATION', pointer: '/rows/23/value' });
    const badTs = rows.map((r, i) => (i === 17 ? { ...r, eventTs: 1.5 } : r));
    expect(await rejection(store.writeBatch('user', 'score', badTs))).toEqual({ code: 'TRELLIS_ERR_VALIDATION', pointer: '/rows/17/eventTs' });
    const badKey = rows.map((r, i) => (i === 29 ? { ...r, key: ['ok', Number.NaN] } : r));
    expect(await rejection(store.writeBatch('user', 'score', badKey))).toEqual({ code: 'TRELLIS_ERR_VALIDATION', pointer: '/rows/29/key/1' });
    const notArray = rows.map((r, i) => (i === 8 ? { ...r, key: 'v8' as unknown as string[] } : r));
    expect(await rejection(store.writeBatch('user', 'score', notArray))).toEqual({ code: 'TRELLIS_ERR_VALIDATION', pointer: '/rows/8/key' });
    const badElement = [{ key: ['e', 1], value: [1, 2, 'x' as unknown as number], eventTs: 1 }];
    expect(await rejection(store.writeBatch('user', 'emb', badElement))).toEqual({ code: 'TRELLIS_ERR_VALIDATION', pointer: '/rows/0/value/2' });
    // Nothing of the rejected batches reached Redis, not even the calls before the bad row.
    const read = await store.read('user', rows.map((r) => r.key), ['score']);
    expect(read.every(([cell]) => cell === null)).toBe(true);
    expect(await store.writeBatch('user', 'score', rows)).toEqual({ written: 30, skippedOlder: 0 });
  });
});

/**
 * The shared conformance suite for online stores. Every built-in online adapter runs it; a platform team proves a
 * plugin adapter with it:
 *
 * @example
 * ```ts
 * // test/conformance/online-my-kv.test.ts
 * import { runOnlineStoreConformance } from '../../src/spi/testkit/online-store-conformance.js';
 * import { createMyKvOnlineStore } from '../../adapters/my-kv/index.js';
 *
 * runOnlineStoreConformance('my-kv', async (namespace) => createMyKvOnlineStore({ url: process.env.MY_KV_URL!, prefix: `t:${namespace}:` }));
 * ```
 *
 * The factory is called with a namespace (`[a-z0-9]+`) and must return a store whose data is isolated to that
 * namespace — empty the first time, the same data when called again with the same namespace (to reopen a closed
 * store, and, for stores with `supportsSharedAccess`, to open a second live handle). The suite closes every store it
 * opened after each test and calls `options.cleanup` for each namespace at the end.
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ONLINE_STORE_KIND,
  decodeOnlineCell,
  isOnlineStore,
  isOnlineStoreError,
  normalizeOnlineValue,
  onlineStoreCapabilities,
  onlineValueStatus,
  type EntityKeyValue,
  type OnlineCell,
  type OnlineStore,
  type OnlineStoreErrorCode,
  type OnlineValue,
  type OnlineValueType,
  type OnlineWriteRow,
  type OnlineWriteValue,
} from '../online-store.js';

/** Opens the store for `namespace` (see the file comment). */
export type OnlineStoreFactory = (namespace: string) => Promise<OnlineStore>;

export interface OnlineStoreConformanceOptions {
  /** Runs per property test. Default 40. */
  readonly numRuns?: number;
  /** Removes a namespace's data after the suite (e.g. deletes a Redis key prefix, a directory). */
  readonly cleanup?: (namespace: string) => Promise<void>;
  /** How long a store with `supportsTtlExpiry` may take to reclaim a stale cell, ms. Default 5000. */
  readonly ttlExpiryWaitMs?: number;
}

const ENTITY = 'user';
const OTHER_ENTITY = 'merchant@v2';

/** Registers the conformance suite for one online store adapter (call it at the top level of a test file). */
export function runOnlineStoreConformance(name: string, factory: OnlineStoreFactory, options: OnlineStoreConformanceOptions = {}): void {
  const numRuns = options.numRuns ?? 40;
  const ttlExpiryWaitMs = options.ttlExpiryWaitMs ?? 5000;

  describe(`online store conformance: ${name}`, () => {
    const opened: OnlineStore[] = [];
    const namespaces: string[] = [];
    let tableSeq = 0;

    const open = async (namespace: string): Promise<OnlineStore> => {
      const store = await factory(namespace);
      opened.push(store);
      return store;
    };
    const fresh = async (): Promise<{ store: OnlineStore; namespace: string }> => {
      const namespace = `n${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
      namespaces.push(namespace);
      return { store: await open(namespace), namespace };
    };
    /** A new table id, so property runs never see each other's cells. */
    const newTable = (): string => `f${++tableSeq}@v1`;

    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((store) => store.close()));
    });
    afterAll(async () => {
      if (options.cleanup) for (const namespace of namespaces) await options.cleanup(namespace);
    });

    it('is tagged as an online store and declares its capabilities as booleans', async () => {
      const { store } = await fresh();
      expect(isOnlineStore(store)).toBe(true);
      expect(store.kind).toBe(ONLINE_STORE_KIND);
      expect(store.adapterId).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
      for (const flag of ['supportsTtlExpiry', 'supportsCluster', 'supportsSharedAccess', 'supportsPersistence'] as const) {
        expect([undefined, true, false]).toContain(store[flag]);
      }
    });

    it('creates, gets and drops tables', async () => {
      const { store } = await fresh();
      const ref = { entity: ENTITY, table: 'age@v1' };
      expect(await store.getTable(ref)).toBeNull();
      await store.ensureTable({ ...ref, valueType: 'int', ttlSeconds: 3600 });
      expect(await store.getTable(ref)).toEqual({ ...ref, valueType: 'int', ttlSeconds: 3600 });
      await store.ensureTable({ ...ref, valueType: 'int', ttlSeconds: 3600 });
      await expectCode(store.ensureTable({ ...ref, valueType: 'string' }), 'TRELLIS_ERR_CONFLICT');
      await store.ensureTable({ ...ref, valueType: 'int', ttlSeconds: 60 });
      expect(await store.getTable(ref)).toEqual({ ...ref, valueType: 'int', ttlSeconds: 60 });
      await store.ensureTable({ ...ref, valueType: 'int' });
      expect(await store.getTable(ref)).toEqual({ ...ref, valueType: 'int' });

      // Same table id under another entity is another table.
      expect(await store.getTable({ entity: OTHER_ENTITY, table: ref.table })).toBeNull();
      await store.ensureTable({ entity: OTHER_ENTITY, table: ref.table, valueType: 'string' });

      const keep = { entity: ENTITY, table: 'name@v1' };
      await store.ensureTable({ ...keep, valueType: 'string' });
      const now = Date.now();
      await store.writeBatch(ENTITY, ref.table, [{ key: ['u1'], value: 7, eventTs: now }]);
      await store.writeBatch(ENTITY, keep.table, [{ key: ['u1'], value: 'ann', eventTs: now }]);
      await store.writeBatch(OTHER_ENTITY, ref.table, [{ key: ['u1'], value: 'm', eventTs: now }]);

      await store.dropTable(ref);
      expect(await store.getTable(ref)).toBeNull();
      await store.dropTable(ref);
      await expectCode(store.writeBatch(ENTITY, ref.table, [{ key: ['u1'], value: 1, eventTs: now }]), 'TRELLIS_ERR_NOT_FOUND');
      expect(await store.read(ENTITY, [['u1']], [ref.table, keep.table])).toEqual([[null, { value: 'ann', eventTs: now }]]);
      expect(await store.read(OTHER_ENTITY, [['u1']], [ref.table])).toEqual([[{ value: 'm', eventTs: now }]]);

      // Re-creating a dropped table does not resurrect its cells.
      await store.ensureTable({ ...ref, valueType: 'string' });
      expect(await store.read(ENTITY, [['u1']], [ref.table])).toEqual([[null]]);
    });

    it('writes and reads one entity', async () => {
      const { store } = await fresh();
      const table = newTable();
      await store.ensureTable({ entity: ENTITY, table, valueType: 'float' });
      const t = 1_700_000_000_000;
      expect(await store.writeBatch(ENTITY, table, [{ key: ['u1'], value: 0.5, eventTs: t }])).toEqual({ written: 1, skippedOlder: 0 });
      expect(await store.read(ENTITY, [['u1']], [table])).toEqual([[{ value: 0.5, eventTs: t }]]);
      expect(await store.writeBatch(ENTITY, table, [{ key: ['u1'], value: 1.5, eventTs: t + 1 }])).toEqual({ written: 1, skippedOlder: 0 });
      expect(await store.read(ENTITY, [['u1']], [table])).toEqual([[{ value: 1.5, eventTs: t + 1 }]]);
      expect(await store.writeBatch(ENTITY, table, [{ key: ['u1'], value: 9, eventTs: t }])).toEqual({ written: 0, skippedOlder: 1 });
      expect(await store.read(ENTITY, [['u1']], [table])).toEqual([[{ value: 1.5, eventTs: t + 1 }]]);
      expect(await store.writeBatch(ENTITY, table, [{ key: ['u1'], value: 2.5, eventTs: t + 1 }])).toEqual({ written: 1, skippedOlder: 0 });
      expect(await store.read(ENTITY, [['u1']], [table])).toEqual([[{ value: 2.5, eventTs: t + 1 }]]);
    });

    it('answers null for missing entities and tables, keeping request order and duplicates', async () => {
      const { store } = await fresh();
      const [a, b] = [newTable(), newTable()];
      await store.ensureTable({ entity: ENTITY, table: a, valueType: 'int' });
      await store.ensureTable({ entity: ENTITY, table: b, valueType: 'string' });
      await store.writeBatch(ENTITY, a, [
        { key: ['k1'], value: 1, eventTs: 10 },
        { key: ['k2'], value: 2, eventTs: 20 },
      ]);
      await store.writeBatch(ENTITY, b, [{ key: ['k2'], value: 'two', eventTs: 21 }]);

      expect(await store.read(ENTITY, [['nobody']], [a])).toEqual([[null]]);
      expect(await store.read(ENTITY, [['k1']], ['never_made@v1'])).toEqual([[null]]);
      expect(await store.read(OTHER_ENTITY, [['k1']], [a])).toEqual([[null]]);
      expect(await store.read(ENTITY, [], [a])).toEqual([]);
      expect(await store.read(ENTITY, [['k1'], ['k2']], [])).toEqual([[], []]);
      const expected = [
        [{ value: 'two', eventTs: 21 }, { value: 2, eventTs: 20 }, { value: 'two', eventTs: 21 }],
        [null, null, null],
        [null, { value: 1, eventTs: 10 }, null],
        [{ value: 'two', eventTs: 21 }, { value: 2, eventTs: 20 }, { value: 'two', eventTs: 21 }],
      ];
      expect(await store.read(ENTITY, [['k2'], ['nobody'], ['k1'], ['k2']], [b, a, b])).toEqual(expected);
      await expectEncodedMatches(store, ENTITY, [['k2'], ['nobody'], ['k1'], ['k2']], [b, a, b], expected);
      if (store.readEncoded) expect(await store.readEncoded(ENTITY, [], [a])).toEqual([]);
    });

    it('writes and reads batches (2000 rows; 100 keys × 50 tables)', async () => {
      const { store } = await fresh();
      const table = newTable();
      await store.ensureTable({ entity: ENTITY, table, valueType: 'int' });
      const rows = Array.from({ length: 2000 }, (_, i) => ({ key: [i] as EntityKeyValue[], value: i * 3, eventTs: 1000 + i }));
      expect(await store.writeBatch(ENTITY, table, rows)).toEqual({ written: 2000, skippedOlder: 0 });
      const cells = await store.read(ENTITY, rows.map((r) => r.key), [table]);
      expect(cells).toEqual(rows.map((r) => [{ value: r.value, eventTs: r.eventTs }]));

      // Duplicates inside one batch apply in order: newer wins, equal event time → the later row wins.
      expect(
        await store.writeBatch(ENTITY, table, [
          { key: [5], value: 100, eventTs: 5000 },
          { key: [5], value: 101, eventTs: 4000 },
          { key: [5], value: 102, eventTs: 5000 },
          { key: [6], value: 103, eventTs: 1 },
        ]),
      ).toEqual({ written: 2, skippedOlder: 2 });
      expect(await store.read(ENTITY, [[5], [6]], [table])).toEqual([[{ value: 102, eventTs: 5000 }], [{ value: 18, eventTs: 1006 }]]);

      const tables = Array.from({ length: 50 }, () => newTable());
      for (const [j, t] of tables.entries()) {
        await store.ensureTable({ entity: ENTITY, table: t, valueType: 'int' });
        await store.writeBatch(ENTITY, t, Array.from({ length: 100 }, (_, i) => ({ key: [`k${i}`], value: i * 1000 + j, eventTs: j })));
      }
      const wide = await store.read(ENTITY, Array.from({ length: 100 }, (_, i) => [`k${i}`]), tables);
      expect(wide).toEqual(Array.from({ length: 100 }, (_, i) => tables.map((_t, j) => ({ value: i * 1000 + j, eventTs: j }))));
    });

    it('round-trips every value type (property)', async () => {
      const { store } = await fresh();
      for (const valueType of Object.keys(writeValues) as OnlineValueType[]) {
        const table = newTable();
        await store.ensureTable({ entity: ENTITY, table, valueType });
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(fc.tuple(writeValues[valueType], fc.maxSafeInteger()), { minLength: 1, maxLength: 20 }), async (samples) => {
            run++;
            const rows: OnlineWriteRow[] = samples.map(([value, eventTs], i) => ({ key: [run, i], value, eventTs }));
            await store.writeBatch(ENTITY, table, rows);
            const cells = await store.read(ENTITY, rows.map((r) => r.key), [table]);
            for (const [i, row] of rows.entries()) {
              const expected: OnlineCell = { value: normalizeOnlineValue(valueType, row.value), eventTs: row.eventTs };
              expect(comparable(cells[i]?.[0] ?? null), `${valueType} row ${i}`).toEqual(comparable(expected));
            }
            await expectEncodedMatches(store, ENTITY, rows.map((r) => r.key), [table, 'never_made@v1'], cells.map((row) => [...row, null]));
          }),
          { numRuns },
        );
      }
    });

    it('stores nulls as values, distinct from missing', async () => {
      const { store } = await fresh();
      const table = newTable();
      await store.ensureTable({ entity: ENTITY, table, valueType: 'string' });
      await store.writeBatch(ENTITY, table, [{ key: ['u1'], value: null, eventTs: 100 }]);
      const [[cell]] = (await store.read(ENTITY, [['u1']], [table])) as [[OnlineCell | null]];
      expect(cell).toEqual({ value: null, eventTs: 100 });
      expect(onlineValueStatus(cell, undefined, 200)).toBe('NULL_VALUE');
      expect(await store.writeBatch(ENTITY, table, [{ key: ['u1'], value: 'old', eventTs: 99 }])).toEqual({ written: 0, skippedOlder: 1 });
      await store.writeBatch(ENTITY, table, [{ key: ['u1'], value: 'new', eventTs: 101 }]);
      await store.writeBatch(ENTITY, table, [{ key: ['u1'], value: null, eventTs: 102 }]);
      expect(await store.read(ENTITY, [['u1'], ['u2']], [table])).toEqual([[{ value: null, eventTs: 102 }], [null]]);
    });

    it('never serves a stale value as fresh and never expires fresh cells (ttl)', async () => {
      const { store } = await fresh();
      const [ttlTable, plainTable, longTable] = [newTable(), newTable(), newTable()];
      await store.ensureTable({ entity: ENTITY, table: ttlTable, valueType: 'int', ttlSeconds: 1 });
      await store.ensureTable({ entity: ENTITY, table: plainTable, valueType: 'int' });
      await store.ensureTable({ entity: ENTITY, table: longTable, valueType: 'int', ttlSeconds: 3600 });
      const now = Date.now();
      // 'late' gets its ttl cell first and a ttl-less cell afterwards: that cell must outlive the ttl one.
      await store.writeBatch(ENTITY, ttlTable, [{ key: ['late'], value: 8, eventTs: now - 500 }]);
      await store.writeBatch(ENTITY, plainTable, [
        { key: ['mixed'], value: 1, eventTs: now - 86_400_000 },
        { key: ['late'], value: 9, eventTs: now - 86_400_000 },
      ]);
      await store.writeBatch(ENTITY, longTable, [
        { key: ['mixed'], value: 2, eventTs: now },
        { key: ['fresh'], value: 3, eventTs: now },
      ]);
      await store.writeBatch(ENTITY, ttlTable, [
        { key: ['mixed'], value: 4, eventTs: now - 60_000 },
        { key: ['stale'], value: 5, eventTs: now - 60_000 },
        { key: ['soon'], value: 6, eventTs: now - 500 },
      ]);

      const check = async (): Promise<(OnlineCell | null)[][]> => {
        const cells = await store.read(ENTITY, [['mixed'], ['stale'], ['soon'], ['fresh'], ['late']], [ttlTable, plainTable, longTable]);
        const readAt = Date.now();
        // A stale cell is either gone or returned with its own event time, which the status rule rejects.
        for (const row of cells) {
          const cell = row[0] ?? null;
          if (cell !== null && cell.eventTs === now - 60_000) expect(onlineValueStatus(cell, 1, readAt)).toBe('OUTSIDE_MAX_AGE');
          if (cell !== null) expect([now - 60_000, now - 500]).toContain(cell.eventTs);
        }
        expect(cells[0]?.[1]).toEqual({ value: 1, eventTs: now - 86_400_000 });
        expect(cells[0]?.[2]).toEqual({ value: 2, eventTs: now });
        expect(cells[3]?.[2]).toEqual({ value: 3, eventTs: now });
        expect(cells[4]?.[1]).toEqual({ value: 9, eventTs: now - 86_400_000 });
        return cells;
      };
      await check();
      const soon = (await store.read(ENTITY, [['soon']], [ttlTable]))[0]?.[0] ?? null;
      expect(soon === null || soon.eventTs === now - 500).toBe(true);

      if (onlineStoreCapabilities(store).supportsTtlExpiry) {
        const deadline = Date.now() + ttlExpiryWaitMs;
        for (;;) {
          const cells = await check();
          if (cells[1]?.[0] === null && cells[2]?.[0] === null) {
            // One more look after the stale cells went: the ttl-less cell of 'late' is still there.
            await sleep(200);
            await check();
            break;
          }
          if (Date.now() > deadline) throw new Error(`stale cells were not reclaimed within ${ttlExpiryWaitMs} ms`);
          await sleep(100);
        }
      }
      // A fresh write after expiry is served again.
      await store.writeBatch(ENTITY, ttlTable, [{ key: ['stale'], value: 7, eventTs: Date.now() }]);
      const [[again]] = (await store.read(ENTITY, [['stale']], [ttlTable])) as [[OnlineCell | null]];
      expect(onlineValueStatus(again ?? null, 1, Date.now())).toBe('PRESENT');
    });

    it('never lets an older event replace a newer one (property vs oracle)', async () => {
      const { store } = await fresh();
      const op = fc.oneof(
        { weight: 9, arbitrary: fc.record({ kind: fc.constant('write' as const), key: fc.integer({ min: 0, max: 4 }), eventTs: fc.integer({ min: 0, max: 12 }), value: fc.integer() }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 4 }) }) },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 8 }), async (batches) => {
          const table = newTable();
          await store.ensureTable({ entity: ENTITY, table, valueType: 'int' });
          const oracle = new Map<number, OnlineCell>();
          for (const batch of batches) {
            // Consecutive writes form one writeBatch call; a delete ends it.
            let rows: OnlineWriteRow[] = [];
            let expected = { written: 0, skippedOlder: 0 };
            const flush = async (): Promise<void> => {
              if (rows.length === 0) return;
              expect(await store.writeBatch(ENTITY, table, rows)).toEqual(expected);
              rows = [];
              expected = { written: 0, skippedOlder: 0 };
            };
            for (const o of batch) {
              if (o.kind === 'delete') {
                await flush();
                await store.deleteEntity(ENTITY, [[o.key]]);
                oracle.delete(o.key);
                continue;
              }
              rows.push({ key: [o.key], value: o.value, eventTs: o.eventTs });
              const current = oracle.get(o.key);
              if (current === undefined || current.eventTs <= o.eventTs) {
                oracle.set(o.key, { value: o.value, eventTs: o.eventTs });
                expected.written++;
              } else {
                expected.skippedOlder++;
              }
            }
            await flush();
          }
          const keys = [0, 1, 2, 3, 4];
          const cells = await store.read(ENTITY, keys.map((k) => [k]), [table]);
          expect(cells).toEqual(keys.map((k) => [oracle.get(k) ?? null]));
        }),
        { numRuns },
      );
    });

    it('keeps multi-column keys apart, whatever their content', async () => {
      const { store } = await fresh();
      const table = newTable();
      await store.ensureTable({ entity: ENTITY, table, valueType: 'string' });
      const hostile: EntityKeyValue[][] = [
        ['a:b', 1],
        ['a', ':b1'],
        ['a:b1'],
        ['a', 'b', 1],
        ['a', 'b1'],
        ['{x}', '}'],
        ['{x', '}}'],
        ['\0', ''],
        ['', '\0'],
        [''],
        ['', ''],
        ['😀', 'é'],
        ['e\u0301'],
        ['s1:a'],
        ['i1:1'],
        [1],
        ['1'],
        [true],
        ['true'],
        [1.5],
        ['1.5'],
        [-1],
        [2 ** 60],
        [1, 2],
        [12],
        ['\n', '\r\n'],
        ['*', '?', '[a]'],
        // Pairs that collide under plain concatenation, tag-without-length or delimiter encodings.
        ['ab', 'c'],
        ['a', 'bc'],
        ['abc'],
        ['a', 'b'],
        ['as:b'],
        ['s1:as1:b'],
        ['a|b'],
        ['a', 'b\0'],
        ['a\0', 'b'],
      ];
      await store.writeBatch(ENTITY, table, hostile.map((key, i) => ({ key, value: `v${i}`, eventTs: i })));
      expect(await store.read(ENTITY, hostile, [table])).toEqual(hostile.map((_k, i) => [{ value: `v${i}`, eventTs: i }]));
      // Integer-valued numbers and bigints name the same key part; so do 0 and -0.
      const big = hostile.findIndex((k) => k[0] === 2 ** 60);
      const pair = hostile.findIndex((k) => k[0] === 1 && k[1] === 2);
      expect(await store.read(ENTITY, [[2n ** 60n], [1n, 2n], [-0]], [table])).toEqual([
        [{ value: `v${big}`, eventTs: big }],
        [{ value: `v${pair}`, eventTs: pair }],
        [null],
      ]);

      const part = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom(':', '{', '}', '\0', 's', 's:', 's1:', 'i1:', '|', ','), fc.integer({ min: -5, max: 5 }), fc.boolean(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }));
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(fc.array(part, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 30, selector: keyIdentity }), async (keys) => {
          const t = newTable();
          await store.ensureTable({ entity: ENTITY, table: t, valueType: 'int' });
          await store.writeBatch(ENTITY, t, keys.map((key, i) => ({ key, value: i, eventTs: 1 })));
          expect(await store.read(ENTITY, keys, [t])).toEqual(keys.map((_k, i) => [{ value: i, eventTs: 1 }]));
        }),
        { numRuns },
      );
    });

    it('rejects bad names, keys and values before writing anything', async () => {
      const { store } = await fresh();
      const table = newTable();
      await store.ensureTable({ entity: ENTITY, table, valueType: 'int' });
      await expectCode(store.writeBatch(ENTITY, table, [{ key: ['a'], value: 1, eventTs: 1 }, { key: ['b'], value: 2, eventTs: 1 }, { key: ['c'], value: 'x', eventTs: 1 }]), 'TRELLIS_ERR_VALIDATION', '2');
      await expectCode(store.writeBatch(ENTITY, table, [{ key: ['a'], value: 1.5, eventTs: 1 }]), 'TRELLIS_ERR_VALIDATION');
      await expectCode(store.writeBatch(ENTITY, table, [{ key: ['a'], value: 1, eventTs: 1.5 }]), 'TRELLIS_ERR_VALIDATION');
      await expectCode(store.writeBatch(ENTITY, table, [{ key: ['a'], value: 1, eventTs: Number.NaN }]), 'TRELLIS_ERR_VALIDATION');
      await expectCode(store.writeBatch(ENTITY, table, [{ key: ['a'], value: 2n ** 64n, eventTs: 1 }]), 'TRELLIS_ERR_VALIDATION');
      expect(await store.read(ENTITY, [['a'], ['b']], [table])).toEqual([[null], [null]]);

      for (const key of [[], [Number.NaN], [Number.POSITIVE_INFINITY], ['\uD800'], [null], [{}]] as unknown as EntityKeyValue[][]) {
        await expectCode(store.read(ENTITY, [key], [table]), 'TRELLIS_ERR_VALIDATION');
        await expectCode(store.writeBatch(ENTITY, table, [{ key, value: 1, eventTs: 1 }]), 'TRELLIS_ERR_VALIDATION');
        await expectCode(store.deleteEntity(ENTITY, [key]), 'TRELLIS_ERR_VALIDATION');
      }
      for (const bad of ['User', 'a:b', 'x{y}', '', 'a__b']) {
        await expectCode(store.read(bad, [['a']], [table]), 'TRELLIS_ERR_VALIDATION');
        await expectCode(store.ensureTable({ entity: bad, table, valueType: 'int' }), 'TRELLIS_ERR_VALIDATION');
        await expectCode(store.ensureTable({ entity: ENTITY, table: bad, valueType: 'int' }), 'TRELLIS_ERR_VALIDATION');
      }
      await expectCode(store.ensureTable({ entity: ENTITY, table: newTable(), valueType: 'decimal' as OnlineValueType }), 'TRELLIS_ERR_VALIDATION');
      await expectCode(store.ensureTable({ entity: ENTITY, table: newTable(), valueType: 'int', ttlSeconds: 0 }), 'TRELLIS_ERR_VALIDATION');
      await expectCode(store.writeBatch(ENTITY, 'never_made@v1', [{ key: ['a'], value: 1, eventTs: 1 }]), 'TRELLIS_ERR_NOT_FOUND');
    });

    it('deletes entities across tables', async () => {
      const { store } = await fresh();
      const [a, b] = [newTable(), newTable()];
      await store.ensureTable({ entity: ENTITY, table: a, valueType: 'int' });
      await store.ensureTable({ entity: ENTITY, table: b, valueType: 'bool' });
      await store.writeBatch(ENTITY, a, [1, 2, 3].map((k) => ({ key: ['k', k], value: k, eventTs: 100 })));
      await store.writeBatch(ENTITY, b, [1, 2].map((k) => ({ key: ['k', k], value: true, eventTs: 100 })));
      expect(await store.deleteEntity(ENTITY, [['k', 1], ['k', 9], ['k', 2]])).toBe(2);
      expect(await store.deleteEntity(ENTITY, [])).toBe(0);
      expect(await store.read(ENTITY, [['k', 1], ['k', 2], ['k', 3]], [a, b])).toEqual([
        [null, null],
        [null, null],
        [{ value: 3, eventTs: 100 }, null],
      ]);
      expect(await store.writeBatch(ENTITY, a, [{ key: ['k', 1], value: 10, eventTs: 5 }])).toEqual({ written: 1, skippedOlder: 0 });
      expect(await store.read(ENTITY, [['k', 1]], [a])).toEqual([[{ value: 10, eventTs: 5 }]]);
    });

    it('converges to the newest event under concurrent writers', async () => {
      const { store, namespace } = await fresh();
      const caps = onlineStoreCapabilities(store);
      const second = caps.supportsSharedAccess ? await open(namespace) : store;
      const table = newTable();
      await store.ensureTable({ entity: ENTITY, table, valueType: 'int' });
      const keys = 50;
      const writers = 16;
      // Distinct event times per key so the winner is unique: writer w writes ts = perm[w] for every key.
      const perm = fc.sample(fc.shuffledSubarray(Array.from({ length: writers }, (_, i) => i + 1), { minLength: writers, maxLength: writers }), 1)[0] as number[];
      const reads: Promise<unknown>[] = [];
      const writes = perm.map(async (ts, w) => {
        const target = w % 2 === 0 ? store : second;
        const rows = Array.from({ length: keys }, (_, k) => ({ key: [`c${k}`], value: ts * 1000 + k, eventTs: ts }));
        for (let i = 0; i < rows.length; i += 10) {
          await target.writeBatch(ENTITY, table, rows.slice(i, i + 10));
          reads.push(target.read(ENTITY, [[`c${i}`]], [table]));
        }
      });
      await Promise.all(writes);
      await Promise.all(reads);
      const cells = await second.read(ENTITY, Array.from({ length: keys }, (_, k) => [`c${k}`]), [table]);
      expect(cells).toEqual(Array.from({ length: keys }, (_, k) => [{ value: writers * 1000 + k, eventTs: writers }]));
    });

    it('keeps tables and cells across a reopen when it supports persistence', async (ctx) => {
      const { store, namespace } = await fresh();
      // Reported as skipped, not passed, for a store that does not claim persistence.
      if (!onlineStoreCapabilities(store).supportsPersistence) ctx.skip('the store does not claim supportsPersistence');
      const table = newTable();
      await store.ensureTable({ entity: ENTITY, table, valueType: 'float_list', ttlSeconds: 86_400 });
      const now = Date.now();
      await store.writeBatch(ENTITY, table, [
        { key: ['u1', 1], value: [0.25, -0, 1e-300], eventTs: now },
        { key: ['u2', 1], value: null, eventTs: now },
      ]);
      await store.deleteEntity(ENTITY, [['u2', 1]]);
      await store.close();
      const reopened = await open(namespace);
      expect(await reopened.getTable({ entity: ENTITY, table })).toEqual({ entity: ENTITY, table, valueType: 'float_list', ttlSeconds: 86_400 });
      const cells = await reopened.read(ENTITY, [['u1', 1], ['u2', 1]], [table]);
      expect(comparable(cells[0]?.[0] ?? null)).toEqual(comparable({ value: [0.25, -0, 1e-300], eventTs: now }));
      expect(cells[1]?.[0]).toBeNull();
      expect(await reopened.writeBatch(ENTITY, table, [{ key: ['u1', 1], value: [], eventTs: now - 1 }])).toEqual({ written: 0, skippedOlder: 1 });
    });

    it('closes idempotently and refuses work afterwards', async () => {
      const { store } = await fresh();
      const table = newTable();
      await store.ensureTable({ entity: ENTITY, table, valueType: 'int' });
      await store.close();
      await store.close();
      await expectCode(store.read(ENTITY, [['a']], [table]), 'TRELLIS_ERR_ONLINE_UNAVAILABLE');
      await expectCode(store.writeBatch(ENTITY, table, [{ key: ['a'], value: 1, eventTs: 1 }]), 'TRELLIS_ERR_ONLINE_UNAVAILABLE');
    });
  });
}

/** Value arbitraries per type, covering every accepted input form. */
const writeValues: { [T in OnlineValueType]: fc.Arbitrary<OnlineWriteValue> } = {
  string: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', ':', '0:n', '{}', '\0', 'é😀')),
  int: fc.oneof(
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b) => b.toString()),
    fc.constantFrom(0, -0, 2n ** 63n - 1n, -(2n ** 63n), '9007199254740993', '-0', '007'),
  ),
  float: fc.oneof(fc.double(), fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, Number.MIN_VALUE, Number.MAX_VALUE)),
  bool: fc.boolean(),
  timestamp: fc.oneof(fc.date({ noInvalidDate: true }), fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.double({ min: -1e15, max: 1e15, noNaN: true })),
  float_list: fc.oneof(fc.array(fc.double(), { maxLength: 200 }), fc.float32Array({ maxLength: 64 }), fc.float64Array({ maxLength: 16 })),
};
for (const type of Object.keys(writeValues) as OnlineValueType[]) {
  writeValues[type] = fc.oneof({ weight: 9, arbitrary: writeValues[type] }, { weight: 1, arbitrary: fc.constant(null) });
}

/** A structure whose deep equality is exact value equality (−0 ≠ 0, NaN = NaN, Dates by time). */
function comparable(cell: OnlineCell | null): unknown {
  if (cell === null) return null;
  const value = (v: OnlineValue | number): unknown => {
    if (typeof v === 'number') return Object.is(v, -0) ? 'number:-0' : `number:${v}`;
    if (v instanceof Date) return `date:${v.getTime()}`;
    if (Array.isArray(v)) return v.map((x: number) => value(x));
    return v === null ? null : `${typeof v}:${String(v)}`;
  };
  return { value: value(cell.value), eventTs: cell.eventTs };
}

/** Test-side identity of a key tuple: typed parts, integers and bigints alike. */
function keyIdentity(key: EntityKeyValue[]): string {
  return JSON.stringify(key.map((p) => (typeof p === 'bigint' || typeof p === 'number' ? `i${BigInt(p)}` : `${typeof p}:${String(p)}`)));
}

/** When the store offers readEncoded, its text must decode to exactly the cells `read` returns. */
async function expectEncodedMatches(store: OnlineStore, entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: string[], expected: (OnlineCell | null)[][]): Promise<void> {
  if (store.readEncoded === undefined) return;
  const encoded = await store.readEncoded(entity, keys, tables);
  expect(encoded.map((row) => row.map((text) => comparable(text === null ? null : decodeOnlineCell(text))))).toEqual(expected.map((row) => row.map(comparable)));
}

async function expectCode(promise: Promise<unknown>, code: OnlineStoreErrorCode, messageIncludes?: string): Promise<void> {
  let failure: unknown;
  try {
    await promise;
  } catch (error) {
    failure = error;
  }
  expect(failure, `expected ${code}`).toBeDefined();
  expect(isOnlineStoreError(failure, code), `expected ${code}, got ${String(failure)}`).toBe(true);
  if (messageIncludes !== undefined) expect(String((failure as Error).message)).toContain(messageIncludes);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

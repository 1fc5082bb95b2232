/**
 * The shared conformance suite for tile stores. Every built-in tile store runs it; a platform team proves a plugin:
 *
 * @example
 * ```ts
 * // test/unit/streaming/tile-store-my-kv.test.ts
 * import { runTileStoreConformance } from '../../../src/spi/testkit/tile-store-conformance.js';
 * runTileStoreConformance('my-kv', async (namespace) => createMyKvTileStore({ prefix: `t:${namespace}:` }));
 * ```
 *
 * The factory gets a namespace (`[a-z0-9]+`) and returns a store isolated to it: empty the first time, the same
 * data when called again with the same namespace after the previous handle was closed (`persistent: true`).
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isTileStore, type TileEvent, type TileFeature, type TileStore } from '../tile-store.js';
import {
  EMPTY_PARTIAL,
  combinePartials,
  coveringTiles,
  eventPartial,
  finalizePartial,
  tileLayout,
  tileStartOf,
  type StreamAggregationFn,
  type TilePartial,
} from '../../streaming/tiles.js';

export type TileStoreFactory = (namespace: string) => Promise<TileStore>;

export interface TileStoreConformanceOptions {
  /** Runs of the property test. Default 25. */
  readonly numRuns?: number;
  /** The store keeps its data across close + reopen with the same namespace. Default false. */
  readonly persistent?: boolean;
  readonly cleanup?: (namespace: string) => Promise<void>;
}

let namespaceSeq = 0;
const freshNamespace = () => `tc${Date.now().toString(36)}${(namespaceSeq++).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** Registers the tile store conformance suite (call at the top level of a test file). */
export function runTileStoreConformance(name: string, factory: TileStoreFactory, options: TileStoreConformanceOptions = {}): void {
  const numRuns = options.numRuns ?? 25;
  describe(`tile store conformance: ${name}`, () => {
    const opened: TileStore[] = [];
    const namespaces: string[] = [];
    const open = async (namespace = freshNamespace()) => {
      if (!namespaces.includes(namespace)) namespaces.push(namespace);
      const store = await factory(namespace);
      opened.push(store);
      return { store, namespace };
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close().catch(() => {})));
    });
    afterAll(async () => {
      if (options.cleanup) for (const ns of namespaces) await options.cleanup(ns);
    });

    const feature = (fn: StreamAggregationFn, windowMs: number | null = 60_000, slideMs: number | null = 10_000): TileFeature => ({
      id: `f_${fn}@v1`,
      entity: 'user@default',
      layout: windowMs === null ? tileLayout({ fn }) : tileLayout({ fn, windowMs, slideMs }),
    });
    const ev = (f: TileFeature, key: string, ts: number, value: number | string | null, partition: number, offset: number): TileEvent => ({
      key: [key],
      tileStart: tileStartOf(f.layout, ts),
      partial: eventPartial(value, ts, partition, offset, f.layout.fn === 'count'),
      partition,
      offset,
    });

    it('is tagged', async () => {
      const { store } = await open();
      expect(isTileStore(store)).toBe(true);
      expect(typeof store.adapterId).toBe('string');
    });

    it('combines events into tiles and reads a range in tile order', async () => {
      const { store } = await open();
      const f = feature('sum');
      const base = 1_700_000_000_000;
      await store.applyEvents(f, [ev(f, 'a', base + 1, 5, 0, 0), ev(f, 'a', base + 2, 7, 0, 1), ev(f, 'a', base + 10_001, 1.5, 0, 2), ev(f, 'b', base + 3, -2, 1, 0)]);
      const [a, b, c] = await store.readTiles(f, [['a'], ['b'], ['c']], tileStartOf(f.layout, base + 1), tileStartOf(f.layout, base + 10_001));
      expect(a!.map((t) => [t.tileStart, t.partial.count, t.partial.sum])).toEqual([
        [tileStartOf(f.layout, base + 1), 2, 12],
        [tileStartOf(f.layout, base + 10_001), 1, 1.5],
      ]);
      expect(b!.map((t) => t.partial.min)).toEqual([-2]);
      expect(c).toEqual([]);
    });

    it('skips replays of (partition, offset) atomically, also across a partially applied batch', async () => {
      const { store } = await open();
      const f = feature('count');
      const t = 1_700_000_000_001;
      const events = [0, 1, 2, 3, 4, 5].map((o) => ev(f, 'k', t + o, null, 0, o));
      expect(await store.applyEvents(f, events.slice(0, 4))).toEqual({ applied: 4, skipped: 0 });
      expect(await store.applyEvents(f, events)).toEqual({ applied: 2, skipped: 4 });
      expect(await store.applyEvents(f, events)).toEqual({ applied: 0, skipped: 6 });
      // Another partition's offsets are independent; partition -1 is never deduplicated.
      expect(await store.applyEvents(f, [ev(f, 'k', t, null, 1, 0), { ...ev(f, 'k', t, null, -1, 0) }, { ...ev(f, 'k', t, null, -1, 0) }])).toEqual({ applied: 3, skipped: 0 });
      const [tiles] = await store.readTiles(f, [['k']], tileStartOf(f.layout, t), tileStartOf(f.layout, t));
      expect(tiles![0]!.partial.count).toBe(9);
    });

    it('keeps last by (event time, partition, offset) and stores JSON values', async () => {
      const { store } = await open();
      const f = feature('last', null, null);
      await store.applyEvents(f, [ev(f, 'k', 10, 'x|y', 0, 5), ev(f, 'k', 10, 'z', 1, 0), ev(f, 'k', 9, 'old', 2, 9)]);
      const [[tile]] = (await store.readTiles(f, [['k']], 0, 0)) as unknown as [[{ partial: TilePartial }]];
      expect(tile.partial.last).toEqual({ ts: 10, partition: 1, offset: 0, value: 'z' });
    });

    it('drops tiles that fell out of every window', async () => {
      const { store } = await open();
      const f = feature('count', 20_000, 10_000);
      const t = 1_700_000_000_000;
      await store.applyEvents(f, [ev(f, 'k', t, null, 0, 0)]);
      await store.applyEvents(f, [ev(f, 'k', t + 40_000, null, 0, 1)]);
      const [tiles] = await store.readTiles(f, [['k']], tileStartOf(f.layout, t), tileStartOf(f.layout, t + 40_000));
      expect(tiles!.map((x) => x.tileStart)).toEqual([tileStartOf(f.layout, t + 40_000)]);
    });

    it('raises watermarks and never lowers them', async () => {
      const { store } = await open();
      expect(await store.readWatermarks('g:topic', [0, 1])).toEqual([null, null]);
      await store.writeWatermarks('g:topic', [{ partition: 0, watermark: 100 }, { partition: 1, watermark: 50 }]);
      await store.writeWatermarks('g:topic', [{ partition: 0, watermark: 90 }]);
      expect(await store.readWatermarks('g:topic', [1, 0, 2])).toEqual([50, 100, null]);
    });

    it('deletes keys', async () => {
      const { store } = await open();
      const f = feature('max');
      await store.applyEvents(f, [ev(f, 'a', 1, 3, 0, 0), ev(f, 'b', 1, 4, 0, 1)]);
      expect(await store.deleteKeys(f, [['a'], ['zz']])).toBe(1);
      const [a, b] = await store.readTiles(f, [['a'], ['b']], tileStartOf(f.layout, 1), tileStartOf(f.layout, 1));
      expect(a).toEqual([]);
      expect(b!.length).toBe(1);
    });

    if (options.persistent) {
      it('keeps tiles, offsets and watermarks across close and reopen', async () => {
        const { store, namespace } = await open();
        const f = feature('sum');
        await store.applyEvents(f, [ev(f, 'k', 5, 2, 0, 0), ev(f, 'k', 6, 3, 0, 1)]);
        await store.writeWatermarks('s', [{ partition: 0, watermark: 6 }]);
        await store.close();
        const { store: again } = await open(namespace);
        expect(await again.applyEvents(f, [ev(f, 'k', 5, 2, 0, 0), ev(f, 'k', 6, 3, 0, 1), ev(f, 'k', 7, 4, 0, 2)])).toEqual({ applied: 1, skipped: 2 });
        const [[tile]] = (await again.readTiles(f, [['k']], tileStartOf(f.layout, 5), tileStartOf(f.layout, 5))) as unknown as [[{ partial: TilePartial }]];
        expect(tile.partial.sum).toBe(9);
        expect(await again.readWatermarks('s', [0])).toEqual([6]);
      });
    }

    it('replayed random batches give the same windows as one clean pass (property)', async () => {
      const { store } = await open();
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom<StreamAggregationFn>('count', 'sum', 'avg', 'min', 'max', 'last'),
          fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), dt: fc.integer({ min: 0, max: 59_999 }), value: fc.integer({ min: -100, max: 100 }), partition: fc.integer({ min: 0, max: 1 }) }), { minLength: 1, maxLength: 40 }),
          fc.array(fc.nat(40), { maxLength: 4 }),
          async (fn, raw, cuts) => {
            const f: TileFeature = { ...feature(fn), id: `p${run++}_${fn}@v1` };
            const t0 = 1_700_000_000_000;
            const offsets = [0, 0];
            const events = raw.map((r) => ev(f, r.key, t0 + r.dt, r.value, r.partition, offsets[r.partition]!++));
            // Deliver as at-least-once: each batch from a restart point that may re-send earlier events.
            let from = 0;
            for (const cut of [...cuts.map((c) => c % (events.length + 1)).sort((a, b) => a - b), events.length]) {
              const restart = Math.max(0, Math.min(from, cut) - 3);
              await store.applyEvents(f, events.slice(restart, Math.max(cut, from)));
              from = Math.max(cut, from);
            }
            const now = t0 + 60_000;
            const { fromTile, toTile } = coveringTiles(f.layout, now);
            const tiles = await store.readTiles(f, [['a'], ['b'], ['c']], fromTile, toTile);
            ['a', 'b', 'c'].forEach((key, i) => {
              const got = finalizePartial(fn, tiles[i]!.reduce<TilePartial | null>((acc, t) => combinePartials(acc ?? EMPTY_PARTIAL, t.partial), null));
              const want = finalizePartial(
                fn,
                events.filter((e) => e.key[0] === key && e.tileStart >= fromTile && e.tileStart <= toTile).reduce<TilePartial | null>((acc, e) => combinePartials(acc ?? EMPTY_PARTIAL, e.partial), null),
              );
              if (typeof want === 'number' && typeof got === 'number') expect(got).toBeCloseTo(want, 9);
              else expect(got).toEqual(want);
            });
          },
        ),
        { numRuns },
      );
    });
  });
}

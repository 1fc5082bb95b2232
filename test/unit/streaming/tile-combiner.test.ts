/**
 * Pre-combined tile updates stay exactly-once: a stream is applied in random chunks (each pre-combined per key and
 * tile), "crashes" after a random chunk, and is replayed from an earlier committed offset cut into different chunks.
 * The tiles equal applying every event once — on the Redis and the embedded store.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbeddedTileStore } from '../../../adapters/embedded-online/embedded-tile-store.js';
import { createRedisTileStore } from '../../../adapters/redis/redis-tile-store.js';
import type { TileEvent, TileFeature, TileStore } from '../../../src/spi/tile-store.js';
import { applyCombined, combineTileEvents } from '../../../src/streaming/tile-combiner.js';
import { EMPTY_PARTIAL, combinePartials, eventPartial, tileLayout, tileStartOf } from '../../../src/streaming/tiles.js';
import { clearRedisPrefix, createRedisPrefix, redisUrl, uniqueId } from '../../support/services.js';

const prefix = createRedisPrefix('tile-combine');
const admin = new Redis(redisUrl(), { lazyConnect: true });
afterAll(async () => {
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

const BASE = 1_700_000_000_000;
const layout = tileLayout({ fn: 'sum', windowMs: 40_000, slideMs: 10_000 });

const streamArb = fc
  .array(fc.record({ partition: fc.integer({ min: 0, max: 1 }), key: fc.constantFrom('a', 'b', 'c'), dt: fc.integer({ min: 0, max: 15_000 }), value: fc.integer({ min: -50, max: 50 }) }), { minLength: 1, maxLength: 120 })
  .map((raw) => {
    const offsets = [0, 0];
    return raw.map((r): TileEvent => {
      const offset = offsets[r.partition]!++;
      const ts = BASE + r.dt;
      return { key: [r.key], tileStart: tileStartOf(layout, ts), partial: eventPartial(r.value, ts, r.partition, offset), partition: r.partition, offset };
    });
  });

/** Cuts `events` (one partition's, in order) at the given relative positions. */
function cut(events: readonly TileEvent[], cuts: readonly number[]): TileEvent[][] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * events.length)))].filter((c) => c > 0 && c < events.length).sort((x, y) => x - y);
  const out: TileEvent[][] = [];
  let from = 0;
  for (const c of [...at, events.length]) {
    out.push(events.slice(from, c));
    from = c;
  }
  return out;
}

async function expectExact(store: TileStore, feature: TileFeature, events: readonly TileEvent[]): Promise<void> {
  for (const key of new Set(['a', 'b', 'c', ...events.map((e) => String(e.key[0]))])) {
    const want = new Map<number, ReturnType<typeof combinePartials>>();
    for (const e of events) if (e.key[0] === key) want.set(e.tileStart, combinePartials(want.get(e.tileStart) ?? EMPTY_PARTIAL, e.partial));
    const [tiles] = await store.readTiles(feature, [[key]], tileStartOf(layout, BASE), tileStartOf(layout, BASE + 35_000));
    expect(new Map(tiles!.map((t) => [t.tileStart, t.partial])), key).toEqual(want);
  }
}

const stores: [string, () => Promise<TileStore>][] = [
  ['embedded', () => createEmbeddedTileStore({ dir: null })],
  ['redis', async () => createRedisTileStore({ url: redisUrl(), keyPrefix: prefix })],
];

describe.each(stores)('pre-combined tile updates (%s)', (_name, open) => {
  it('combines one run per (key, tile, partition) with the offsets it covers', () => {
    const e = (key: string, offset: number, value: number, partition = 0): TileEvent => ({ key: [key], tileStart: 0, partial: eventPartial(value, offset, partition, offset), partition, offset });
    const { runs, members } = combineTileEvents([e('a', 3, 1), e('b', 4, 2), e('a', 7, 5), e('a', 2, 1, 1)]);
    expect(runs.map((r) => [r.key[0], r.partition, r.firstOffset ?? r.offset, r.offset, r.partial.sum])).toEqual([
      ['a', 0, 3, 7, 6],
      ['b', 0, 4, 4, 2],
      ['a', 1, 2, 2, 1],
    ]);
    expect(members.map((m) => m.length)).toEqual([2, 1, 1]);
  });

  it('reports a run straddling the applied offset and applies nothing of it; the part above is then applied once', async () => {
    const store = await open();
    try {
      const feature: TileFeature = { id: `sum_40s@v${uniqueId()}`, entity: 'user@default', layout };
      const e = (offset: number): TileEvent => ({ key: ['k'], tileStart: tileStartOf(layout, BASE + 1), partial: eventPartial(offset, BASE + 1, 0, offset), partition: 0, offset });
      const events = [0, 1, 2, 3, 4, 5, 6, 7, 8].map(e);
      expect(await applyCombined(store, feature, events.slice(0, 6))).toMatchObject({ applied: 1, straddled: 0 });
      const run = combineTileEvents(events.slice(3)).runs[0]!;
      expect(await store.applyEvents(feature, [run])).toEqual({ applied: 0, skipped: 0, straddled: [{ index: 0, seen: 5 }] });
      expect(await applyCombined(store, feature, events.slice(3))).toMatchObject({ applied: 1, straddled: 1 });
      await expectExact(store, feature, events);
    } finally {
      await store.close();
    }
  });

  it('a replay cut into other chunks after a crash changes nothing (straddled runs are re-sent above the applied offset)', async () => {
    const store = await open();
    let straddles = 0;
    try {
      await fc.assert(
        fc.asyncProperty(streamArb, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 6 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), fc.double({ min: 0, max: 0.7, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), async (events, cuts1, cuts2, crashAt, commitAt) => {
          const feature: TileFeature = { id: `sum_40s@v${uniqueId()}`, entity: 'user@default', layout };
          for (const partition of [0, 1]) {
            const mine = events.filter((e) => e.partition === partition);
            if (mine.length === 0) continue;
            // First attempt: chunks up to a crash; the committed offset lies at or before the crash point.
            const first = cut(mine, cuts1);
            const crashed = Math.floor(crashAt * first.length);
            for (const chunk of first.slice(0, crashed + 1)) await applyCombined(store, feature, chunk);
            const written = first.slice(0, crashed + 1).flat().length;
            const committed = Math.floor(commitAt * written);
            // Replay from the committed offset, cut differently, to the end.
            for (const chunk of cut(mine.slice(committed), cuts2)) {
              const result = await applyCombined(store, feature, chunk);
              expect(result.applied + result.skipped).toBe(result.runs);
              straddles += result.straddled;
            }
          }
          await expectExact(store, feature, events);
        }),
        { numRuns: 100 },
      );
    } finally {
      await store.close();
    }
    // The property must have met straddled runs (re-sent parts count as extra tile updates).
    expect(straddles).toBeGreaterThan(0);
  }, 120_000);
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_PARTIAL,
  combinePartials,
  compareLast,
  coveringTiles,
  decodePartial,
  encodePartial,
  eventPartial,
  expiryThreshold,
  finalizePartial,
  isLate,
  tileLayout,
  tileStartOf,
  tileStartsBetween,
  type StreamAggregationFn,
  type TileLayout,
  type TilePartial,
} from '../../../src/streaming/tiles.js';

interface Ev {
  readonly partition: number;
  readonly key: string;
  readonly ts: number;
  readonly value: number | null;
}

/** Brute force: the per-partition late rule, then the window `t − w < ts ≤ t` at t = the latest slide boundary ≤ now. */
function oracle(layout: TileLayout, events: readonly Ev[], key: string, nowMs: number, countRows: boolean) {
  const watermark = new Map<number, number>();
  const accepted: (Ev & { offset: number })[] = [];
  const offsets = new Map<number, number>();
  for (const e of events) {
    const offset = offsets.get(e.partition) ?? 0;
    offsets.set(e.partition, offset + 1);
    const wm = watermark.get(e.partition);
    if (wm !== undefined && e.ts < wm - layout.allowedLatenessMs) continue;
    watermark.set(e.partition, Math.max(wm ?? e.ts, e.ts));
    accepted.push({ ...e, offset });
  }
  let t = nowMs;
  if (layout.tileMs !== null) while (((t % layout.tileMs) + layout.tileMs) % layout.tileMs !== 0) t--;
  const rows = accepted.filter((e) => e.key === key && (layout.windowMs === null || (t - layout.windowMs < e.ts && e.ts <= t)));
  const values = rows.map((r) => r.value).filter((v): v is number => v !== null);
  switch (layout.fn) {
    case 'count':
      return countRows ? rows.length : values.length;
    case 'sum':
      return values.length ? values.reduce((a, b) => a + b, 0) : null;
    case 'avg':
      return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
    case 'min':
      return values.length ? Math.min(...values) : null;
    case 'max':
      return values.length ? Math.max(...values) : null;
    case 'last': {
      let best: (typeof rows)[number] | undefined;
      for (const r of rows) if (!best || r.ts > best.ts || (r.ts === best.ts && (r.partition > best.partition || (r.partition === best.partition && r.offset > best.offset)))) best = r;
      return best ? best.value : null;
    }
  }
}

/** The tiled pipeline as the worker + store + reader run it (in memory), with expiry applied after every write. */
function tiled(layout: TileLayout, events: readonly Ev[], key: string, nowMs: number, countRows: boolean) {
  const watermark = new Map<number, number>();
  const offsets = new Map<number, number>();
  const tiles = new Map<string, Map<number, TilePartial>>();
  for (const e of events) {
    const offset = offsets.get(e.partition) ?? 0;
    offsets.set(e.partition, offset + 1);
    const wm = watermark.get(e.partition) ?? null;
    if (isLate(layout, e.ts, wm)) continue;
    watermark.set(e.partition, Math.max(wm ?? e.ts, e.ts));
    let byTile = tiles.get(e.key);
    if (!byTile) tiles.set(e.key, (byTile = new Map()));
    const start = tileStartOf(layout, e.ts);
    byTile.set(start, combinePartials(byTile.get(start) ?? EMPTY_PARTIAL, eventPartial(e.value, e.ts, e.partition, offset, countRows)));
    const threshold = expiryThreshold(layout, Math.max(...byTile.keys()));
    for (const s of [...byTile.keys()]) if (s < threshold) byTile.delete(s);
  }
  const { fromTile, toTile } = coveringTiles(layout, nowMs);
  const byTile = tiles.get(key);
  let acc: TilePartial | null = null;
  for (const s of tileStartsBetween(layout, fromTile, toTile)) {
    const p = byTile?.get(s);
    if (p) acc = combinePartials(acc ?? EMPTY_PARTIAL, decodePartial(encodePartial(p)));
  }
  return finalizePartial(layout.fn, acc);
}

const fnArb = fc.constantFrom<StreamAggregationFn>('count', 'sum', 'avg', 'min', 'max', 'last');
const layoutArb = fc
  .record({
    fn: fnArb,
    slide: fc.integer({ min: 1, max: 20 }),
    tiles: fc.integer({ min: 1, max: 6 }),
    lateness: fc.integer({ min: 0, max: 40 }),
    unwindowed: fc.boolean(),
  })
  .map((r) =>
    r.unwindowed && r.fn === 'last'
      ? tileLayout({ fn: 'last', windowMs: null, allowedLatenessMs: r.lateness })
      : tileLayout({ fn: r.fn, windowMs: r.slide * r.tiles, slideMs: r.tiles > 1 ? r.slide : null, allowedLatenessMs: r.lateness }),
  );
const eventArb = fc.record({
  partition: fc.integer({ min: 0, max: 2 }),
  key: fc.constantFrom('a', 'b'),
  ts: fc.integer({ min: -50, max: 150 }),
  value: fc.option(fc.integer({ min: -1000, max: 1000 }), { nil: null, freq: 6 }),
});

describe('tile math', () => {
  it('tiles hold S < ts ≤ S + s (the window rule t − w < ts ≤ t)', () => {
    const layout = tileLayout({ fn: 'count', windowMs: 30, slideMs: 10 });
    expect(tileStartOf(layout, 10)).toBe(0);
    expect(tileStartOf(layout, 11)).toBe(10);
    expect(tileStartOf(layout, 0)).toBe(-10);
    expect(tileStartOf(layout, -1)).toBe(-10);
    expect(coveringTiles(layout, 39)).toEqual({ fromTile: 0, toTile: 20, windowEnd: 30 });
    expect(() => tileLayout({ fn: 'sum', windowMs: 30, slideMs: 7 })).toThrow(/multiple/);
  });

  it('late rule: within allowedLateness of the watermark updates, later is dropped', () => {
    const layout = tileLayout({ fn: 'count', windowMs: 10, allowedLatenessMs: 5 });
    expect(isLate(layout, 95, 100)).toBe(false);
    expect(isLate(layout, 94, 100)).toBe(true);
    expect(isLate(layout, 0, null)).toBe(false);
  });

  it('partials: combine is associative/commutative with identity, and the text form round-trips', () => {
    // A (partition, offset) names one Kafka message, so events never share it with different values: draw distinct
    // message identities and cut them into three partials.
    // Doubles bounded so that sums of a dozen stay finite (overflow to Infinity is not what this checks).
    const eventsArb = fc.uniqueArray(
      fc.tuple(fc.option(fc.oneof(fc.integer(), fc.double({ min: -1e300, max: 1e300, noNaN: true }), fc.string()), { nil: null }), fc.integer(), fc.nat(3), fc.nat(100)),
      { maxLength: 12, selector: ([, , p, o]) => `${p}:${o}` },
    );
    const partialOf = (xs: typeof eventsArb extends fc.Arbitrary<infer T> ? T : never) =>
      xs.reduce<TilePartial>((acc, [v, ts, p, o]) => combinePartials(acc, eventPartial(v, ts, p, o)), EMPTY_PARTIAL);
    fc.assert(
      fc.property(eventsArb, fc.nat(12), fc.nat(12), (events, i, j) => {
        const [x, y] = [Math.min(i, j, events.length), Math.min(Math.max(i, j), events.length)];
        const [a, b, c] = [partialOf(events.slice(0, x)), partialOf(events.slice(x, y)), partialOf(events.slice(y))];
        // Float sums are associative only up to rounding: compare them with a relative tolerance, the rest exactly.
        const left = combinePartials(combinePartials(a, b), c);
        const right = combinePartials(a, combinePartials(b, c));
        expect(Math.abs(left.sum - right.sum)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(left.sum), Math.abs(right.sum)));
        expect({ ...left, sum: 0 }).toEqual({ ...right, sum: 0 });
        expect(combinePartials(a, b).last).toEqual(combinePartials(b, a).last);
        expect(combinePartials(a, EMPTY_PARTIAL)).toEqual(a);
        // The text form writes -0 as 0, as the JSON of an online read does: compare through JSON.
        const json = (p: TilePartial) => JSON.parse(JSON.stringify(p)) as unknown;
        expect(json(decodePartial(encodePartial(a)))).toEqual(json(a));
      }),
      { numRuns: 2000 },
    );
    expect(compareLast({ ts: 1, partition: 0, offset: 9, value: 1 }, { ts: 1, partition: 1, offset: 0, value: 2 })).toBeLessThan(0);
  });

  it('tiled windows equal the brute-force oracle on random out-of-order streams with late events', () => {
    fc.assert(
      fc.property(layoutArb, fc.array(eventArb, { maxLength: 80 }), fc.integer({ min: 150, max: 220 }), fc.boolean(), (layout, events, now, countRows) => {
        const rows = countRows && layout.fn === 'count';
        for (const key of ['a', 'b']) expect(tiled(layout, events, key, now, rows)).toEqual(oracle(layout, events, key, now, rows));
      }),
      { numRuns: 2000 },
    );
  });
});

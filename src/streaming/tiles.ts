/**
 * Pure tile math for stream window aggregations (Tecton-style tiling).
 *
 * A feature's window of length `w` is cut into tiles of `s` ms (`s` = the slide of a sliding window, `s = w` for a
 * tumbling window; `w` is a multiple of `s`). **Boundary rule** — the same as the point-in-time window semantics
 * `t − w < ts ≤ t`: the tile starting at `S` holds the events with `S < ts ≤ S + s` (open left, closed right), so
 * `tileStartOf(ts) = ⌈ts / s⌉·s − s`.
 *
 * A window is exact at tile boundaries: the value read at `now` is the aggregation evaluated at
 * `t* = ⌊now / s⌋·s` (the latest boundary ≤ now), i.e. over the events with `t* − w < ts ≤ t*`, which are exactly
 * the tiles `S ∈ [t* − w, t* − s]`. A sliding window therefore moves every `s` ms, a tumbling window every `w` ms.
 * A feature without a window (`last` of a column) keeps one tile, start 0, holding every event.
 *
 * Late events: each partition carries a watermark (the greatest event time seen so far in offset order). An event
 * with `ts < watermark − allowedLateness` is late: counted and dropped. Otherwise it updates its tile, even when that
 * tile is no longer the newest.
 *
 * Expiry: a tile starting before `maxTileStart − w − s` (the newest tile of the same entity key) can never be read
 * again by a reader whose clock is past that key's newest event, so stores may drop it.
 */

/** Aggregation functions of stream features. `last`: the value of the greatest (event time, partition, offset). */
export type StreamAggregationFn = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'last';

export const streamAggregationFns = ['count', 'sum', 'avg', 'min', 'max', 'last'] as const satisfies readonly StreamAggregationFn[];

/** How one stream feature is tiled. */
export interface TileLayout {
  readonly fn: StreamAggregationFn;
  /** Window length, ms; null = no window (one all-time tile). */
  readonly windowMs: number | null;
  /** Tile size, ms (= slide; = window for a tumbling window); null exactly when windowMs is null. */
  readonly tileMs: number | null;
  /** How far behind its partition's watermark an event may be and still count, ms. */
  readonly allowedLatenessMs: number;
}

/** Builds and checks a layout: window and slide are positive integers of ms, and the window a multiple of the slide. */
export function tileLayout(options: { fn: StreamAggregationFn; windowMs?: number | null; slideMs?: number | null; allowedLatenessMs?: number }): TileLayout {
  const windowMs = options.windowMs ?? null;
  const lateness = options.allowedLatenessMs ?? 0;
  if (!Number.isSafeInteger(lateness) || lateness < 0) throw new RangeError('allowedLatenessMs must be a non-negative integer');
  if (windowMs === null) {
    if (options.slideMs != null) throw new RangeError('a slide needs a window');
    return Object.freeze({ fn: options.fn, windowMs: null, tileMs: null, allowedLatenessMs: lateness });
  }
  const tileMs = options.slideMs ?? windowMs;
  if (!Number.isSafeInteger(windowMs) || windowMs <= 0) throw new RangeError('windowMs must be a positive integer');
  if (!Number.isSafeInteger(tileMs) || tileMs <= 0) throw new RangeError('slideMs must be a positive integer');
  if (windowMs % tileMs !== 0) throw new RangeError(`the window (${windowMs} ms) must be a multiple of the slide (${tileMs} ms)`);
  return Object.freeze({ fn: options.fn, windowMs, tileMs, allowedLatenessMs: lateness });
}

/** Start of the tile holding an event at `ts`: the tile `(S, S + s]`. 0 for unwindowed layouts. */
export function tileStartOf(layout: TileLayout, ts: number): number {
  if (layout.tileMs === null) return 0;
  return Math.ceil(ts / layout.tileMs) * layout.tileMs - layout.tileMs;
}

/** The evaluation time of a read at `nowMs`: the latest tile boundary ≤ now (now itself when unwindowed). */
export function windowEndOf(layout: TileLayout, nowMs: number): number {
  if (layout.tileMs === null) return nowMs;
  return Math.floor(nowMs / layout.tileMs) * layout.tileMs;
}

/** The tiles (inclusive starts) whose union is exactly the window read at `nowMs`. */
export function coveringTiles(layout: TileLayout, nowMs: number): { fromTile: number; toTile: number; windowEnd: number } {
  const windowEnd = windowEndOf(layout, nowMs);
  if (layout.windowMs === null || layout.tileMs === null) return { fromTile: 0, toTile: 0, windowEnd };
  return { fromTile: windowEnd - layout.windowMs, toTile: windowEnd - layout.tileMs, windowEnd };
}

/** Every tile start in `[fromTile, toTile]` (a window has `w / s` of them). */
export function tileStartsBetween(layout: TileLayout, fromTile: number, toTile: number): number[] {
  if (layout.tileMs === null) return [0];
  const out: number[] = [];
  for (let s = fromTile; s <= toTile; s += layout.tileMs) out.push(s);
  return out;
}

/** Tiles starting before this may be dropped once a key's newest tile starts at `maxTileStart`. */
export function expiryThreshold(layout: TileLayout, maxTileStart: number): number {
  if (layout.windowMs === null || layout.tileMs === null) return Number.NEGATIVE_INFINITY;
  return maxTileStart - layout.windowMs - layout.tileMs;
}

/** How long a tile must live after its last write (wall clock): window + one tile + allowed lateness. Null: forever. */
export function tileRetentionMs(layout: TileLayout): number | null {
  if (layout.windowMs === null || layout.tileMs === null) return null;
  return layout.windowMs + layout.tileMs + layout.allowedLatenessMs;
}

/** True when an event at `ts` is too late for a partition whose watermark is `watermark` (null: nothing seen yet). */
export function isLate(layout: Pick<TileLayout, 'allowedLatenessMs'>, ts: number, watermark: number | null): boolean {
  return watermark !== null && ts < watermark - layout.allowedLatenessMs;
}

// ---------------------------------------------------------------------------------------------------------------
// Partials

/** A value a stream feature aggregates: numbers for count/sum/avg/min/max; anything JSON for `last`. */
export type StreamValue = string | number | boolean | null;

/** The `last` candidate of a tile: ordered by (ts, partition, offset), greatest wins. */
export interface LastEntry {
  readonly ts: number;
  readonly partition: number;
  readonly offset: number;
  readonly value: StreamValue;
}

/**
 * The partial aggregate of one tile. `count` counts contributing events (rows for `count` without a column,
 * non-null values otherwise); `sum`, `min`, `max` are over numeric values (min/max null when none); `last` is the
 * greatest entry by (ts, partition, offset). Every function reads what it needs from the same partial.
 */
export interface TilePartial {
  readonly count: number;
  readonly sum: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly last: LastEntry | null;
}

export const EMPTY_PARTIAL: TilePartial = Object.freeze({ count: 0, sum: 0, min: null, max: null, last: null });

/**
 * The partial of one event. `value` is the aggregated column's value (ignored for `count` without a column:
 * pass `countRows: true`). Null values do not count toward count/sum/avg/min/max but are a valid `last` value.
 */
export function eventPartial(value: StreamValue, ts: number, partition: number, offset: number, countRows = false): TilePartial {
  const last: LastEntry = { ts, partition, offset, value };
  if (countRows) return { count: 1, sum: 0, min: null, max: null, last };
  if (typeof value === 'number') return { count: 1, sum: value, min: value, max: value, last };
  if (value === null) return { count: 0, sum: 0, min: null, max: null, last };
  return { count: 1, sum: 0, min: null, max: null, last };
}

/** Orders `last` entries: event time, then partition, then offset (all ascending). */
export function compareLast(a: LastEntry, b: LastEntry): number {
  return a.ts - b.ts || a.partition - b.partition || a.offset - b.offset;
}

/** Combines two partials (associative and commutative; EMPTY_PARTIAL is its identity). */
export function combinePartials(a: TilePartial, b: TilePartial): TilePartial {
  return {
    count: a.count + b.count,
    sum: a.sum + b.sum,
    min: a.min === null ? b.min : b.min === null ? a.min : Math.min(a.min, b.min),
    max: a.max === null ? b.max : b.max === null ? a.max : Math.max(a.max, b.max),
    last: a.last === null ? b.last : b.last === null ? a.last : compareLast(a.last, b.last) >= 0 ? a.last : b.last,
  };
}

/** The feature value of a window whose tiles combine to `partial` (null partial: no tile at all). */
export function finalizePartial(fn: StreamAggregationFn, partial: TilePartial | null): StreamValue {
  const p = partial ?? EMPTY_PARTIAL;
  switch (fn) {
    case 'count':
      return p.count;
    case 'sum':
      return p.count > 0 ? p.sum : null;
    case 'avg':
      return p.count > 0 ? p.sum / p.count : null;
    case 'min':
      return p.min;
    case 'max':
      return p.max;
    case 'last':
      return p.last ? p.last.value : null;
  }
}

/**
 * Text form of a partial shared by the stores (and parsed by the Redis Lua script):
 * `count|sum|min|max|lastTs|lastPartition|lastOffset|lastJson` with empty min/max/last fields for none. The JSON
 * of the last value comes last, so it may contain `|`.
 */
export function encodePartial(p: TilePartial): string {
  const last = p.last ? `${p.last.ts}|${p.last.partition}|${p.last.offset}|${JSON.stringify(p.last.value)}` : '|||';
  return `${p.count}|${p.sum}|${p.min ?? ''}|${p.max ?? ''}|${last}`;
}

/** Parses {@link encodePartial}'s text. */
export function decodePartial(text: string): TilePartial {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < 7; i++) {
    const at = text.indexOf('|', from);
    if (at < 0) throw new Error(`not a tile partial: ${JSON.stringify(text.slice(0, 60))}`);
    parts.push(text.slice(from, at));
    from = at + 1;
  }
  const lastJson = text.slice(from);
  const num = (s: string | undefined) => (s === undefined || s === '' ? null : Number(s));
  return {
    count: Number(parts[0]),
    sum: Number(parts[1]),
    min: num(parts[2]),
    max: num(parts[3]),
    last: parts[4] === '' ? null : { ts: Number(parts[4]), partition: Number(parts[5]), offset: Number(parts[6]), value: JSON.parse(lastJson) as StreamValue },
  };
}

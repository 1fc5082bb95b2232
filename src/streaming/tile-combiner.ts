import { encodeEntityKey } from '../spi/online-store.js';
import type { TileEvent, TileStore, TileFeature } from '../spi/tile-store.js';
import { combinePartials } from './tiles.js';

/** Pre-combined tile events: one run per (entity key, tile, partition), and the events each run combines. */
export interface CombinedTileEvents {
  /** One event per group: the combined partial, `firstOffset` / `offset` of its first / last member. */
  readonly runs: TileEvent[];
  /** `members[i]`: the events of `runs[i]`, in input order. */
  readonly members: TileEvent[][];
}

/**
 * Pre-combines tile events of one feature: the events of one (entity key, tile, partition) become one run whose
 * partial is their combination (associative and commutative, so the tile ends up the same). Events of a partition
 * must come in offset order (as a consumer reads them), so a run covers offsets `firstOffset..offset` of that
 * partition; the store applies or skips it whole, and reports it as straddled when a crash left it half applied.
 * Runs keep the order of their first event.
 */
export function combineTileEvents(events: readonly TileEvent[]): CombinedTileEvents {
  const index = new Map<string, number>();
  const runs: TileEvent[] = [];
  const members: TileEvent[][] = [];
  for (const e of events) {
    const group = `${encodeEntityKey(e.key)}\u0000${e.tileStart}\u0000${e.partition}`;
    const at = index.get(group);
    if (at === undefined) {
      index.set(group, runs.length);
      runs.push(e);
      members.push([e]);
      continue;
    }
    const run = runs[at]!;
    runs[at] = { key: run.key, tileStart: run.tileStart, partition: run.partition, firstOffset: run.firstOffset ?? run.offset, offset: e.offset, partial: combinePartials(run.partial, e.partial) };
    members[at]!.push(e);
  }
  return { runs, members };
}

/** One run re-made from its members above `seen` (the part a straddling apply did not cover yet). */
export function runAbove(members: readonly TileEvent[], seen: number): TileEvent | null {
  const rest = members.filter((m) => m.offset > seen);
  if (rest.length === 0) return null;
  let partial = rest[0]!.partial;
  for (let i = 1; i < rest.length; i++) partial = combinePartials(partial, rest[i]!.partial);
  const first = rest[0]!;
  return { key: first.key, tileStart: first.tileStart, partition: first.partition, firstOffset: first.firstOffset ?? first.offset, offset: rest[rest.length - 1]!.offset, partial };
}

/**
 * Applies events pre-combined ({@link combineTileEvents}) and settles straddled runs by re-sending their part above
 * the store's applied offset. Counts are of tile updates (runs), as the store reports them; `straddled`: runs re-sent.
 */
export async function applyCombined(store: TileStore, feature: TileFeature, events: readonly TileEvent[]): Promise<{ applied: number; skipped: number; runs: number; straddled: number }> {
  if (events.length === 0) return { applied: 0, skipped: 0, runs: 0, straddled: 0 };
  const combined = combineTileEvents(events);
  let pending = combined.runs.map((run, i) => ({ run, members: combined.members[i]! }));
  let applied = 0;
  let skipped = 0;
  let straddled = 0;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 5) throw new Error(`tile runs of ${feature.id} kept straddling applied offsets (concurrent writers of one partition?)`);
    const result = await store.applyEvents(feature, pending.map((p) => p.run));
    applied += result.applied;
    skipped += result.skipped;
    const next: typeof pending = [];
    straddled += result.straddled?.length ?? 0;
    for (const { index, seen } of result.straddled ?? []) {
      const members = pending[index]!.members.filter((m) => m.offset > seen);
      const rest = runAbove(members, seen);
      if (rest) next.push({ run: rest, members });
    }
    pending = next;
  }
  return { applied, skipped, runs: combined.runs.length, straddled };
}

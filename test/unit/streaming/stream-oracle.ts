/**
 * Brute-force reference for stream features (test helper): applies the per-partition late rule in offset order,
 * then evaluates the window `t − w < ts ≤ t` at t = the latest slide boundary ≤ now — no tiles involved.
 */
import type { TileLayout } from '../../../src/streaming/tiles.js';

export interface OracleEvent {
  readonly partition: number;
  /** Position within the partition (offset order). */
  readonly offset: number;
  readonly key: string;
  readonly ts: number;
  readonly value: number | null;
}

export function oracleAccepted(events: readonly OracleEvent[], allowedLatenessMs: number): OracleEvent[] {
  const byPartition = new Map<number, OracleEvent[]>();
  for (const e of events) (byPartition.get(e.partition) ?? byPartition.set(e.partition, []).get(e.partition)!).push(e);
  const accepted: OracleEvent[] = [];
  for (const list of byPartition.values()) {
    let wm: number | null = null;
    for (const e of [...list].sort((a, b) => a.offset - b.offset)) {
      if (wm !== null && e.ts < wm - allowedLatenessMs) continue;
      wm = wm === null ? e.ts : Math.max(wm, e.ts);
      accepted.push(e);
    }
  }
  return accepted;
}

export function oracleValue(layout: TileLayout, accepted: readonly OracleEvent[], key: string, nowMs: number, countRows: boolean): number | null {
  let t = nowMs;
  if (layout.tileMs !== null) t = Math.floor(nowMs / layout.tileMs) * layout.tileMs;
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
      let best: OracleEvent | undefined;
      for (const r of rows) if (!best || r.ts > best.ts || (r.ts === best.ts && (r.partition > best.partition || (r.partition === best.partition && r.offset > best.offset)))) best = r;
      return best ? best.value : null;
    }
  }
}

/** Shared by the streaming integration, fault and bench code (not a test file). */
import { expect } from 'vitest';
import type { KafkaStreamProvider } from '../../../adapters/kafka/index.js';
import type { TileStore } from '../../../src/spi/tile-store.js';
import type { StreamFeatureSpec, StreamJob, StreamSourceSpec } from '../../../src/streaming/stream-job.js';
import { readStreamFeatures } from '../../../src/streaming/stream-reader.js';
import { tileLayout, type StreamAggregationFn } from '../../../src/streaming/tiles.js';
import { uniqueId } from '../../support/services.js';
import { oracleAccepted, oracleValue, type OracleEvent } from './stream-oracle.js';

export const LATENESS = 5_000;

/** A job whose feature ids are unique (variant `v<random>`), so runs sharing one Redis prefix never collide. */
export function streamJob(topic: string, lateness = LATENESS): StreamJob {
  const variant = `v${uniqueId()}`;
  const source: StreamSourceSpec = {
    id: 'txn@default',
    provider: 'events@default',
    topic,
    fields: [
      { name: 'user_id', type: 'string' },
      { name: 'amount', type: 'int' },
      { name: 'ts', type: 'timestamp' },
    ],
    timestampField: 'ts',
    allowedLatenessMs: lateness,
  };
  const feature = (id: string, fn: StreamAggregationFn, windowMs: number | null, slideMs: number | null): StreamFeatureSpec => ({
    id,
    entity: 'user@default',
    layout: windowMs === null ? tileLayout({ fn, allowedLatenessMs: lateness }) : tileLayout({ fn, windowMs, slideMs, allowedLatenessMs: lateness }),
    onlineProvider: 'cache@default',
    keyFields: ['user_id'],
    valueField: fn === 'count' ? null : 'amount',
    valueType: 'int',
    ttlSeconds: undefined,
  });
  const fns: StreamAggregationFn[] = ['count', 'sum', 'avg', 'min', 'max', 'last'];
  return {
    source,
    features: [
      ...fns.map((fn) => feature(`${fn}_60s@${variant}`, fn, 60_000, 10_000)),
      feature(`sum_30s_tumbling@${variant}`, 'sum', 30_000, null),
      feature(`latest_amount@${variant}`, 'last', null, null),
    ],
  };
}

export async function waitCaughtUp(p: KafkaStreamProvider, groupId: string, topic: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [ends, committed] = await Promise.all([p.endOffsets(topic), p.committedOffsets(groupId, topic)]);
    const done = (e: { partition: number; offset: string }) => e.offset === '0' || committed.find((c) => c.partition === e.partition)?.offset === e.offset;
    if (ends.every(done)) return;
    if (Date.now() > deadline) throw new Error(`group ${groupId} did not catch up: end ${JSON.stringify(ends)} committed ${JSON.stringify(committed)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function expectOracle(job: StreamJob, store: TileStore, events: readonly OracleEvent[], now: number): Promise<void> {
  const accepted = oracleAccepted(events, job.source.allowedLatenessMs);
  const keys = [...new Set(events.map((e) => e.key))].sort();
  const cells = await readStreamFeatures(store, job.features, keys.map((k) => [k]), now);
  keys.forEach((key, i) => {
    job.features.forEach((f, j) => {
      const want = oracleValue(f.layout, accepted, key, now, f.valueField === null);
      const got = cells[i]![j];
      if (f.layout.fn === 'last' && want === null && !accepted.some((e) => e.key === key)) expect(got).toBeNull();
      else if (f.layout.fn === 'last' && got === null) expect(want, `${f.id} ${key}`).toBeNull();
      else if (typeof want === 'number' && f.layout.fn === 'avg') expect(got?.value as number, `${f.id} ${key}`).toBeCloseTo(want, 9);
      else expect(got?.value ?? null, `${f.id} ${key}`).toEqual(want);
    });
  });
}


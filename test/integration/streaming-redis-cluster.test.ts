/**
 * Stream tiles on a real Redis Cluster (a private 3-master cluster on spare ports): a feature's tile hashes sit in
 * 256 bucket slots spread over every master; random tile writes with crash-and-replay over keys in many slots
 * give exactly the tiles of a standalone Redis and the brute-force oracle's window values; a stream worker on the
 * real Kafka broker serves exact values from a cluster tile store; the provider config reaches it through the
 * stream runtime.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaStreamProvider, type KafkaStreamProvider } from '../../adapters/kafka/index.js';
import { redisHashSlot } from '../../adapters/redis/index.js';
import { createRedisTileStore, type RedisTileStore } from '../../adapters/redis/redis-tile-store.js';
import { encodeEntityKey } from '../../src/spi/online-store.js';
import type { TileEvent, TileFeature } from '../../src/spi/tile-store.js';
import { applyCombined } from '../../src/streaming/tile-combiner.js';
import { eventPartial, tileLayout, tileStartOf } from '../../src/streaming/tiles.js';
import { StreamRuntime } from '../../src/streaming/stream-runtime.js';
import { StreamWorker } from '../../src/streaming/stream-worker.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, kafkaBrokers, redisUrl, uniqueId } from '../support/services.js';
import { openTestTrellis } from '../support/trellis-harness.js';
import { sparePort, startRedisCluster } from '../unit/online/redis-server-process.js';
import { oracleAccepted, type OracleEvent } from '../unit/streaming/stream-oracle.js';
import { expectOracle, streamJob, waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';

const cluster = await startRedisCluster(3);
const prefix = createRedisPrefix('tiles-cluster');
const standaloneAdmin = new Redis(redisUrl(), { lazyConnect: true });
let admin: Cluster;
let onCluster: RedisTileStore;
let onStandalone: RedisTileStore;

beforeAll(() => {
  admin = new Cluster([...cluster.seeds]);
  onCluster = createRedisTileStore({ nodes: cluster.seeds, keyPrefix: 'tiles:', commandTimeoutMs: 5000 });
  onStandalone = createRedisTileStore({ url: redisUrl(), keyPrefix: prefix });
});

afterAll(async () => {
  await Promise.all([onCluster?.close(), onStandalone?.close()]);
  admin?.disconnect();
  await clearRedisPrefix(standaloneAdmin, prefix);
  await standaloneAdmin.quit();
  await cluster.dispose();
});

const BASE = 1_700_000_000_000;
/** Entity keys over many slots, some with braces; '' stays last. */
const KEYS = [...Array.from({ length: 40 }, (_, i) => `u${i}`), 'a}b', 'a}c', '{x}', '{', '}{', 'é😀', ''];

/** The tile events a stream worker makes of `events` for `feature` (no late events here). */
function tileEvents(feature: TileFeature & { readonly valueField: string | null }, events: readonly OracleEvent[]): TileEvent[] {
  return events.map((e) => ({
    key: [e.key],
    tileStart: tileStartOf(feature.layout, e.ts),
    partial: eventPartial(e.value, e.ts, e.partition, e.offset, feature.valueField === null),
    partition: e.partition,
    offset: e.offset,
  }));
}

const masterKeyCounts = () => Promise.all(admin.nodes('master').map((node) => node.dbsize()));

describe('redis tile store on a cluster', () => {
  it('keeps a feature\'s tile hashes in 256 bucket slots spread over every master; reads and deletes across nodes', async () => {
    const feature: TileFeature = { id: `n_1m@v${uniqueId()}`, entity: 'user@default', layout: tileLayout({ fn: 'count', windowMs: 60_000, slideMs: 10_000 }) };
    const keys: (string | number | bigint)[][] = [...Array.from({ length: 900 }, (_, i) => [`s${i}`]), ['a}b', 1], ['{', '}'], ['é😀'], [2n ** 62n]];
    const before = await masterKeyCounts();
    const events = keys.map((key, i): TileEvent => ({ key, tileStart: tileStartOf(feature.layout, BASE), partial: eventPartial(null, BASE, 0, i, true), partition: 0, offset: i }));
    expect(await onCluster.applyEvents(feature, events)).toEqual({ applied: keys.length, skipped: 0 });
    expect(await onCluster.applyEvents(feature, events)).toEqual({ applied: 0, skipped: keys.length });
    const added = (await masterKeyCounts()).map((n, i) => n - before[i]!);
    expect(added.length).toBe(3);
    for (const n of added) expect(n).toBeGreaterThan(150);
    // Layout: tiles:tile:<feature>:{<feature>/<bucket>}<encoded key>, bucket < 256, the slot that of the tag.
    const stored: string[] = [];
    for (const node of admin.nodes('master')) stored.push(...(await node.keys(`tiles:tile:${feature.id}:*`)));
    const head = `tiles:tile:${feature.id}:{${feature.id}/`;
    const parsed = stored.map((hash) => (hash.startsWith(head) ? /^(\d+)\}(.*)$/s.exec(hash.slice(head.length)) : null));
    expect(parsed.every((m) => m !== null && Number(m[1]) < 256)).toBe(true);
    expect(new Set(parsed.map((m) => m![2]))).toEqual(new Set(keys.map((k) => encodeEntityKey(k))));
    const slots = new Set(stored.map((hash) => redisHashSlot(hash)));
    expect(slots.size).toBeLessThanOrEqual(256);
    expect(slots.size).toBeGreaterThan(200);
    for (const hash of stored.slice(0, 5)) expect(Number(await admin.cluster('KEYSLOT', hash))).toBe(redisHashSlot(hash));
    const tiles = await onCluster.readTiles(feature, [...keys, ['missing']], tileStartOf(feature.layout, BASE), tileStartOf(feature.layout, BASE));
    expect(tiles.map((list) => list.map((t) => t.partial.count))).toEqual([...keys.map(() => [1]), []]);
    expect(await onCluster.deleteKeys(feature, [...keys, ['missing']])).toBe(keys.length);
    expect(await masterKeyCounts()).toEqual(before);
  });

  it('applies a key with more than 1000 events of one batch in order; a replay changes nothing', async () => {
    const feature: TileFeature = { id: `s_1m@v${uniqueId()}`, entity: 'user@default', layout: tileLayout({ fn: 'sum', windowMs: 60_000, slideMs: 10_000 }) };
    const events: TileEvent[] = [];
    for (let offset = 0; offset < 2600; offset++) {
      const key = offset % 5 === 0 ? `cold${offset % 35}` : 'hot';
      const ts = BASE + (offset % 20_000);
      events.push({ key: [key], tileStart: tileStartOf(feature.layout, ts), partial: eventPartial(offset, ts, 0, offset), partition: 0, offset });
    }
    for (const store of [onCluster, onStandalone]) {
      expect(await store.applyEvents(feature, events)).toEqual({ applied: 2600, skipped: 0 });
      expect(await store.applyEvents(feature, events.slice(1000))).toEqual({ applied: 0, skipped: 1600 });
    }
    const keys = [...new Set(events.map((e) => e.key))];
    const from = tileStartOf(feature.layout, BASE);
    const to = tileStartOf(feature.layout, BASE + 20_000);
    const [clusterTiles, standaloneTiles] = await Promise.all([onCluster.readTiles(feature, keys, from, to), onStandalone.readTiles(feature, keys, from, to)]);
    expect(clusterTiles).toEqual(standaloneTiles);
    const hot = clusterTiles[keys.findIndex((k) => k[0] === 'hot')]!;
    expect(hot.reduce((n, t) => n + t.partial.count, 0)).toBe(2080);
  });

  it('falls back to EVAL when a master lost its script cache (restart, failover), watermarks included', async () => {
    const feature: TileFeature = { id: `m_1m@v${uniqueId()}`, entity: 'user@default', layout: tileLayout({ fn: 'max', windowMs: 60_000, slideMs: 10_000 }) };
    const ev = (key: string, offset: number): TileEvent => ({ key: [key], tileStart: tileStartOf(feature.layout, BASE), partial: eventPartial(offset, BASE, 1, offset), partition: 1, offset });
    expect(await onCluster.applyEvents(feature, KEYS.map((k, i) => ev(k, i)))).toEqual({ applied: KEYS.length, skipped: 0 });
    await onCluster.writeWatermarks('s:flush', [{ partition: 0, watermark: 5 }]);
    await Promise.all(admin.nodes('master').map((node) => node.script('FLUSH')));
    expect(await onCluster.applyEvents(feature, KEYS.map((k, i) => ev(k, i + 100)))).toEqual({ applied: KEYS.length, skipped: 0 });
    await onCluster.writeWatermarks('s:flush', [{ partition: 0, watermark: 7 }]);
    const tiles = await onCluster.readTiles(feature, KEYS.map((k) => [k]), tileStartOf(feature.layout, BASE), tileStartOf(feature.layout, BASE));
    expect(tiles.map((list) => list.map((t) => t.partial.max))).toEqual(KEYS.map((_, i) => [i + 100]));
    expect(await onCluster.readWatermarks('s:flush', [0])).toEqual([7]);
  });

  it('fails with ONLINE_UNAVAILABLE within its deadline when no node answers', async () => {
    const nowhere = createRedisTileStore({ nodes: [`127.0.0.1:${await sparePort()}`], commandTimeoutMs: 300, writeTimeoutMs: 300 });
    const feature: TileFeature = { id: 'x_1m@v1', entity: 'user@default', layout: tileLayout({ fn: 'count', windowMs: 60_000, slideMs: 10_000 }) };
    try {
      const started = Date.now();
      await expect(nowhere.readTiles(feature, [['a'], ['b']], 0, 0)).rejects.toMatchObject({ code: 'TRELLIS_ERR_ONLINE_UNAVAILABLE' });
      await expect(nowhere.applyEvents(feature, [{ key: ['a'], tileStart: 0, partial: eventPartial(null, 1, 0, 0, true), partition: 0, offset: 0 }])).rejects.toMatchObject({ code: 'TRELLIS_ERR_ONLINE_UNAVAILABLE' });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await nowhere.close();
    }
  });

  it('refuses a config without exactly one of url and nodes, or with bad nodes', () => {
    expect(() => createRedisTileStore({})).toThrow(/exactly one of url \(standalone\) or nodes \(Cluster\)/);
    expect(() => createRedisTileStore({ url: redisUrl(), nodes: cluster.seeds })).toThrow(/exactly one of url/);
    expect(() => createRedisTileStore({ nodes: [] })).toThrow(/non-empty array/);
    expect(() => createRedisTileStore({ nodes: [{ host: '127.0.0.1' } as never] })).toThrow(/non-empty array/);
    expect(() => createRedisTileStore({ nodes: cluster.seeds, writeChunkKeys: 0 })).toThrow(/writeChunkKeys must be a positive number/);
  });

  it('random tile writes replayed after crashes give the tiles of standalone Redis and the oracle values (property)', async () => {
    // A few keys per run (drawn from every slot group), so replays often cut through pre-combined runs.
    const eventsArb = fc
      .tuple(fc.shuffledSubarray(KEYS, { minLength: 1, maxLength: 12 }), fc.integer({ min: 5_000, max: 60_000 }))
      .chain(([keys, spread]) =>
        fc.array(fc.record({ partition: fc.integer({ min: 0, max: 2 }), key: fc.constantFrom(...keys), dt: fc.integer({ min: -spread, max: Math.floor(spread / 2) }), value: fc.integer({ min: -500, max: 500 }) }), { minLength: 1, maxLength: 250 }),
      )
      .map((raw) => {
        const offsets = [0, 0, 0];
        return raw.map((r): OracleEvent => ({ partition: r.partition, offset: offsets[r.partition]!++, key: r.key, ts: BASE + r.dt, value: r.value }));
      });
    // Batches as at-least-once delivery gives them: each restarts `back` events before the end of the previous one.
    const batchesArb = fc.array(fc.record({ cut: fc.nat(1000), back: fc.nat(80) }), { maxLength: 5 });
    let straddled = 0;
    await fc.assert(
      fc.asyncProperty(eventsArb, batchesArb, async (events, batches) => {
        const job = streamJob('unused', 3_600_000);
        const ends = [...batches.map((b) => ({ end: b.cut % (events.length + 1), back: b.back })).sort((x, y) => x.end - y.end), { end: events.length, back: 0 }];
        for (const feature of job.features) {
          const all = tileEvents(feature, events);
          let done = 0;
          for (const { end, back } of ends) {
            const batch = all.slice(Math.max(0, Math.min(done, end) - back), Math.max(done, end));
            done = Math.max(done, end);
            const [result] = await Promise.all([applyCombined(onCluster, feature, batch), applyCombined(onStandalone, feature, batch)]);
            straddled += result.straddled;
          }
          const keys = KEYS.map((k) => [k]);
          const from = tileStartOf(feature.layout, BASE - 40_000);
          const to = tileStartOf(feature.layout, BASE + 20_000);
          const [clusterTiles, standaloneTiles] = await Promise.all([onCluster.readTiles(feature, keys, from, to), onStandalone.readTiles(feature, keys, from, to)]);
          expect(clusterTiles).toEqual(standaloneTiles);
        }
        for (const now of [BASE + 20_000, BASE + 25_001, BASE + 65_000]) await expectOracle(job, onCluster, events, now);
      }),
      { numRuns: 15 },
    );
    expect(straddled, 'replays that cut through a pre-combined run').toBeGreaterThan(0);
  }, 240_000);
});

describe('redis tile store while slots move', () => {
  it('re-sends reads and writes a moved slot answers with MOVED (stale slot map), and stays exact', async () => {
    const feature: TileFeature = { id: `r_1m@v${uniqueId()}`, entity: 'user@default', layout: tileLayout({ fn: 'sum', windowMs: 60_000, slideMs: 10_000 }) };
    const keys = Array.from({ length: 600 }, (_, i) => [`m${i}`]);
    const ev = (i: number, offset: number): TileEvent => ({ key: keys[i]!, tileStart: tileStartOf(feature.layout, BASE), partial: eventPartial(offset, BASE, 0, offset), partition: 0, offset });
    expect(await onCluster.applyEvents(feature, keys.map((_, i) => ev(i, i)))).toEqual({ applied: 600, skipped: 0 });
    // Move 3000 slots (with their keys) between the first two masters behind the store's back, before a read and
    // before a write.
    const ids = await Promise.all(cluster.nodes.slice(0, 2).map((n) => n.cli('CLUSTER', 'MYID')));
    const reshard = (from: string, to: string) =>
      promisify(execFile)('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${cluster.nodes[0]!.port}`, '--cluster-from', from, '--cluster-to', to, '--cluster-slots', '3000', '--cluster-yes']);
    const range = [tileStartOf(feature.layout, BASE), tileStartOf(feature.layout, BASE)] as const;
    await reshard(ids[0]!, ids[1]!);
    expect((await onCluster.readTiles(feature, keys, ...range)).map((list) => list.map((t) => t.partial.sum))).toEqual(keys.map((_, i) => [i]));
    await reshard(ids[1]!, ids[0]!);
    const second = keys.map((_, i) => ev(i, 600 + i));
    expect(await onCluster.applyEvents(feature, [...keys.map((_, i) => ev(i, i)), ...second])).toEqual({ applied: 600, skipped: 600 });
    expect(await onCluster.applyEvents(feature, second)).toEqual({ applied: 0, skipped: 600 });
    expect((await onCluster.readTiles(feature, keys, ...range)).map((list) => list.map((t) => t.partial.sum))).toEqual(keys.map((_, i) => [i + 600 + i]));
  }, 120_000);
});

describe('a stream worker on the real broker with a cluster tile store', () => {
  let provider: KafkaStreamProvider;
  beforeAll(async () => {
    provider = await createKafkaStreamProvider({ brokers: kafkaBrokers(), clientId: 'trellis-stream-cluster-test' });
  });
  afterAll(async () => {
    await provider?.close();
  });

  it('serves exact window values (out of order, late events, 3 partitions)', async () => {
    const topic = await createKafkaTopic('stream-cluster', 3);
    const job = streamJob(topic);
    const base = Date.now() - 30_000;
    const offsets = [0, 0, 0];
    const events: OracleEvent[] = Array.from({ length: 1500 }, (_, i) => {
      const partition = (i * 7) % 3;
      return { partition, offset: offsets[partition]!++, key: KEYS[(i * 13) % (KEYS.length - 1)]!, ts: base + ((i * 7919) % 60_000) - 40_000, value: ((i * 104_729) % 1001) - 500 };
    });
    const producer = await provider.producer();
    // One send keeps each partition's messages in array order, so Kafka assigns the offsets the oracle expects.
    await producer.send({ topic, messages: events.map((e) => ({ partition: e.partition, key: e.key, value: JSON.stringify({ user_id: e.key, amount: e.value, ts: e.ts }) })) });
    const worker = new StreamWorker({ job, provider, tileStoreFor: async () => onCluster, groupId: `g-${uniqueId()}` });
    await worker.start();
    try {
      await waitCaughtUp(provider, worker.groupId, topic);
    } finally {
      await worker.stop();
    }
    const accepted = oracleAccepted(events, job.source.allowedLatenessMs);
    expect(accepted.length).toBeLessThan(events.length);
    expect(worker.stats.dropped).toBe(events.length - accepted.length);
    for (const now of [base + 20_000, base + 25_001, base + 35_000]) await expectOracle(job, onCluster, events, now);
  }, 120_000);
});

describe('tile store from provider config', () => {
  it('builds a cluster tile store from a redis provider with nodes, and refuses url together with nodes at apply', async () => {
    const t = await openTestTrellis('pglite');
    const streams = new StreamRuntime(t.registry, { dataDir: null });
    try {
      const both = { kind: 'provider', name: 'both', type: 'redis', roles: ['online'], config: { url: redisUrl(), nodes: [`127.0.0.1:${cluster.seeds[0]!.port}`] } };
      const refused = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources: [both] } });
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json().error).toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', pointer: '/resources/0/config/nodes' });
      const resources = [{ kind: 'provider', name: 'kv', type: 'redis', roles: ['online'], config: { nodes: cluster.seeds.map((s) => `${s.host}:${s.port}`), keyPrefix: 'cfg:' } }];
      const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
      expect(res.statusCode, res.body).toBe(200);
      const store = await streams.tileStore('kv');
      const feature: TileFeature = { id: `c_1m@v${uniqueId()}`, entity: 'user@default', layout: tileLayout({ fn: 'count', windowMs: 60_000, slideMs: 10_000 }) };
      const keys = KEYS.map((k) => [k]);
      await store.applyEvents(feature, keys.map((key, i) => ({ key, tileStart: 0, partial: eventPartial(null, 1, 0, i, true), partition: 0, offset: i })));
      expect((await store.readTiles(feature, keys, 0, 0)).map((list) => list.length)).toEqual(keys.map(() => 1));
      const stored = await Promise.all(admin.nodes('master').map((node) => node.keys(`cfg:tile:${feature.id}:*`)));
      expect(stored.flat().length).toBe(KEYS.length);
    } finally {
      await streams.close();
      await t.close();
    }
  });
});

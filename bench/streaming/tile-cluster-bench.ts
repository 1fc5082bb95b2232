/**
 * Tile store benchmark, standalone Redis vs Redis Cluster (not a timed test). Start the servers yourself, e.g. a
 * private standalone `redis-server --port 31010 --save '' --appendonly no` and a 3-master cluster (see
 * bench/README.md, "Stream tiles on Redis Cluster"), then:
 *
 *   npx tsc -p tsconfig.json && BENCH_STANDALONE_URL=redis://127.0.0.1:31010 \
 *     BENCH_CLUSTER_NODES=127.0.0.1:31001,127.0.0.1:31002,127.0.0.1:31003 node dist/bench/streaming/tile-cluster-bench.js
 *
 * Applies BENCH_EVENTS (200 000) events of one windowed `sum` feature over BENCH_KEYS (10 000) entity keys in
 * batches of BENCH_BATCH (1000, the worker's default write size) events, each batch awaited, then reads every key's
 * covering tiles in batches of BENCH_READ_KEYS (100). Every round writes a fresh feature into each store in turn
 * (alternating which goes first) and reports events/s, keys read/s, and CPU per event of this process and of the
 * Redis servers of that store (`INFO cpu` summed over its masters). Without BENCH_CLUSTER_NODES only standalone runs
 * (to compare two builds of the store on one server).
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { createRedisTileStore, type RedisTileStore } from '../../adapters/redis/redis-tile-store.js';
import type { TileEvent, TileFeature } from '../../src/spi/tile-store.js';
import { eventPartial, tileLayout, tileStartOf } from '../../src/streaming/tiles.js';

const STANDALONE = process.env.BENCH_STANDALONE_URL ?? 'redis://127.0.0.1:31010';
const NODES = process.env.BENCH_CLUSTER_NODES?.split(',').filter(Boolean);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const KEYS = Number(process.env.BENCH_KEYS ?? 10_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const READ_KEYS = Number(process.env.BENCH_READ_KEYS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BASE = Date.now() - 600_000;

interface Target {
  readonly name: string;
  readonly store: RedisTileStore;
  /** used_cpu_sys + used_cpu_user summed over the target's servers, seconds. */
  redisCpu(): Promise<number>;
}

async function cpuOf(servers: readonly Redis[]): Promise<number> {
  let total = 0;
  for (const server of servers) {
    const info = await server.info('cpu');
    total += Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]);
  }
  return total;
}

function events(layout: TileFeature['layout']): TileEvent[] {
  const out: TileEvent[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const ts = BASE + Math.floor((i / EVENTS) * 300_000);
    const partition = i % 4;
    out.push({ key: [`user_${(i * 7919) % KEYS}`], tileStart: tileStartOf(layout, ts), partial: eventPartial(i % 100, ts, partition, i >> 2), partition, offset: i >> 2 });
  }
  return out;
}

async function measure(target: Target, round: number): Promise<{ write: number; read: number; clientUs: number; redisUs: number }> {
  const feature: TileFeature = { id: `bench_sum_10m@r${round}x${randomBytes(3).toString('hex')}`, entity: 'user@default', layout: tileLayout({ fn: 'sum', windowMs: 600_000, slideMs: 60_000 }) };
  const all = events(feature.layout);
  const redis0 = await target.redisCpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < all.length; i += BATCH) await target.store.applyEvents(feature, all.slice(i, i + BATCH));
  const t1 = performance.now();
  const cpu1 = process.cpuUsage(cpu0);
  const redis1 = await target.redisCpu();
  const keys = Array.from({ length: KEYS }, (_, k) => [`user_${k}`]);
  const from = tileStartOf(feature.layout, BASE + 300_000 - 600_000);
  const to = tileStartOf(feature.layout, BASE + 300_000);
  const r0 = performance.now();
  let tiles = 0;
  for (let i = 0; i < keys.length; i += READ_KEYS) for (const list of await target.store.readTiles(feature, keys.slice(i, i + READ_KEYS), from, to)) tiles += list.length;
  const r1 = performance.now();
  if (tiles === 0) throw new Error('read no tiles');
  await target.store.deleteKeys(feature, keys);
  return {
    write: EVENTS / ((t1 - t0) / 1000),
    read: KEYS / ((r1 - r0) / 1000),
    clientUs: ((cpu1.user + cpu1.system) / EVENTS),
    redisUs: ((redis1 - redis0) * 1e6) / EVENTS,
  };
}

const standaloneAdmin = new Redis(STANDALONE);
const targets: Target[] = [{ name: 'standalone', store: createRedisTileStore({ url: STANDALONE, keyPrefix: 'bench:' }), redisCpu: () => cpuOf([standaloneAdmin]) }];
let clusterAdmin: Cluster | undefined;
if (NODES) {
  clusterAdmin = new Cluster(NODES);
  const admin = clusterAdmin;
  await admin.ping();
  targets.push({ name: `cluster (${admin.nodes('master').length} masters)`, store: createRedisTileStore({ nodes: NODES, keyPrefix: 'bench:' }), redisCpu: () => cpuOf(admin.nodes('master')) });
}
console.log(`events ${EVENTS}, keys ${KEYS}, batch ${BATCH}, read batch ${READ_KEYS}, rounds ${ROUNDS}`);
const results = new Map<string, Awaited<ReturnType<typeof measure>>[]>();
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? targets : [...targets].reverse();
  for (const target of order) {
    const r = await measure(target, round);
    (results.get(target.name) ?? results.set(target.name, []).get(target.name)!).push(r);
    console.log(`round ${round} ${target.name}: write ${r.write.toFixed(0)} events/s, read ${r.read.toFixed(0)} keys/s, CPU/event client ${r.clientUs.toFixed(1)} µs, redis ${r.redisUs.toFixed(1)} µs`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, rs] of results) {
  console.log(`median ${name}: write ${median(rs.map((r) => r.write)).toFixed(0)} events/s, read ${median(rs.map((r) => r.read)).toFixed(0)} keys/s, client ${median(rs.map((r) => r.clientUs)).toFixed(1)} µs/event, redis ${median(rs.map((r) => r.redisUs)).toFixed(1)} µs/event`);
}
await Promise.all(targets.map((t) => t.store.close()));
standaloneAdmin.disconnect();
clusterAdmin?.disconnect();

import { createHash } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { assertOnlineName, encodeEntityKey, onlineUnavailable, type EntityKeyValue } from '../../src/spi/online-store.js';
import {
  TILE_STORE_KIND,
  decodePartial,
  encodePartial,
  tileRetentionMs,
  type StoredTile,
  type TileApplyResult,
  type TileEvent,
  type TileFeature,
  type TileStore,
} from '../../src/spi/tile-store.js';
import { redisHashSlot } from './redis-key-layout.js';
import { REDIS_TILE_SCRIPT } from './redis-tile-script.js';

/** Configuration of {@link createRedisTileStore}. Give `url` (standalone) or `nodes` (Cluster). */
export interface RedisTileStoreOptions {
  /** Standalone server, `redis://[[user]:password@]host:port[/db]` or `rediss://…`. */
  readonly url?: string;
  /** Redis Cluster seed nodes, `host:port` or `{ host, port }`; the store discovers the rest. */
  readonly nodes?: readonly (string | { readonly host: string; readonly port: number })[];
  /** Cluster only: credentials for every node (standalone takes them from `url`). */
  readonly username?: string;
  readonly password?: string;
  /**
   * Prepended to every key (no `{`/`}`). Default `trellis:`. Tiles live under `<prefix>tile:<feature>:{<key>}`,
   * watermarks under `<prefix>wm:<stream>`.
   */
  readonly keyPrefix?: string;
  /** Deadline of reads (readTiles, watermarks), ms. Default 1000. */
  readonly commandTimeoutMs?: number;
  /** Deadline of each write chunk (applyEvents), ms. Default 30 000. */
  readonly writeTimeoutMs?: number;
  /** Entity keys per script call (each key's update is atomic; calls are pipelined). Default 500. */
  readonly writeChunkKeys?: number;
  /** Extra wall-clock life of a key after its last write beyond window + tile + lateness, ms. Default 60 000. */
  readonly ttlSlackMs?: number;
  /** Provider name in error messages. Default `redis`. */
  readonly name?: string;
}

const WATERMARK_SCRIPT = `
for i = 1, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if not current or tonumber(current) < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1`;

const TILE_SHA = createHash('sha1').update(REDIS_TILE_SCRIPT).digest('hex');
const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith('NOSCRIPT');

/**
 * Cluster hash-tag buckets per feature (part of the key layout: changing it orphans stored tiles). 256 keeps a
 * batch to ≤ 256 script calls while a feature's keys still spread over 256 slots.
 */
const TILE_BUCKETS = 256;

/** FNV-1a of the encoded entity key, mod TILE_BUCKETS. */
function tileBucket(encodedKey: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < encodedKey.length; i++) h = Math.imul(h ^ encodedKey.charCodeAt(i), 0x01000193);
  return (h >>> 0) % TILE_BUCKETS;
}

/** Calls answered with these were not run (slot moved, node failing over, script cache empty): safe to re-send. */
const RESEND = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|NOSCRIPT) /;

/** Events of one key per script call (bounded by Lua's unpack limit: 2 fields per event are read at once). */
const MAX_EVENTS_PER_KEY = 1000;
/** Events per script call: a call blocks Redis while it runs, so many keys are cut into several calls. */
const MAX_EVENTS_PER_CALL = 2000;

interface TileCommands {
  trellisApplyTiles(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]>;
  trellisRaiseWatermarks(key: string, ...args: (string | number)[]): Promise<number>;
}

/** The Cluster client surface used with array arguments (ioredis flattens them one level). */
interface ClusterCalls {
  evalsha(sha: string, args: readonly (string | number)[]): Promise<number[]>;
  eval(script: string, args: readonly (string | number)[]): Promise<number[]>;
  hmget(key: string, fields: readonly string[]): Promise<(string | null)[]>;
  unlink(keys: readonly string[]): Promise<number>;
}

/** An explicit Cluster pipeline (all its commands on one node), called with array arguments. */
interface ClusterPipeline {
  evalsha(sha: string, args: readonly (string | number)[]): void;
  hmget(key: string, fields: readonly string[]): void;
  unlink(keys: readonly string[]): void;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/** One script call: its keys (one slot on Cluster), its arguments after the head, and the event indexes in script order. */
interface TileCall {
  readonly keys: string[];
  readonly args: (string | number)[];
  readonly order: number[];
}

/**
 * Tiles on Redis: one hash per (feature, entity key) — `<prefix>tile:<feature>:<encoded key>`, on Cluster
 * `<prefix>tile:<feature>:{<feature>/<bucket>}<encoded key>` — with a field per tile (`t:<start>`, the partial's text
 * form), a field per (tile, partition) holding the highest applied offset (`o:<start>:<partition>`) and `max` / `min`
 * (newest / oldest tile). One Lua script call applies the events of up to `writeChunkKeys` keys (one HMGET and one
 * HSET per key), skipping replays, reporting pre-combined runs that straddle an applied offset, and dropping expired
 * tiles. Standalone: all calls of a batch in one pipeline. Cluster: calls are cut per slot (a script may only touch
 * one) and sent in one pipeline per node. The fencing offsets live in the hash they fence, so every key's update
 * stays atomic and replay-safe whichever call carries it. The key expires `window + tile + lateness + ttlSlackMs`
 * after its last write, which assumes event time follows wall-clock time. Layout and Cluster: README.md ("Stream tiles").
 */
export class RedisTileStore implements TileStore {
  readonly kind = TILE_STORE_KIND;
  readonly adapterId = 'redis';
  readonly #client: (Redis & TileCommands) | (Cluster & TileCommands);
  readonly #writer: (Redis & TileCommands) | (Cluster & TileCommands);
  readonly #cluster: boolean;
  readonly #chunkKeys: number;
  readonly #prefix: string;
  readonly #slackMs: number;
  readonly #name: string;
  readonly #readTimeoutMs: number;
  readonly #writeTimeoutMs: number;
  #closed = false;

  constructor(options: RedisTileStoreOptions) {
    this.#prefix = options.keyPrefix ?? 'trellis:';
    if (/[{}]/.test(this.#prefix)) throw new TypeError('keyPrefix must not contain { or }');
    if ((options.url === undefined) === (options.nodes === undefined)) {
      throw new TypeError('createRedisTileStore needs exactly one of url (standalone) or nodes (Cluster)');
    }
    const isNode = (n: unknown) => typeof n === 'string' || (typeof n === 'object' && n !== null && typeof (n as { host?: unknown }).host === 'string' && Number.isInteger((n as { port?: unknown }).port));
    if (options.nodes !== undefined && (!Array.isArray(options.nodes) || options.nodes.length === 0 || !options.nodes.every(isNode))) {
      throw new TypeError('nodes must be a non-empty array of "host:port" or { host, port }');
    }
    this.#slackMs = nonNegative(options.ttlSlackMs, 60_000, 'ttlSlackMs');
    this.#name = options.name ?? 'redis';
    this.#chunkKeys = positive(options.writeChunkKeys, 500, 'writeChunkKeys');
    this.#readTimeoutMs = positive(options.commandTimeoutMs, 1000, 'commandTimeoutMs');
    this.#writeTimeoutMs = positive(options.writeTimeoutMs, 30_000, 'writeTimeoutMs');
    const nodes = options.nodes?.map((n) => (typeof n === 'string' ? n : { host: n.host, port: n.port }));
    this.#cluster = nodes !== undefined;
    const connect = (commandTimeout: number): (Redis & TileCommands) | (Cluster & TileCommands) => {
      const retryStrategy = (attempt: number) => Math.min(attempt * 50, 500);
      const connection: RedisOptions = { commandTimeout, maxRetriesPerRequest: 1, retryStrategy };
      let client: Redis | Cluster;
      if (nodes === undefined) client = new Redis(options.url as string, connection);
      else {
        // No auto-pipelining: batches go in explicit pipelines per node (see #perNode), single commands alone.
        const clusterOptions: ClusterOptions = {
          clusterRetryStrategy: retryStrategy,
          redisOptions: { ...connection, username: options.username, password: options.password },
        };
        client = new Cluster(nodes, clusterOptions);
      }
      client.on('error', () => {});
      client.defineCommand('trellisApplyTiles', { lua: REDIS_TILE_SCRIPT });
      client.defineCommand('trellisRaiseWatermarks', { numberOfKeys: 1, lua: WATERMARK_SCRIPT });
      return client as (Redis & TileCommands) | (Cluster & TileCommands);
    };
    // Reads fail fast on their own connection; big write pipelines get a long deadline and do not delay reads.
    this.#client = connect(this.#readTimeoutMs);
    this.#writer = connect(this.#writeTimeoutMs);
  }

  /**
   * The tile hash of one (feature, encoded entity key). Cluster: the hash tag `{<feature>/<bucket>}` puts a feature's
   * keys into TILE_BUCKETS slots, so a batch needs at most that many script calls (one per slot).
   */
  #key(feature: string, encodedKey: string): string {
    if (!this.#cluster) return `${this.#prefix}tile:${feature}:${encodedKey}`;
    return `${this.#prefix}tile:${feature}:{${feature}/${tileBucket(encodedKey)}}${encodedKey}`;
  }

  async applyEvents(feature: TileFeature, events: readonly TileEvent[]): Promise<TileApplyResult> {
    this.#assertOpen();
    assertOnlineName(feature.id, '/feature');
    if (events.length === 0) return { applied: 0, skipped: 0 };
    // Events by key, in order.
    const byKey = new Map<string, number[]>();
    for (let i = 0; i < events.length; i++) {
      const key = this.#key(feature.id, encodeEntityKey(events[i]!.key));
      let list = byKey.get(key);
      if (!list) byKey.set(key, (list = []));
      list.push(i);
    }
    const { windowMs, tileMs } = feature.layout;
    const retention = tileRetentionMs(feature.layout);
    const head = [windowMs ?? '', tileMs ?? '', retention === null ? '' : retention + this.#slackMs];
    let results: number[][];
    let calls: TileCall[];
    if (this.#cluster) [calls, results] = await this.#applyCluster(events, byKey, head);
    else {
      calls = this.#cut(events, [byKey]);
      type WritePipeline = { trellisApplyTiles(numberOfKeys: number, ...args: (string | number)[]): void; exec(): Promise<[Error | null, unknown][] | null> };
      const pipeline = this.#writer.pipeline() as unknown as WritePipeline;
      for (const call of calls) pipeline.trellisApplyTiles(call.keys.length, ...call.keys, ...head, ...call.args);
      results = (await this.#exec(pipeline)) as number[][];
    }
    let applied = 0;
    const straddled: { index: number; seen: number }[] = [];
    results.forEach((result, c) => {
      applied += Number(result[0]);
      for (let j = 1; j < result.length; j += 2) straddled.push({ index: calls[c]!.order[Number(result[j])]!, seen: Number(result[j + 1]) });
    });
    return straddled.length > 0 ? { applied, skipped: events.length - applied - straddled.length, straddled } : { applied, skipped: events.length - applied };
  }

  /**
   * Script calls for `groups` of keys (a call never mixes groups): a key's events in order, a key with very many
   * events cut into segments (several calls, in order), calls cut at `writeChunkKeys` keys / MAX_EVENTS_PER_CALL.
   */
  #cut(events: readonly TileEvent[], groups: Iterable<Iterable<[string, readonly number[]]>>): TileCall[] {
    const calls: TileCall[] = [];
    let call: TileCall = { keys: [], args: [], order: [] };
    const flush = () => {
      if (call.keys.length === 0) return;
      calls.push(call);
      call = { keys: [], args: [], order: [] };
    };
    for (const group of groups) {
      for (const [key, indexes] of group) {
        for (let from = 0; from < indexes.length; from += MAX_EVENTS_PER_KEY) {
          const segment = indexes.slice(from, from + MAX_EVENTS_PER_KEY);
          call.keys.push(key);
          call.args.push(segment.length);
          for (const i of segment) {
            const e = events[i]!;
            call.args.push(e.tileStart, e.partition, e.firstOffset ?? e.offset, e.offset, encodePartial(e.partial));
            call.order.push(i);
          }
          if (call.keys.length >= this.#chunkKeys || call.order.length >= MAX_EVENTS_PER_CALL) flush();
        }
      }
      flush();
    }
    return calls;
  }

  /**
   * Cluster: one group per hash slot, all calls at once (one pipeline per node). A key with more than
   * MAX_EVENTS_PER_KEY events needs several calls in order; those go in rounds (round r holds every key's r-th
   * segment), each round sent after the previous one succeeded, so a later segment can never land before an earlier
   * one (its offsets would fence the earlier one out as a replay). Calls of one round touch distinct keys.
   */
  async #applyCluster(events: readonly TileEvent[], byKey: ReadonlyMap<string, readonly number[]>, head: readonly (string | number)[]): Promise<[TileCall[], number[][]]> {
    const rounds: Map<number, [string, number[]][]>[] = [];
    for (const [key, indexes] of byKey) {
      const slot = redisHashSlot(key);
      for (let from = 0, r = 0; from < indexes.length; from += MAX_EVENTS_PER_KEY, r++) {
        const bySlot = rounds[r] ?? (rounds[r] = new Map());
        let group = bySlot.get(slot);
        if (!group) bySlot.set(slot, (group = []));
        group.push([key, indexes.slice(from, from + MAX_EVENTS_PER_KEY)]);
      }
    }
    const calls: TileCall[] = [];
    const results: number[][] = [];
    for (const bySlot of rounds) {
      const round = this.#cut(events, bySlot.values());
      const replies = await this.#run(this.#writeTimeoutMs, () => this.#evalPerNode(round.map((call) => [call.keys.length, ...call.keys, ...head, ...call.args])));
      calls.push(...round);
      results.push(...replies);
    }
    return [calls, results];
  }

  /**
   * Independent script calls (each within one slot; args start with the key count) on a Cluster, one pipeline per
   * node; EVAL after NOSCRIPT.
   */
  #evalPerNode(calls: readonly (string | number)[][]): Promise<number[][]> {
    const conn = this.#writer as unknown as ClusterCalls;
    return this.#perNode(
      this.#writer as Cluster,
      calls.map((args) => args[1] as string),
      (pipeline, i) => pipeline.evalsha(TILE_SHA, calls[i]!),
      (i) => conn.evalsha(TILE_SHA, calls[i]!).catch((error: unknown) => (isNoScript(error) ? conn.eval(REDIS_TILE_SCRIPT, calls[i]!) : Promise.reject(error))),
    );
  }

  /**
   * Cluster: one command per item (`keys[i]` names its slot), sent in one explicit pipeline per node by ioredis's slot
   * map, nodes in parallel. A command answered with a redirection (stale slot map), TRYAGAIN, CLUSTERDOWN or NOSCRIPT
   * was not run; it is re-sent alone through `alone`, which ioredis routes itself, following redirections and
   * refreshing its slot map. (ioredis's own auto-pipelines only retry a pipeline whose errors are all the same, so a
   * stale map would fail a batch spanning several moved slots.)
   */
  async #perNode<T>(cluster: Cluster, keys: readonly string[], add: (pipeline: ClusterPipeline, i: number) => void, alone: (i: number) => Promise<T>): Promise<T[]> {
    const results = new Array<T>(keys.length);
    const byNode = new Map<string, number[]>();
    const single: Promise<void>[] = [];
    keys.forEach((key, i) => {
      const node = cluster.slots[redisHashSlot(key)]?.join(',');
      if (node === undefined) single.push(alone(i).then((r) => void (results[i] = r)));
      else if (byNode.has(node)) byNode.get(node)!.push(i);
      else byNode.set(node, [i]);
    });
    const resend = (i: number) => (error: unknown) => (error instanceof Error && RESEND.test(error.message) ? alone(i) : Promise.reject(error));
    await Promise.all([
      ...single,
      ...[...byNode.values()].map(async (members) => {
        const pipeline = cluster.pipeline() as unknown as ClusterPipeline;
        for (const i of members) add(pipeline, i);
        const replies = await pipeline.exec().catch((error: unknown) => {
          // Refused before sending: ioredis's own node groups disagree with its slot map while it refreshes it.
          if (error instanceof Error && error.message.startsWith('All keys in the pipeline')) return null;
          throw error;
        });
        if (!replies) {
          await Promise.all(members.map(async (i) => void (results[i] = await alone(i))));
          return;
        }
        await Promise.all(
          replies.map(async ([error, value], j) => {
            const i = members[j]!;
            results[i] = error ? await resend(i)(error) : (value as T);
          }),
        );
      }),
    ]);
    return results;
  }

  async readTiles(feature: TileFeature, keys: readonly (readonly EntityKeyValue[])[], fromTile: number, toTile: number): Promise<StoredTile[][]> {
    this.#assertOpen();
    if (keys.length === 0) return [];
    const tileMs = feature.layout.tileMs;
    const starts: number[] = [];
    if (tileMs === null) starts.push(0);
    else for (let s = fromTile; s <= toTile; s += tileMs) starts.push(s);
    const fields = starts.map((s) => `t:${s}`);
    const hashes = keys.map((key) => this.#key(feature.id, encodeEntityKey(key)));
    let results: (string | null)[][];
    if (this.#cluster) {
      // One HMGET per key, one pipeline per node: keys on different nodes are read in parallel.
      const conn = this.#client as unknown as ClusterCalls;
      results = await this.#run(this.#readTimeoutMs, () =>
        this.#perNode(this.#client as Cluster, hashes, (pipeline, i) => pipeline.hmget(hashes[i]!, fields), (i) => conn.hmget(hashes[i]!, fields)),
      );
    } else {
      const pipeline = (this.#client as Redis).pipeline();
      for (const hash of hashes) pipeline.hmget(hash, ...fields);
      results = (await this.#exec(pipeline)) as (string | null)[][];
    }
    return results.map((values) => {
      const out: StoredTile[] = [];
      values.forEach((text, i) => {
        if (text !== null) out.push({ tileStart: starts[i]!, partial: decodePartial(text) });
      });
      return out;
    });
  }

  async readWatermarks(stream: string, partitions: readonly number[]): Promise<(number | null)[]> {
    this.#assertOpen();
    if (partitions.length === 0) return [];
    const values = await this.#run(this.#readTimeoutMs, () => this.#client.hmget(`${this.#prefix}wm:${stream}`, ...partitions.map(String)));
    return values.map((v) => (v === null ? null : Number(v)));
  }

  async writeWatermarks(stream: string, watermarks: readonly { partition: number; watermark: number }[]): Promise<void> {
    this.#assertOpen();
    if (watermarks.length === 0) return;
    const key = `${this.#prefix}wm:${stream}`;
    await this.#run(this.#writeTimeoutMs, () => this.#writer.trellisRaiseWatermarks(key, ...watermarks.flatMap((w) => [w.partition, w.watermark])));
  }

  async deleteKeys(feature: TileFeature, keys: readonly (readonly EntityKeyValue[])[]): Promise<number> {
    this.#assertOpen();
    if (keys.length === 0) return 0;
    const hashes = keys.map((k) => this.#key(feature.id, encodeEntityKey(k)));
    if (!this.#cluster) return this.#run(this.#readTimeoutMs, () => (this.#client as Redis).unlink(...hashes));
    // A multi-key UNLINK must stay within one slot on Cluster.
    const bySlot = new Map<number, string[]>();
    for (const hash of hashes) {
      const slot = redisHashSlot(hash);
      const group = bySlot.get(slot);
      if (group) group.push(hash);
      else bySlot.set(slot, [hash]);
    }
    const groups = [...bySlot.values()];
    const conn = this.#client as unknown as ClusterCalls;
    const counts = await this.#run(this.#readTimeoutMs, () =>
      this.#perNode(this.#client as Cluster, groups.map((g) => g[0]!), (pipeline, g) => pipeline.unlink(groups[g]!), (g) => conn.unlink(groups[g]!)),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async #exec(pipeline: { exec(): Promise<[Error | null, unknown][] | null> }): Promise<unknown[]> {
    const results = await this.#run(0, () => pipeline.exec());
    if (!results) throw onlineUnavailable(this.#name, 'pipeline aborted');
    return results.map(([error, value]) => {
      if (error) throw onlineUnavailable(this.#name, error.message, error);
      return value;
    });
  }

  /**
   * Runs `call`; any failure becomes ONLINE_UNAVAILABLE. Standalone commands time out per connection
   * (`commandTimeout`); a Cluster client queues commands while it looks for a node, so Cluster calls also get an
   * overall deadline of `timeoutMs`.
   */
  async #run<T>(timeoutMs: number, call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!this.#cluster || timeoutMs <= 0) return await call();
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      return await Promise.race([call(), deadline]);
    } catch (error) {
      throw onlineUnavailable(this.#name, (error as Error).message, error);
    } finally {
      clearTimeout(timer);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw onlineUnavailable(this.#name, 'the tile store is closed');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#client.quit().catch(() => this.#client.disconnect()), this.#writer.quit().catch(() => this.#writer.disconnect())]);
  }
}

/** Opens a Redis tile store (see {@link RedisTileStoreOptions}); the connection opens in the background. */
export function createRedisTileStore(options: RedisTileStoreOptions): RedisTileStore {
  return new RedisTileStore(options);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) throw new TypeError(`${name} must be a positive number, got ${String(value)}`);
  return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value >= 0)) throw new TypeError(`${name} must be a number ≥ 0, got ${String(value)}`);
  return value;
}

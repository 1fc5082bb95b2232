import type { EntityKeyValue } from '../spi/online-store.js';
import type { TileEvent, TileStore } from '../spi/tile-store.js';
import { AvroWireDecoder, schemaRegistryOf } from './avro-schema-registry.js';
import { parseStreamMessage, type ParsedStreamEvent } from './stream-event-parser.js';
import type { StreamFeatureSpec, StreamJob } from './stream-job.js';
import { StreamMetrics } from './stream-metrics.js';
import type { StreamBatchContext, StreamConsumer, StreamProducerRecord, StreamProvider } from '../spi/stream-provider.js';
import { applyCombined } from './tile-combiner.js';
import { eventPartial, isLate, tileStartOf, type StreamValue } from './tiles.js';

/** Options of {@link StreamWorker}. */
export interface StreamWorkerOptions {
  readonly job: StreamJob;
  readonly provider: StreamProvider;
  /** The tile store of each feature's online provider. */
  readonly tileStoreFor: (onlineProvider: string) => Promise<TileStore>;
  /** Consumer group; every replica of one job uses the same. Default `trellis-stream.<source name>.<variant>`. */
  readonly groupId?: string;
  /** Start a new group at the earliest offset (default true: a new feature sees the retained history). */
  readonly fromBeginning?: boolean;
  /** Messages per tile write + offset commit (a fetched batch is cut into such chunks). Default 1000. */
  readonly maxMessagesPerWrite?: number;
  /** Partitions processed at once by this member. Default 4. */
  readonly partitionsConsumedConcurrently?: number;
  readonly metrics?: StreamMetrics;
  /** Called after each batch is written and committed (tests, benchmarks). */
  readonly onBatch?: (info: StreamBatchInfo) => void;
  /** Called when the consumer crashes for good (kafkajs gave up restarting it). */
  readonly onCrash?: (error: Error) => void;
  /**
   * Called when a chunk cannot be read yet because the schema registry of an Avro source gave no answer (down,
   * refused credentials): the chunk is retried with backoff, neither dead-lettered nor committed.
   */
  readonly onError?: (error: Error) => void;
}

export interface StreamBatchInfo {
  readonly partition: number;
  /** Next offset to read (committed). */
  readonly nextOffset: string;
  readonly messages: number;
  /** Tile updates applied (events are pre-combined per feature, key and tile within a chunk). */
  readonly applied: number;
  /** Tile updates skipped as replays. */
  readonly skipped: number;
  readonly dropped: number;
  readonly deadLetters: number;
  /** Event times of the applied events and when their tiles became visible (epoch ms): freshness = visibleAt − ts. */
  readonly eventTimes: readonly number[];
  readonly visibleAt: number;
}

/** Counters of one worker since start. */
export interface StreamWorkerStats {
  messages: number;
  applied: number;
  skipped: number;
  late: number;
  dropped: number;
  deadLetters: number;
  batches: number;
  /** Failed schema registry requests (Avro sources); each one was retried. */
  registryErrors: number;
}

/** Header names of dead-letter records (`<topic>.dlq`); the value is the original message, unchanged. */
export const DLQ_HEADERS = {
  reason: 'trellis-dlq-reason',
  pointer: 'trellis-dlq-pointer',
  topic: 'trellis-source-topic',
  partition: 'trellis-source-partition',
  offset: 'trellis-source-offset',
  source: 'trellis-source',
} as const;

/** The dead-letter topic of a source topic. */
export const deadLetterTopic = (topic: string): string => `${topic}.dlq`;

/** The default consumer group of a source. */
export const defaultGroupId = (sourceId: string): string => `trellis-stream.${sourceId.replace('@', '.')}`;

/**
 * The key and value of `feature` in a parsed event, or null when a key part is missing.
 * Shared by the worker and the push API's direct writes.
 */
export function featureTileEvent(feature: StreamFeatureSpec, event: ParsedStreamEvent, partition: number, offset: number): TileEvent | null {
  const key: EntityKeyValue[] = [];
  for (const field of feature.keyFields) {
    const v = event.values[field];
    if (v === null || v === undefined || Array.isArray(v)) return null;
    key.push(v as EntityKeyValue);
  }
  const raw = feature.valueField === null ? null : (event.values[feature.valueField] ?? null);
  const value = (Array.isArray(raw) ? [...raw] : raw) as StreamValue;
  return {
    key,
    tileStart: tileStartOf(feature.layout, event.eventTs),
    partial: eventPartial(value, event.eventTs, partition, offset, feature.valueField === null),
    partition,
    offset,
  };
}

/**
 * One member of a stream job's consumer group. Per batch (one partition): parse each message with the source's
 * fields (malformed → a dead-letter record on `<topic>.dlq` with the reason in its headers, and go on); apply the
 * late rule against the partition's watermark; group the tile events by feature; write them (idempotent per
 * (partition, offset)); save the watermark; only then resolve and commit the batch's offsets. A crash anywhere
 * replays from the last commit and the replay changes nothing.
 */
export class StreamWorker {
  readonly groupId: string;
  readonly stats: StreamWorkerStats = { messages: 0, applied: 0, skipped: 0, late: 0, dropped: 0, deadLetters: 0, batches: 0, registryErrors: 0 };
  readonly #options: StreamWorkerOptions;
  readonly #metrics: StreamMetrics;
  readonly #watermarks = new Map<number, number | null>();
  readonly #required: ReadonlySet<string>;
  #stores = new Map<string, TileStore>();
  #consumer: StreamConsumer | undefined;
  #stopped = false;
  /** Avro sources: reads wire-format values with schemas from the provider's schema registry. */
  #decoder: AvroWireDecoder | undefined;

  constructor(options: StreamWorkerOptions) {
    if (options.job.source.topic === null) throw new TypeError(`source ${options.job.source.id} has no topic: nothing to consume (pushes write its tiles directly)`);
    this.#options = options;
    this.groupId = options.groupId ?? defaultGroupId(options.job.source.id);
    this.#metrics = options.metrics ?? new StreamMetrics();
    this.#required = new Set(options.job.features.flatMap((f) => f.keyFields));
  }

  get #topic(): string {
    return this.#options.job.source.topic as string;
  }

  /** Watermark stream id: per group and topic. */
  get #stream(): string {
    return `${this.groupId}:${this.#topic}`;
  }

  /** Connects, joins the group and starts consuming; resolves once the consumer runs. */
  async start(): Promise<void> {
    const { job, provider } = this.#options;
    if (job.source.format === 'avro') this.#decoder = new AvroWireDecoder(schemaRegistryOf(provider, job.source));
    for (const feature of job.features) {
      if (!this.#stores.has(feature.onlineProvider)) this.#stores.set(feature.onlineProvider, await this.#options.tileStoreFor(feature.onlineProvider));
    }
    await provider.ensureTopic(deadLetterTopic(this.#topic));
    const consumer = provider.consumer(this.groupId);
    this.#consumer = consumer;
    // A new assignment may bring partitions another member advanced: reload their watermarks.
    consumer.on('consumer.group_join', () => this.#watermarks.clear());
    consumer.on('consumer.crash', (event) => {
      const payload = event.payload as { error?: Error; restart?: boolean };
      if (payload.restart === false && !this.#stopped) this.#options.onCrash?.(payload.error ?? new Error('stream consumer crashed'));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [this.#topic], fromBeginning: this.#options.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.#options.partitionsConsumedConcurrently ?? 4,
      eachBatch: (context) => this.#eachBatch(context),
    });
  }

  async #eachBatch(context: StreamBatchContext): Promise<void> {
    const size = this.#options.maxMessagesPerWrite ?? 1000;
    const all = context.batch.messages;
    // Bounded work per write + commit: progress is saved and the member heartbeats at least every `size` messages.
    for (let from = 0; from < all.length; from += size) {
      if (!context.isRunning() || context.isStale() || this.#stopped) return;
      await this.#processChunk(context, all.slice(from, from + size));
    }
  }

  async #processChunk(context: StreamBatchContext, messages: StreamBatchContext['batch']['messages']): Promise<void> {
    const { batch } = context;
    if (messages.length === 0) return;
    if (this.#decoder && !(await this.#fetchSchemas(context, messages))) return;
    const { job } = this.#options;
    const source = job.source.id;
    const partition = batch.partition;
    let watermark = this.#watermarks.get(partition);
    if (watermark === undefined) {
      // Every feature's store holds the same watermark; the first store is authoritative enough (raised by all).
      const stores = [...this.#stores.values()];
      const marks = await Promise.all(stores.map((s) => s.readWatermarks(this.#stream, [partition])));
      watermark = marks.reduce<number | null>((acc, m) => (m[0] == null ? acc : acc === null ? m[0] : Math.max(acc, m[0])), null);
    }
    const perFeature = new Map<StreamFeatureSpec, TileEvent[]>(job.features.map((f) => [f, []]));
    const deadLetters: StreamProducerRecord[] = [];
    const eventTimes: number[] = [];
    let dropped = 0;
    for (const message of messages) {
      const offset = Number(message.offset);
      const parsed = parseStreamMessage(job.source, message.value, this.#required, this.#decoder);
      if (!parsed.ok) {
        deadLetters.push({
          key: message.key,
          value: message.value,
          headers: {
            [DLQ_HEADERS.reason]: parsed.problem.reason,
            [DLQ_HEADERS.pointer]: parsed.problem.pointer,
            [DLQ_HEADERS.topic]: batch.topic,
            [DLQ_HEADERS.partition]: String(partition),
            [DLQ_HEADERS.offset]: message.offset,
            [DLQ_HEADERS.source]: source,
          },
        });
        continue;
      }
      const ts = parsed.event.eventTs;
      if (isLate({ allowedLatenessMs: job.source.allowedLatenessMs }, ts, watermark)) {
        dropped++;
        continue;
      }
      if (watermark !== null && ts < watermark) {
        this.stats.late++;
        this.#metrics.late.inc({ source });
      }
      watermark = watermark === null ? ts : Math.max(watermark, ts);
      eventTimes.push(ts);
      for (const [feature, events] of perFeature) {
        const event = featureTileEvent(feature, parsed.event, partition, offset);
        if (event) events.push(event);
      }
    }
    if (deadLetters.length > 0) {
      const producer = await this.#options.provider.producer();
      await producer.send({ topic: deadLetterTopic(this.#topic), messages: deadLetters });
    }
    let applied = 0;
    let skipped = 0;
    // One tile update per (feature, key, tile) for the whole chunk; all features' writes go out together.
    await Promise.all(
      [...perFeature].map(async ([feature, events]) => {
        const result = await applyCombined(this.#stores.get(feature.onlineProvider)!, feature, events);
        applied += result.applied;
        skipped += result.skipped;
      }),
    );
    if (watermark !== null) {
      await Promise.all([...this.#stores.values()].map((s) => s.writeWatermarks(this.#stream, [{ partition, watermark: watermark as number }])));
    }
    this.#watermarks.set(partition, watermark);
    const visibleAt = Date.now();
    const last = messages[messages.length - 1]!;
    const nextOffset = String(Number(last.offset) + 1);
    context.resolveOffset(last.offset);
    await context.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition, offset: nextOffset }] }] });
    await context.heartbeat();

    for (const ts of eventTimes) this.#metrics.freshness.observe({ source }, Math.max(0, visibleAt - ts) / 1000);
    this.#metrics.events.inc({ source }, messages.length);
    this.#metrics.dropped.inc({ source }, dropped);
    this.#metrics.deadLetters.inc({ source }, deadLetters.length);
    this.#metrics.replayed.inc({ source }, skipped);
    this.#metrics.lag.set({ source, partition: String(partition) }, Math.max(0, Number(batch.highWatermark) - Number(nextOffset)));
    this.stats.messages += messages.length;
    this.stats.applied += applied;
    this.stats.skipped += skipped;
    this.stats.dropped += dropped;
    this.stats.deadLetters += deadLetters.length;
    this.stats.batches++;
    this.#options.onBatch?.({ partition, nextOffset, messages: messages.length, applied, skipped, dropped, deadLetters: deadLetters.length, eventTimes, visibleAt });
  }

  /**
   * Fetches the schemas a chunk's messages name. While the registry gives no answer the messages are not at fault:
   * wait (heartbeating, backoff up to 5 s) and ask again. False when the consumer stopped or lost the partition meanwhile.
   */
  async #fetchSchemas(context: StreamBatchContext, messages: StreamBatchContext['batch']['messages']): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#decoder!.prepare(messages.map((m) => m.value));
        return true;
      } catch (error) {
        this.stats.registryErrors++;
        this.#options.onError?.(error as Error);
      }
      const stillOurs = () => context.isRunning() && !context.isStale() && !this.#stopped;
      if (!stillOurs()) return false;
      await context.heartbeat().catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)));
      if (!stillOurs()) return false;
    }
  }

  /** Leaves the group (its partitions move to the other members) and disconnects. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#consumer?.disconnect().catch(() => {});
  }
}

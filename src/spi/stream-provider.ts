/**
 * The stream provider role: what a stream adapter (Kafka) hands the workers and the push API. A small structural
 * subset of a Kafka client — no vendor SDK types — that kafkajs objects satisfy as they are: partitions, offsets
 * committed per consumer group, at-least-once delivery (the workers make the effect exactly-once).
 */

/** The `kind` tag of every stream provider. */
export const STREAM_PROVIDER_KIND = 'trellis.stream-provider';

export interface StreamMessageHeaders {
  [key: string]: Buffer | string | (Buffer | string)[] | undefined;
}

export interface StreamMessage {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Broker / producer timestamp, epoch ms as text. */
  readonly timestamp: string;
  readonly headers?: StreamMessageHeaders;
}

export interface StreamBatch {
  readonly topic: string;
  readonly partition: number;
  readonly highWatermark: string;
  readonly messages: StreamMessage[];
}

export interface StreamBatchContext {
  readonly batch: StreamBatch;
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  /** With explicit offsets (the next offset to read per partition): commits them now. */
  commitOffsetsIfNecessary(offsets?: { topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface StreamConsumer {
  connect(): Promise<void>;
  subscribe(subscription: { topics: string[]; fromBeginning?: boolean }): Promise<void>;
  run(config: {
    autoCommit: boolean;
    eachBatchAutoResolve: boolean;
    partitionsConsumedConcurrently?: number;
    eachBatch: (context: StreamBatchContext) => Promise<void>;
  }): Promise<void>;
  disconnect(): Promise<void>;
  /** Group membership events; `consumer.group_join` carries the assignment `{ payload: { memberAssignment } }`. */
  on(event: 'consumer.group_join' | 'consumer.crash' | 'consumer.rebalancing', listener: (event: { payload: unknown }) => void): () => void;
}

export interface StreamProducerRecord {
  readonly key?: string | Buffer | null;
  readonly value: string | Buffer | null;
  readonly partition?: number;
  readonly headers?: Record<string, string | Buffer>;
  /** Epoch ms as text. */
  readonly timestamp?: string;
}

export interface StreamProducer {
  connect(): Promise<void>;
  send(record: { topic: string; messages: StreamProducerRecord[]; acks?: number }): Promise<unknown>;
  disconnect(): Promise<void>;
}

export interface StreamConsumerOptions {
  /** Upper bound of a fetch wait, ms (kafkajs: maxWaitTimeInMs). Default 250 (fast shutdown and freshness). */
  readonly maxWaitTimeMs?: number;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
}

/** A stream broker connection: consumers per group, one shared producer, topic administration. */
export interface StreamProvider {
  readonly kind: typeof STREAM_PROVIDER_KIND;
  readonly adapterId: string;
  /** A new (unconnected) consumer in `groupId`. */
  consumer(groupId: string, options?: StreamConsumerOptions): StreamConsumer;
  /** The shared, connected producer (idempotent, acks all). */
  producer(): Promise<StreamProducer>;
  /** Creates the topic when missing (partitions default 1). Resolves once it has leaders. */
  ensureTopic(topic: string, options?: { partitions?: number }): Promise<void>;
  /** Partition count of each topic (for the lag metric and tests). */
  endOffsets(topic: string): Promise<{ partition: number; offset: string }[]>;
  /** Committed offsets of `groupId` on `topic` (`-1` when none). */
  committedOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]>;
  /** Disconnects the producer and admin client (consumers are disconnected by their owners); idempotent. Every other call rejects afterwards. */
  close(): Promise<void>;
}

/** True for any object tagged as a stream provider. */
export function isStreamProvider(value: unknown): value is StreamProvider {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === STREAM_PROVIDER_KIND;
}

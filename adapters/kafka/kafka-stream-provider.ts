import kafkajs from 'kafkajs';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { STREAM_PROVIDER_KIND, type StreamConsumer, type StreamConsumerOptions, type StreamProducer, type StreamProvider } from '../../src/streaming/stream-provider.js';
import { parseKafkaConfig, type KafkaProviderConfig } from './kafka-config.js';

const logLevels = { nothing: kafkajs.logLevel.NOTHING, error: kafkajs.logLevel.ERROR, warn: kafkajs.logLevel.WARN, info: kafkajs.logLevel.INFO, debug: kafkajs.logLevel.DEBUG } as const;

/**
 * The kafka stream provider (kafkajs): a factory of consumers (one per group member), one shared idempotent
 * producer for the push API and dead letters, and an admin client created on demand. Log level: KAFKAJS_LOG_LEVEL
 * (default error).
 */
export class KafkaStreamProvider implements StreamProvider {
  readonly kind = STREAM_PROVIDER_KIND;
  readonly adapterId = 'kafka';
  readonly config: KafkaProviderConfig;
  readonly #kafka: Kafka;
  #producer: Promise<Producer> | undefined;
  #admin: Promise<Admin> | undefined;
  #closed = false;

  constructor(config: KafkaProviderConfig) {
    this.config = config;
    const level = (process.env.KAFKAJS_LOG_LEVEL ?? 'error').toLowerCase() as keyof typeof logLevels;
    this.#kafka = new kafkajs.Kafka({
      clientId: config.clientId,
      brokers: [...config.brokers],
      connectionTimeout: config.connectionTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      logLevel: logLevels[level] ?? kafkajs.logLevel.ERROR,
      ...(config.ssl !== undefined ? { ssl: config.ssl as boolean } : {}),
      ...(config.sasl !== undefined ? { sasl: { ...config.sasl } as kafkajs.SASLOptions } : {}),
    });
  }

  consumer(groupId: string, options: StreamConsumerOptions = {}): StreamConsumer {
    return this.#kafka.consumer({
      groupId,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 250,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 1000,
      rebalanceTimeout: 20_000,
      allowAutoTopicCreation: false,
    }) as unknown as StreamConsumer;
  }

  producer(): Promise<StreamProducer> {
    if (this.#closed) return Promise.reject(new Error('the kafka provider is closed'));
    this.#producer ??= (async () => {
      const producer = this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
      return producer;
    })();
    this.#producer.catch(() => (this.#producer = undefined));
    return this.#producer as unknown as Promise<StreamProducer>;
  }

  #adminClient(): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin();
      await admin.connect();
      return admin;
    })();
    this.#admin.catch(() => (this.#admin = undefined));
    return this.#admin;
  }

  async ensureTopic(topic: string, options: { partitions?: number } = {}): Promise<void> {
    const admin = await this.#adminClient();
    const existing = await admin.listTopics();
    if (existing.includes(topic)) return;
    await admin.createTopics({ topics: [{ topic, numPartitions: options.partitions ?? 1 }], waitForLeaders: true }).catch((error: Error) => {
      if (!/already exists/i.test(error.message)) throw error;
    });
  }

  async endOffsets(topic: string): Promise<{ partition: number; offset: string }[]> {
    const admin = await this.#adminClient();
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, offset: o.high })).sort((a, b) => a.partition - b.partition);
  }

  async committedOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]> {
    const admin = await this.#adminClient();
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (entry?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const producer = this.#producer;
    const admin = this.#admin;
    await Promise.all([producer?.then((p) => p.disconnect()).catch(() => {}), admin?.then((a) => a.disconnect()).catch(() => {})]);
  }
}

/** Builds a kafka stream provider from a resolved provider config (see kafka-config.ts). */
export async function createKafkaStreamProvider(config: Readonly<Record<string, unknown>>): Promise<KafkaStreamProvider> {
  return new KafkaStreamProvider(parseKafkaConfig(config));
}

import kafkajs from 'kafkajs';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { STREAM_PROVIDER_KIND, type StreamConsumer, type StreamConsumerOptions, type StreamProducer, type StreamProvider } from '../../src/spi/stream-provider.js';
import { parseKafkaConfig, type KafkaProviderConfig } from './kafka-config.js';
import { checkKafkaTls } from './kafka-tls-check.js';

const logLevels = { nothing: kafkajs.logLevel.NOTHING, error: kafkajs.logLevel.ERROR, warn: kafkajs.logLevel.WARN, info: kafkajs.logLevel.INFO, debug: kafkajs.logLevel.DEBUG } as const;

/**
 * What the user should change, appended to a connection error whose kafkajs message does not say it: a failed
 * SASL login, or a broker closing the connection of a client that speaks neither TLS nor SASL to it.
 */
function explain(error: unknown, config: KafkaProviderConfig): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  let hint: string | undefined;
  if (error.name === 'KafkaJSSASLAuthenticationError') hint = 'check sasl.username, sasl.password and sasl.mechanism against the credentials the broker has';
  else if (/closed connection/i.test(error.message) && (config.ssl === undefined || config.sasl === undefined)) {
    hint = `the broker closed the connection: its listener may require ${[config.ssl === undefined ? 'TLS (ssl)' : '', config.sasl === undefined ? 'SASL (sasl)' : ''].filter(Boolean).join(' or ')}`;
  }
  return hint === undefined ? error : new Error(`${error.message} (${hint})`, { cause: error });
}

/**
 * The kafka stream provider (kafkajs): a factory of consumers (one per group member), one shared idempotent
 * producer for the push API and dead letters, and an admin client created on demand. Every connect first checks the
 * TLS handshake once (see checkKafkaTls), so an untrusted certificate fails at once with its reason. Log level:
 * KAFKAJS_LOG_LEVEL (default error).
 */
export class KafkaStreamProvider implements StreamProvider {
  readonly kind = STREAM_PROVIDER_KIND;
  readonly adapterId = 'kafka';
  readonly config: KafkaProviderConfig;
  readonly #kafka: Kafka;
  #producer: Promise<Producer> | undefined;
  #admin: Promise<Admin> | undefined;
  #tlsChecked: Promise<void> | undefined;
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

  /** Runs `connect` after the TLS check; errors say what to change in the config. */
  async #connect(connect: () => Promise<void>): Promise<void> {
    this.#tlsChecked ??= checkKafkaTls(this.config);
    this.#tlsChecked.catch(() => (this.#tlsChecked = undefined));
    try {
      await this.#tlsChecked;
      await connect();
    } catch (error) {
      throw explain(error, this.config);
    }
  }

  consumer(groupId: string, options: StreamConsumerOptions = {}): StreamConsumer {
    const consumer = this.#kafka.consumer({
      groupId,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 250,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 1000,
      rebalanceTimeout: 20_000,
      allowAutoTopicCreation: false,
    });
    const connect = consumer.connect.bind(consumer);
    consumer.connect = () => this.#connect(connect);
    return consumer as unknown as StreamConsumer;
  }

  producer(): Promise<StreamProducer> {
    if (this.#closed) return Promise.reject(new Error('the kafka provider is closed'));
    this.#producer ??= (async () => {
      const producer = this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await this.#connect(() => producer.connect());
      return producer;
    })();
    this.#producer.catch(() => (this.#producer = undefined));
    return this.#producer as unknown as Promise<StreamProducer>;
  }

  #adminClient(): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin();
      await this.#connect(() => admin.connect());
      return admin;
    })();
    this.#admin.catch(() => (this.#admin = undefined));
    return this.#admin;
  }

  /** Runs `fn` with the admin client; errors say what to change in the config. */
  async #withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the kafka provider is closed');
    const admin = await this.#adminClient();
    try {
      return await fn(admin);
    } catch (error) {
      throw explain(error, this.config);
    }
  }

  ensureTopic(topic: string, options: { partitions?: number } = {}): Promise<void> {
    return this.#withAdmin(async (admin) => {
      const existing = await admin.listTopics();
      if (existing.includes(topic)) return;
      await admin.createTopics({ topics: [{ topic, numPartitions: options.partitions ?? 1 }], waitForLeaders: true }).catch((error: Error) => {
        if (!/already exists/i.test(error.message)) throw error;
      });
    });
  }

  endOffsets(topic: string): Promise<{ partition: number; offset: string }[]> {
    return this.#withAdmin(async (admin) => {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, offset: o.high })).sort((a, b) => a.partition - b.partition);
    });
  }

  committedOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]> {
    return this.#withAdmin(async (admin) => {
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return (entry?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
    });
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

/**
 * The shared conformance suite for stream providers: holds a provider to what the stream workers and the push API
 * rely on — topics with partitions, produce to explicit partitions, consumer groups that read from the beginning,
 * explicit offset commits with auto-commit off, resume after the committed offsets, partitions split between the
 * members of a group, and the end / committed offsets of the lag metric. The built-in kafka provider runs it; a
 * platform team proves a plugin:
 *
 * @example
 * ```ts
 * // test/conformance/stream-my-broker.test.ts
 * import { runStreamProviderConformance } from '../../src/spi/testkit/stream-provider-conformance.js';
 * import { createMyBrokerStreamProvider } from '../../adapters/my-broker/index.js';
 *
 * runStreamProviderConformance('my-broker', () => createMyBrokerStreamProvider({ url: process.env.MY_BROKER_URL! }), {
 *   cleanup: async ({ topics }) => deleteMyBrokerTopics(topics),
 * });
 * ```
 *
 * The factory returns a new provider connected to a live broker. Every test makes its own topics
 * (`<topicPrefix>-…`, unique names) and consumer groups; the suite disconnects every consumer and closes every
 * provider it opened after each test, and hands the topics and groups it made to `options.cleanup` at the end.
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  STREAM_PROVIDER_KIND,
  isStreamProvider,
  type StreamConsumer,
  type StreamMessage,
  type StreamMessageHeaders,
  type StreamProducerRecord,
  type StreamProvider,
} from '../stream-provider.js';

/** Opens a new provider on the broker under test. */
export type StreamProviderFactory = () => Promise<StreamProvider>;

export interface StreamProviderConformanceOptions {
  /** Prefix of the topics and consumer groups the suite creates. Default `trellis-conformance`. */
  readonly topicPrefix?: string;
  /** Per test, ms (the property test gets this per run). Waits for messages, commits and assignments give up at half of it. Default 120000. */
  readonly timeoutMs?: number;
  /** Runs of the property test (each one makes a topic and a consumer group). Default 5. */
  readonly numRuns?: number;
  /** Removes what the suite made (called once, after the last test). */
  readonly cleanup?: (created: { readonly topics: readonly string[]; readonly groups: readonly string[] }) => Promise<void>;
}

type Bytes = string | Buffer;

/** A message as sent and as received, comparable: bytes as hex, headers as name → hex values. */
interface MessageView {
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string[]>;
  readonly timestamp: string;
}

/** A record the suite sends, always to an explicit partition with an explicit timestamp. */
interface SentRecord extends StreamProducerRecord {
  readonly partition: number;
  readonly timestamp: string;
}

const hex = (bytes: Bytes | null | undefined): string | null => (bytes === null || bytes === undefined ? null : (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes).toString('hex'));

function headerView(headers: StreamMessageHeaders | undefined): Record<string, string[]> {
  const view: Record<string, string[]> = {};
  for (const name of Object.keys(headers ?? {}).sort()) {
    const value = headers![name];
    if (value === undefined) continue;
    view[name] = (Array.isArray(value) ? value : [value]).map((v) => hex(v)!);
  }
  return view;
}

const sentView = (record: SentRecord): MessageView => ({ key: hex(record.key), value: hex(record.value), headers: headerView(record.headers), timestamp: record.timestamp });
const receivedView = (message: StreamMessage): MessageView => ({ key: hex(message.key), value: hex(message.value), headers: headerView(message.headers), timestamp: message.timestamp });

/** Partition → views of the records sent to it, in send order. */
function byPartition(records: readonly SentRecord[]): Map<number, MessageView[]> {
  const out = new Map<number, MessageView[]>();
  for (const record of records) out.set(record.partition, [...(out.get(record.partition) ?? []), sentView(record)]);
  return out;
}

const countIn = (sent: readonly SentRecord[], partition: number): number => sent.filter((r) => r.partition === partition).length;
const range = (from: number, count: number): string[] => Array.from({ length: count }, (_, i) => String(from + i));
const partitionsOf = (count: number): number[] => Array.from({ length: count }, (_, p) => p);

/** One consumer group member as the stream worker drives it, with what it saw. */
interface Member {
  readonly consumer: StreamConsumer;
  /** Partition → messages in arrival order. */
  readonly received: Map<number, StreamMessage[]>;
  /** Partition → the last next-offset this member committed. */
  readonly committed: Map<number, string>;
  /** Batches that broke the batch contract (wrong topic, high watermark not past the batch). */
  readonly badBatches: string[];
  /** The partitions of the topic in the latest `consumer.group_join` assignment. */
  assignment: number[] | undefined;
  /** `consumer.crash` payloads. */
  readonly crashes: unknown[];
}

const receivedCount = (members: readonly Member[]): number => members.reduce((n, m) => n + [...m.received.values()].reduce((k, list) => k + list.length, 0), 0);

/** Polls `probe` until `ok` holds; fails with the last value after `timeoutMs`. */
async function until<T>(what: string, probe: () => T | Promise<T>, ok: (value: T) => boolean, timeoutMs: number, members: readonly Member[] = []): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const crashed = members.flatMap((m) => m.crashes);
    if (crashed.length > 0) throw new Error(`a consumer crashed while waiting for ${what}: ${crashed.map((c) => String((c as { error?: unknown }).error ?? c)).join('; ')}`);
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let nameSeq = 0;

/** Registers the stream provider conformance suite (call it at the top level of a test file). */
export function runStreamProviderConformance(name: string, factory: StreamProviderFactory, options: StreamProviderConformanceOptions = {}): void {
  const prefix = options.topicPrefix ?? 'trellis-conformance';
  const timeoutMs = options.timeoutMs ?? 120_000;
  const waitMs = Math.max(1000, Math.floor(timeoutMs / 2));
  const numRuns = options.numRuns ?? 5;

  describe(`stream provider conformance: ${name}`, () => {
    const providers: StreamProvider[] = [];
    const consumers: StreamConsumer[] = [];
    const topics: string[] = [];
    const groups: string[] = [];

    const uniqueName = (kind: string): string => `${prefix}-${kind}-${Date.now().toString(36)}${(nameSeq++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const open = async (): Promise<StreamProvider> => {
      const provider = await factory();
      providers.push(provider);
      return provider;
    };
    const freshTopic = async (provider: StreamProvider, partitions: number): Promise<string> => {
      const topic = uniqueName('t');
      topics.push(topic);
      await provider.ensureTopic(topic, { partitions });
      return topic;
    };
    const freshGroup = (): string => {
      const group = uniqueName('g');
      groups.push(group);
      return group;
    };
    const send = async (provider: StreamProvider, topic: string, messages: readonly StreamProducerRecord[]): Promise<void> => {
      const producer = await provider.producer();
      await producer.send({ topic, messages: [...messages] });
    };
    /** `count` records to `partition` with distinct keys, values, a header and timestamps (`tag` tells sends apart). */
    const records = (partition: number, count: number, tag: string): SentRecord[] =>
      range(0, count).map((i) => ({ partition, key: `${tag}-k${i}`, value: `${tag}-v${i}-p${partition}`, headers: { tag, seq: i }, timestamp: String(Date.now() - 1000 + Number(i)) }));

    /**
     * Starts a member of `groupId` on `topic` from the beginning, driven as the stream worker drives its consumer:
     * auto-commit off, no auto-resolve; per batch it records the messages, resolves the last offset and (when
     * `commit`) commits the next offset explicitly, then heartbeats.
     */
    const join = async (provider: StreamProvider, topic: string, groupId: string, commit: boolean): Promise<Member> => {
      const consumer = provider.consumer(groupId);
      consumers.push(consumer);
      const member: Member = { consumer, received: new Map(), committed: new Map(), badBatches: [], assignment: undefined, crashes: [] };
      consumer.on('consumer.group_join', (event) => {
        const assignment = (event.payload as { memberAssignment?: Record<string, number[]> } | undefined)?.memberAssignment;
        member.assignment = [...(assignment?.[topic] ?? [])].sort((a, b) => a - b);
      });
      consumer.on('consumer.crash', (event) => member.crashes.push(event.payload));
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 2,
        eachBatch: async (context) => {
          const { batch } = context;
          if (batch.messages.length === 0 || !context.isRunning() || context.isStale()) return;
          const last = batch.messages[batch.messages.length - 1]!;
          const next = String(Number(last.offset) + 1);
          if (batch.topic !== topic || Number(batch.highWatermark) < Number(next)) member.badBatches.push(`${batch.topic}/${batch.partition}: last ${last.offset}, high watermark ${batch.highWatermark}`);
          member.received.set(batch.partition, [...(member.received.get(batch.partition) ?? []), ...batch.messages]);
          context.resolveOffset(last.offset);
          if (commit) {
            await context.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
            member.committed.set(batch.partition, next);
          }
          await context.heartbeat();
        },
      });
      return member;
    };
    const waitForMessages = (members: readonly Member[], total: number): Promise<number> =>
      until(`${total} messages`, () => receivedCount(members), (n) => n >= total, waitMs, members);
    /** Asserts the members together got exactly `expected` (per partition, offsets from `firstOffset(p)`, in order). */
    const expectReceived = (members: readonly Member[], expected: Map<number, MessageView[]>, firstOffset: (partition: number) => number = () => 0): void => {
      for (const member of members) expect(member.badBatches).toEqual([]);
      const got = new Map<number, StreamMessage[]>();
      for (const member of members) for (const [p, list] of member.received) got.set(p, [...(got.get(p) ?? []), ...list]);
      expect([...got.keys()].sort((a, b) => a - b)).toEqual([...expected.keys()].sort((a, b) => a - b));
      for (const [partition, views] of expected) {
        const list = got.get(partition) ?? [];
        expect(list.map((m) => m.offset), `offsets of partition ${partition}`).toEqual(range(firstOffset(partition), views.length));
        expect(list.map(receivedView), `messages of partition ${partition}`).toEqual(views);
      }
    };
    const offsetsOf = (offsets: (partition: number) => number | string, partitions: number) => partitionsOf(partitions).map((partition) => ({ partition, offset: String(offsets(partition)) }));

    afterEach(async () => {
      await Promise.allSettled(consumers.splice(0).map((c) => c.disconnect()));
      await Promise.allSettled(providers.splice(0).map((p) => p.close()));
    });
    afterAll(async () => {
      if (options.cleanup) await options.cleanup({ topics: [...topics], groups: [...groups] });
    });

    it('is tagged as a stream provider and has an adapter id', { timeout: timeoutMs }, async () => {
      const provider = await open();
      expect(isStreamProvider(provider)).toBe(true);
      expect(provider.kind).toBe(STREAM_PROVIDER_KIND);
      expect(provider.adapterId).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
      const consumer = provider.consumer(freshGroup());
      for (const method of ['connect', 'subscribe', 'run', 'disconnect', 'on'] as const) expect(typeof consumer[method]).toBe('function');
    });

    it('ensureTopic creates the partitions at offset 0 and is harmless when repeated', { timeout: timeoutMs }, async () => {
      const provider = await open();
      const partitions = 3;
      const topic = await freshTopic(provider, partitions);
      const empty = offsetsOf(() => 0, partitions);
      expect(await provider.endOffsets(topic)).toEqual(empty);
      await provider.ensureTopic(topic, { partitions });
      await provider.ensureTopic(topic);
      expect(await provider.endOffsets(topic)).toEqual(empty);
      // Without options: one partition.
      const single = uniqueName('t');
      topics.push(single);
      await provider.ensureTopic(single);
      expect(await provider.endOffsets(single)).toEqual(offsetsOf(() => 0, 1));
    });

    it('send to explicit partitions advances the end offsets by the count per partition', { timeout: timeoutMs }, async () => {
      const provider = await open();
      const partitions = 3;
      const topic = await freshTopic(provider, partitions);
      const first = [...records(0, 2, 'a'), ...records(2, 3, 'a')];
      await send(provider, topic, first);
      expect(await provider.endOffsets(topic)).toEqual(offsetsOf((p) => countIn(first, p), partitions));
      const second = [...records(1, 4, 'b'), ...records(2, 1, 'b')];
      await send(provider, topic, second);
      expect(await provider.endOffsets(topic)).toEqual(offsetsOf((p) => countIn(first, p) + countIn(second, p), partitions));
      // Without a partition (the push API and dead letters): somewhere in the topic.
      const unpartitioned = records(0, 5, 'c').map(({ partition: _, ...rest }) => rest);
      await send(provider, topic, unpartitioned);
      const total = (await provider.endOffsets(topic)).reduce((n, o) => n + Number(o.offset), 0);
      expect(total).toBe(first.length + second.length + unpartitioned.length);
    });

    it('a new group reading from the beginning gets every message once per partition, in offset order, intact (property)', { timeout: timeoutMs * numRuns }, async () => {
      const provider = await open();
      const bytes = fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a));
      const text = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength });
      const record = (partitions: number) =>
        fc.record({
          partition: fc.nat(partitions - 1),
          key: fc.option(fc.oneof(text(12), bytes), { nil: null }),
          value: fc.option(fc.oneof(text(64), bytes), { nil: null }),
          headers: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), fc.oneof(text(16), bytes), { maxKeys: 3, noNullPrototype: true }),
          age: fc.nat(3_600_000),
        });
      const batch = fc.integer({ min: 1, max: 3 }).chain((partitions) => fc.tuple(fc.constant(partitions), fc.array(record(partitions), { minLength: 1, maxLength: 20 }), fc.nat()));
      await fc.assert(
        fc.asyncProperty(batch, async ([partitions, raw, cut]) => {
          const topic = await freshTopic(provider, partitions);
          const now = Date.now();
          const sent: SentRecord[] = raw.map(({ age, ...r }) => ({ ...r, timestamp: String(now - age) }));
          // In one or two sends.
          const split = cut % sent.length;
          if (split > 0) await send(provider, topic, sent.slice(0, split));
          await send(provider, topic, sent.slice(split));
          const member = await join(provider, topic, freshGroup(), false);
          try {
            await waitForMessages([member], sent.length);
          } finally {
            await member.consumer.disconnect();
          }
          expectReceived([member], byPartition(sent));
        }),
        // A run that fails by timing out is slow to shrink: stop shrinking in time to report the counterexample.
        { numRuns, interruptAfterTimeLimit: Math.floor(timeoutMs * numRuns * 0.8), markInterruptAsFailure: true },
      );
    });

    it('commits explicit offsets with auto-commit off, and a new member of the group resumes after them', { timeout: timeoutMs }, async () => {
      const provider = await open();
      const partitions = 3;
      const topic = await freshTopic(provider, partitions);
      const group = freshGroup();
      const never = offsetsOf(() => -1, partitions);
      expect(await provider.committedOffsets(group, topic)).toEqual(never);

      // Before: the last partition gets nothing, so nothing is ever committed there.
      const before = [...records(0, 3, 'before'), ...records(1, 1, 'before')];
      await send(provider, topic, before);
      const first = await join(provider, topic, group, true);
      await waitForMessages([first], before.length);
      expectReceived([first], byPartition(before));
      const expectedCommit = offsetsOf((p) => countIn(before, p) || -1, partitions);
      await until('the commits of the first member', () => provider.committedOffsets(group, topic), (c) => JSON.stringify(c) === JSON.stringify(expectedCommit), waitMs, [first]);
      expect(offsetsOf((p) => first.committed.get(p) ?? -1, partitions)).toEqual(expectedCommit);
      await first.consumer.disconnect();
      expect(await provider.committedOffsets(group, topic)).toEqual(expectedCommit);

      const after = [...records(0, 2, 'after'), ...records(1, 2, 'after'), ...records(2, 3, 'after')];
      await send(provider, topic, after);
      const second = await join(provider, topic, group, true);
      await waitForMessages([second], after.length);
      // Only the later messages; the never-committed partition from its beginning.
      expectReceived([second], byPartition(after), (p) => countIn(before, p));
      const expectedEnd = offsetsOf((p) => countIn(before, p) + countIn(after, p), partitions);
      expect(await provider.endOffsets(topic)).toEqual(expectedEnd);
      await until('the commits of the second member', () => provider.committedOffsets(group, topic), (c) => JSON.stringify(c) === JSON.stringify(expectedEnd), waitMs, [second]);
    });

    it('commits nothing without an explicit commit: a new member replays from the start', { timeout: timeoutMs }, async () => {
      const provider = await open();
      const partitions = 2;
      const topic = await freshTopic(provider, partitions);
      const group = freshGroup();
      const sent = [...records(0, 2, 'x'), ...records(1, 3, 'x')];
      await send(provider, topic, sent);
      const first = await join(provider, topic, group, false);
      await waitForMessages([first], sent.length);
      await first.consumer.disconnect();
      expect(await provider.committedOffsets(group, topic)).toEqual(offsetsOf(() => -1, partitions));
      const again = await join(provider, topic, group, false);
      await waitForMessages([again], sent.length);
      expectReceived([again], byPartition(sent));
    });

    it('two members of one group split the partitions and together get every message once', { timeout: timeoutMs }, async () => {
      const provider = await open();
      const partitions = 4;
      const topic = await freshTopic(provider, partitions);
      const group = freshGroup();
      const members = [await join(provider, topic, group, true), await join(provider, topic, group, true)];
      // Stable once both latest assignments are non-empty, disjoint and cover every partition.
      const stable = (assignments: (number[] | undefined)[]) => {
        const all = assignments.flatMap((a) => a ?? []).sort((x, y) => x - y);
        return assignments.every((a) => a !== undefined && a.length > 0) && JSON.stringify(all) === JSON.stringify(partitionsOf(partitions));
      };
      const assignments = await until('a stable assignment', () => members.map((m) => m.assignment), stable, waitMs, members);
      const sent = partitionsOf(partitions).flatMap((p) => records(p, p + 1, 'split'));
      await send(provider, topic, sent);
      await waitForMessages(members, sent.length);
      expect(members.map((m) => m.assignment)).toEqual(assignments);
      members.forEach((member, i) => expect([...member.received.keys()].sort((a, b) => a - b)).toEqual(assignments[i]));
      expectReceived(members, byPartition(sent));
    });

    it('close() is idempotent', { timeout: timeoutMs }, async () => {
      const unused = await open();
      await expect(unused.close()).resolves.toBeUndefined();
      await expect(unused.close()).resolves.toBeUndefined();

      const used = await open();
      const topic = await freshTopic(used, 1);
      const sent = records(0, 1, 'close');
      await send(used, topic, sent);
      expect(await used.endOffsets(topic)).toEqual(offsetsOf(() => sent.length, 1));
      await expect(Promise.all([used.close(), used.close()])).resolves.toEqual([undefined, undefined]);
      await expect(used.close()).resolves.toBeUndefined();
    });

    it('rejects every call after close() (it does not reuse a disconnected client)', { timeout: timeoutMs }, async () => {
      const provider = await open();
      const topic = await freshTopic(provider, 1);
      await provider.close();
      await expect(provider.producer()).rejects.toThrow();
      await expect(provider.ensureTopic(topic)).rejects.toThrow();
      await expect(provider.endOffsets(topic)).rejects.toThrow();
      await expect(provider.committedOffsets(`${topic}-group`, topic)).rejects.toThrow();
    });
  });
}

/**
 * Registry training sets over stream features. A topic source names its offline copy (a table source in the
 * warehouse holding the same events with their Kafka partition and offset); a `training_set` mixing stream and
 * batch features is built by the coordinator on DuckDB, point-in-time correct at every label time (brute-force
 * oracle), and the row at the time of an online read holds exactly what `POST /v1/features/online` served from the
 * tiles the stream job computed from the same events. Apply refuses what cannot be built, naming the field.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { tileLayout, type StreamAggregationFn, type TileLayout } from '../../src/streaming/tiles.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, kafkaBrokers, kafkaClient, redisUrl } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';
import { oracleValue, type OracleEvent } from '../unit/streaming/stream-oracle.js';

type Json = Record<string, any>;

const prefix = createRedisPrefix('stream-ts');
const admin = new Redis(redisUrl(), { lazyConnect: true });
const MIN = 60_000;
const LATENESS = '2h'; // nothing in this test is dropped as late: the copy and the stream hold the same events
let t: TestTrellis;
let wh: OfflineStore;
let topic: string;

interface StreamCase {
  readonly name: string;
  readonly layout: TileLayout;
  readonly countRows: boolean;
  readonly definition: Json;
  /** `last` with a ttl: served only when the value's event time is at most this old. */
  readonly ttlMs?: number;
}

const stream = (name: string, fn: StreamAggregationFn, windowMin?: number, slideMin?: number): StreamCase => ({
  name,
  layout: windowMin ? tileLayout({ fn, windowMs: windowMin * MIN, slideMs: slideMin ? slideMin * MIN : null }) : tileLayout({ fn }),
  countRows: fn === 'count',
  definition:
    windowMin === undefined
      ? { kind: 'feature', name, entity: 'user', source: 'clicks', column: 'amount', valueType: 'int', onlineProvider: 'cache' }
      : {
          kind: 'feature', name, entity: 'user', source: 'clicks', valueType: fn === 'avg' ? 'float' : 'int', onlineProvider: 'cache',
          aggregation: { fn, ...(fn === 'count' ? {} : { column: 'amount' }), window: `${windowMin}m`, ...(slideMin ? { slide: `${slideMin}m` } : {}) },
        },
});

const FEATURES = [
  stream('clicks_1h', 'count', 60, 1), stream('amount_30m', 'sum', 30, 5), stream('amount_avg_20m', 'avg', 20), stream('amount_max_1h', 'max', 60, 10),
  stream('last_amount_10m', 'last', 10, 1), stream('last_amount', 'last'), { ...stream('recent_amount', 'last'), ttlMs: 40 * MIN },
];
const COPY_COLUMNS = [
  { name: 'user_id', type: 'string' }, { name: 'amount', type: 'int64' }, { name: 'event_time', type: 'timestamptz' },
  { name: 'kafka_partition', type: 'int64' }, { name: 'kafka_offset', type: 'int64' },
] as const;
const LABEL_COLUMNS = [{ name: 'user_id', type: 'string' }, { name: 'label_time', type: 'timestamptz' }, { name: 'churned', type: 'boolean' }] as const;

async function apply(resources: Json[]) {
  return t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
}

async function waitBuilt(name: string, after: number) {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    const [run] = (await t.coordinator.store.list({ kind: 'training_set', name, variant: 'default', limit: 1 })).items;
    if (run && run.id > after && ['READY', 'FAILED', 'CANCELLED'].includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`training set ${name} not built`);
}

beforeAll(async () => {
  topic = await createKafkaTopic('stream-ts', 2);
  t = await openTestTrellis('pglite');
  const providers = [
    { kind: 'provider', name: 'events', type: 'kafka', roles: ['stream'], config: { brokers: kafkaBrokers() } },
    { kind: 'provider', name: 'cache', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
    { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'wh.duckdb' } },
  ];
  expect((await apply(providers)).statusCode).toBe(200);
  wh = await t.providers.offline('wh@default');
  await wh.executor.loadRows({ name: 'clicks_copy' }, COPY_COLUMNS, []);
  await wh.executor.loadRows({ name: 'churn_labels' }, LABEL_COLUMNS, []);
}, 120_000);

afterAll(async () => {
  await t?.close();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

const base: Json[] = [
  { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
  { kind: 'source', name: 'clicks_copy', provider: 'wh', table: 'clicks_copy', timestampColumn: 'event_time' },
  {
    kind: 'source', name: 'clicks', provider: 'events', topic: '', format: 'json', timestampColumn: 'ts', allowedLateness: LATENESS,
    fields: [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'ts', type: 'timestamp' }],
    offlineCopy: { source: 'clicks_copy', orderColumns: ['kafka_partition', 'kafka_offset'] },
  },
  { kind: 'source', name: 'churn_labels', provider: 'wh', table: 'churn_labels', timestampColumn: 'label_time' },
  { kind: 'label', name: 'churned', entity: 'user', source: 'churn_labels', column: 'churned', valueType: 'bool' },
];
const withTopic = (resources: Json[]) => resources.map((r) => (r.kind === 'source' && r.name === 'clicks' ? { ...r, topic } : r));

describe('training sets over stream features', () => {
  it('refuses, naming the field, what a training set could not read', async () => {
    const bad = async (resources: Json[], pointer: string, message: RegExp, code = 'TRELLIS_ERR_INVALID_DEFINITION') => {
      const res = await apply(resources.some((r) => r.topic === 'trellis-other-topic') ? resources : withTopic(resources));
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error).toMatchObject({ code, pointer });
      expect(res.json().error.message).toMatch(message);
    };
    const [entity, copy, clicks, labels, label] = base as [Json, Json, Json, Json, Json];
    const { offlineCopy: _none, ...noCopy } = clicks;
    const feature = FEATURES[0]!.definition;
    // A training set over a stream feature of a topic without an offline copy.
    await bad([entity, copy, noCopy, labels, label, feature, { kind: 'training_set', name: 'nope', label: 'churned', features: [feature.name] }], '/resources/6/features/0', /names no offlineCopy/);
    // The copy must be a table or query source, not another stream.
    const other = { ...noCopy, name: 'other', topic: 'trellis-other-topic' };
    await bad([entity, other, { ...clicks, offlineCopy: { source: 'other' } }].map((r) => (r === other ? r : withTopic([r])[0]!)), '/resources/2/offlineCopy/source', /is a stream source/);
    // Only a stream source has a copy.
    await bad([{ ...copy, offlineCopy: { source: 'clicks_copy' } }], '/resources/0/offlineCopy', /only a stream source/);
    // The copy must hold the tie-break columns and the fields the stream features read.
    await bad([entity, copy, { ...clicks, offlineCopy: { source: 'clicks_copy', orderColumns: ['kafka_partition', 'nope'] } }], '/resources/2/offlineCopy/orderColumns/1', /nope/, 'TRELLIS_ERR_MISSING_COLUMN');
    await bad([entity, copy, { ...clicks, fields: [...clicks.fields, { name: 'fee', type: 'int' }] }, { ...feature, name: 'fees', aggregation: { fn: 'sum', column: 'fee', window: '1h' } }], '/resources/3/aggregation/column', /fee/, 'TRELLIS_ERR_MISSING_COLUMN');
    // One feature twice (say with two lags) would be two columns of one name.
    await bad([entity, copy, clicks, labels, label, feature, { kind: 'training_set', name: 'twice', label: 'churned', features: [feature.name, { feature: feature.name, lag: '10m' }] }], '/resources/6/features/1', /already joined at \/features\/0/);
    // A window bounds a stream aggregation: a ttl there is refused (it applies to `last`).
    await bad([entity, copy, clicks, { ...feature, ttl: '1h' }], '/resources/3/ttl', /ttl applies to last values only/);
    // Nothing of the refused batches was stored.
    const listed = await t.app.inject({ method: 'GET', url: '/v1/source', headers: t.auth });
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.body).not.toContain('clicks');
  });

  it('builds stream and batch features point-in-time from the copy, and agrees with the online read', async () => {
    const ok = await apply(
      withTopic([
        ...base,
        ...FEATURES.map((f) => (f.ttlMs === undefined ? f.definition : { ...f.definition, ttl: `${f.ttlMs / MIN}m` })),
        { kind: 'feature', name: 'amount_latest', entity: 'user', source: 'clicks_copy', column: 'amount', valueType: 'int' },
        // No online provider: no tiles, a training-set-only stream feature.
        { kind: 'feature', name: 'clicks_1h_offline', entity: 'user', source: 'clicks', aggregation: { fn: 'count', window: '60m', slide: '1m' }, valueType: 'int' },
        { kind: 'training_set', name: 'churn_ts', label: 'churned', features: [...FEATURES.map((f) => f.name), 'amount_latest', { feature: 'clicks_1h_offline', lag: '10m' }] },
      ]),
    );
    expect(ok.statusCode, ok.body).toBe(200);
    const lineage = await t.app.inject({ method: 'GET', url: '/v1/source/clicks/default', headers: t.auth });
    expect(lineage.json().upstream).toContainEqual({ kind: 'source', name: 'clicks_copy', variant: 'default' });
    // Discovery: the stream source links to its copy over GraphQL, with its fields and where they are read.
    const query = '{ resource(kind: SOURCE, name: "clicks") { ... on Source { topic offlineCopy { name table } offlineCopyOrderColumns fields { name type path } } } }';
    const gql = await t.app.inject({ method: 'POST', url: '/graphql', headers: t.auth, payload: { query } });
    expect(gql.json()).toEqual({
      data: {
        resource: {
          topic, offlineCopy: { name: 'clicks_copy', table: 'clicks_copy' }, offlineCopyOrderColumns: ['kafka_partition', 'kafka_offset'],
          fields: [{ name: 'user_id', type: 'string', path: '/user_id' }, { name: 'amount', type: 'int', path: '/amount' }, { name: 'ts', type: 'timestamp', path: '/ts' }],
        },
      },
    });

    // Random events of the last 90 minutes, produced to two partitions; the same events land in the copy.
    const now = Date.now();
    const users = ['u0', 'u1', 'u2', 'u3'];
    const raw = fc.sample(
      fc.array(fc.record({ partition: fc.integer({ min: 0, max: 1 }), key: fc.constantFrom('u0', 'u1', 'u2'), age: fc.integer({ min: MIN, max: 90 * MIN }), value: fc.option(fc.integer({ min: -50, max: 50 }), { freq: 5 }), tie: fc.boolean() }), { minLength: 30, maxLength: 80 }),
      1,
    )[0]!;
    const offsets = [0, 0];
    let previous = now - MIN;
    const events: OracleEvent[] = raw.map((r) => {
      const ts = r.tie ? previous : now - r.age; // equal event times: `last` is decided by (partition, offset)
      previous = ts;
      return { partition: r.partition, offset: offsets[r.partition]!++, key: r.key, ts, value: r.value };
    });
    const producer = kafkaClient().producer();
    await producer.connect();
    for (const partition of [0, 1]) {
      const messages = events.filter((e) => e.partition === partition).map((e) => ({ partition, key: e.key, value: JSON.stringify({ user_id: e.key, amount: e.value, ts: e.ts }) }));
      if (messages.length > 0) await producer.send({ topic, messages });
    }
    await producer.disconnect();
    await wh.executor.loadRows({ name: 'clicks_copy' }, COPY_COLUMNS, events.map((e) => [e.key, e.value, new Date(e.ts), e.partition, e.offset]), { mode: 'append' });

    // Online: wait until the stream job has applied every event (the oracle's answer now), then read once more.
    const read = async () => {
      const before = Date.now();
      const res = await t.app.inject({ method: 'POST', url: '/v1/features/online', headers: t.auth, payload: { features: FEATURES.map((f) => f.name), entities: users.map((user_id) => ({ user_id })) } });
      expect(res.statusCode, res.body).toBe(200);
      return { values: (res.json() as { results: { values: unknown[] }[] }).results.map((r) => r.values), before, after: Date.now() };
    };
    const oracle = (f: StreamCase, key: string, at: number) => oracleValue(f.layout, events.filter((e) => e.ts <= at && (f.ttlMs === undefined || e.ts >= at - f.ttlMs)), key, at, f.countRows);
    const same = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) < 1e-9 : a === b);
    const exact = (r: Awaited<ReturnType<typeof read>>, at: number) => users.every((u, i) => FEATURES.every((f, j) => same(r.values[i]![j] ?? null, oracle(f, u, at))));
    let online = await read();
    for (const deadline = Date.now() + 60_000; !exact(online, online.after) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 250));
      online = await read();
    }
    expect(exact(online, online.after), JSON.stringify(online.values)).toBe(true);
    const readAt = online.after;

    // Labels: past times for every user, and the time of the online read.
    const labelTimes = [now - 80 * MIN, now - 45 * MIN, now - 31 * MIN, now - 10 * MIN, now - 2 * MIN, readAt];
    await wh.executor.loadRows({ name: 'churn_labels' }, LABEL_COLUMNS, labelTimes.flatMap((at, i) => users.map((u) => [u, new Date(at), i % 2 === 0])), { mode: 'append' });
    const previousRun = (await t.coordinator.store.list({ kind: 'training_set', name: 'churn_ts', variant: 'default', limit: 1 })).items[0]?.id ?? 0;
    const trigger = await t.app.inject({ method: 'POST', url: '/v1/training_set/churn_ts/default/runs', headers: t.auth });
    expect(trigger.statusCode, trigger.body).toBeLessThan(300);
    const run = await waitBuilt('churn_ts', previousRun);
    expect(run.status, run.error ?? '').toBe('READY');
    expect(run.rowsWritten).toBe(labelTimes.length * users.length);

    const data = await t.app.inject({ method: 'GET', url: '/v1/training_set/churn_ts/default/data', headers: t.auth });
    expect(data.statusCode).toBe(200);
    const rows = data.body.trim().split('\n').map((l) => JSON.parse(l) as Json);
    expect(rows).toHaveLength(labelTimes.length * users.length);
    const lagged = stream('clicks_1h', 'count', 60, 1);
    for (const row of rows) {
      const at = Date.parse(row.label_time as string);
      const key = row.user_id as string;
      const where = `${key} @ now${Math.round((at - now) / 1000)}s`;
      for (const f of FEATURES) expect(same(row[`${f.name}__default`], oracle(f, key, at)), `${f.name} ${where}: ${row[`${f.name}__default`]} vs ${oracle(f, key, at)}`).toBe(true);
      expect(row.clicks_1h_offline__default, `lagged ${where}`).toBe(oracle(lagged, key, at - 10 * MIN));
      const seen = events.filter((e) => e.key === key && e.ts <= at);
      const newest = Math.max(...seen.map((e) => e.ts));
      const tied = seen.filter((e) => e.ts === newest).map((e) => e.value).filter((v): v is number => v !== null);
      expect(row.amount_latest__default, `batch ${where}`).toBe(tied.length ? Math.max(...tied) : null);
      expect(row.churned__default).toBe(labelTimes.indexOf(at) % 2 === 0);
    }
    // The row at the read time holds what the online read served.
    for (const [i, user] of users.entries()) {
      const row = rows.find((r) => r.user_id === user && Date.parse(r.label_time as string) === readAt)!;
      FEATURES.forEach((f, j) => expect(same(row[`${f.name}__default`], online.values[i]![j] ?? null), `${f.name} ${user} at the read`).toBe(true));
    }
  }, 180_000);

  it('reads a push-only source\'s own table as its copy: the training set row at the read time holds the pushed windows', async () => {
    await wh.executor.loadRows({ name: 'refunds_tbl' }, [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'int64' }, { name: 'ts', type: 'timestamptz' }], []);
    const refundMax = stream('refund_max_1h', 'max', 60, 10);
    const applied = await apply([
      { kind: 'source', name: 'refunds', provider: 'wh', table: 'refunds_tbl', timestampColumn: 'ts', allowedLateness: LATENESS, fields: [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'ts', type: 'timestamp' }] },
      { ...refundMax.definition, source: 'refunds' },
      { kind: 'training_set', name: 'refund_ts', label: 'churned', features: ['refund_max_1h'] },
    ]);
    expect(applied.statusCode, applied.body).toBe(200);
    const now = Date.now();
    const events: OracleEvent[] = [7, 35, 59, 61, 80].flatMap((ageMin, i) => ['u0', 'u1'].slice(0, 1 + (i % 2)).map((key, j) => ({ partition: -1, offset: i * 2 + j, key, ts: now - ageMin * MIN, value: (i + 1) * 10 + j })));
    const pushed = await t.app.inject({ method: 'POST', url: '/v1/push/refunds', headers: t.auth, payload: { events: events.map((e) => ({ user_id: e.key, amount: e.value, ts: e.ts })) } });
    expect(pushed.statusCode, pushed.body).toBe(202);
    await wh.executor.loadRows({ name: 'refunds_tbl' }, [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'int64' }, { name: 'ts', type: 'timestamptz' }], events.map((e) => [e.key, e.value, new Date(e.ts)]), { mode: 'append' });
    const before = Date.now();
    const online = await t.app.inject({ method: 'POST', url: '/v1/features/online', headers: t.auth, payload: { features: ['refund_max_1h'], entities: [{ user_id: 'u0' }, { user_id: 'u1' }] } });
    const readAt = Date.now();
    const served = (online.json() as { results: { values: unknown[] }[] }).results.map((r) => r.values[0]);
    // Both ends of the read in one 10-minute slide (else the window moved during the read: compare with the oracle only).
    const oneSlide = Math.floor(before / (10 * MIN)) === Math.floor(readAt / (10 * MIN));
    await wh.executor.loadRows({ name: 'churn_labels' }, LABEL_COLUMNS, [['u0', new Date(readAt), true], ['u1', new Date(readAt), false]], { mode: 'append' });
    const previousRun = (await t.coordinator.store.list({ kind: 'training_set', name: 'refund_ts', variant: 'default', limit: 1 })).items[0]?.id ?? 0;
    expect((await t.app.inject({ method: 'POST', url: '/v1/training_set/refund_ts/default/runs', headers: t.auth })).statusCode).toBeLessThan(300);
    expect((await waitBuilt('refund_ts', previousRun)).status).toBe('READY');
    const rows = (await t.app.inject({ method: 'GET', url: '/v1/training_set/refund_ts/default/data', headers: t.auth })).body.trim().split('\n').map((l) => JSON.parse(l) as Json);
    for (const [i, user] of ['u0', 'u1'].entries()) {
      const row = rows.find((r) => r.user_id === user && Date.parse(r.label_time as string) === readAt)!;
      expect(row.refund_max_1h__default).toBe(oracleValue(refundMax.layout, events, user, readAt, false));
      if (oneSlide) expect(row.refund_max_1h__default).toBe(served[i]);
    }
  }, 120_000);
});

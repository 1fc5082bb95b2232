/**
 * Stream jobs run by the product: a Trellis instance (coordinator enabled) starts a consumer group for every topic
 * source with stream features; events produced to the topic become exact window values at POST /v1/features/online,
 * newly applied features join (a new group that replays the topic), deleted ones leave, and the worker metrics
 * appear at /metrics.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tileLayout, type StreamAggregationFn, type TileLayout } from '../../src/streaming/tiles.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, kafkaBrokers, kafkaClient, redisUrl } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';
import { oracleAccepted, oracleValue, type OracleEvent } from '../unit/streaming/stream-oracle.js';
import { waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';

const prefix = createRedisPrefix('stream-serve');
const admin = new Redis(redisUrl(), { lazyConnect: true });
const MIN = 60_000;
const LATENESS = 60_000;
let t: TestTrellis;
let topic: string;

interface FeatureCase {
  readonly name: string;
  readonly fn: StreamAggregationFn;
  readonly window?: string;
  readonly slide?: string;
  readonly layout: TileLayout;
  readonly column: boolean;
}

const feature = (name: string, fn: StreamAggregationFn, windowMin?: number, slideMin?: number): FeatureCase => ({
  name,
  fn,
  ...(windowMin ? { window: `${windowMin}m` } : {}),
  ...(slideMin ? { slide: `${slideMin}m` } : {}),
  layout: windowMin ? tileLayout({ fn, windowMs: windowMin * MIN, slideMs: slideMin ? slideMin * MIN : null, allowedLatenessMs: LATENESS }) : tileLayout({ fn, allowedLatenessMs: LATENESS }),
  column: fn !== 'count',
});

const initial = [feature('clicks_1h', 'count', 60, 1), feature('amount_1h', 'sum', 60, 5), feature('amount_avg_30m', 'avg', 30), feature('amount_min_20m', 'min', 20, 2), feature('last_amount', 'last')];
const added = feature('amount_max_1h', 'max', 60, 1);

const definition = (f: FeatureCase) =>
  f.fn === 'last'
    ? { kind: 'feature', name: f.name, entity: 'user', source: 'clicks', column: 'amount', valueType: 'int', onlineProvider: 'cache' }
    : { kind: 'feature', name: f.name, entity: 'user', source: 'clicks', aggregation: { fn: f.fn, ...(f.column ? { column: 'amount' } : {}), window: f.window, ...(f.slide ? { slide: f.slide } : {}) }, valueType: f.fn === 'avg' ? 'float' : 'int', onlineProvider: 'cache' };

async function apply(resources: object[]): Promise<void> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
  expect(res.statusCode, res.body).toBe(200);
}

async function readOnline(features: readonly FeatureCase[], users: readonly string[]) {
  const before = Date.now();
  const res = await t.app.inject({ method: 'POST', url: '/v1/features/online', headers: t.auth, payload: { features: features.map((f) => f.name), entities: users.map((user_id) => ({ user_id })) } });
  expect(res.statusCode, res.body).toBe(200);
  return { body: res.json() as { results: { values: unknown[]; statuses: string[] }[] }, before, after: Date.now() };
}

/** The REST values equal the oracle's at the read time (evaluated at both ends of the request). */
function expectOracleValues(read: Awaited<ReturnType<typeof readOnline>>, features: readonly FeatureCase[], users: readonly string[], accepted: readonly OracleEvent[]): void {
  users.forEach((user, i) => {
    features.forEach((f, j) => {
      const got = read.body.results[i]!.values[j] ?? null;
      const wants = [read.before, read.after].map((now) => oracleValue(f.layout, accepted, user, now, !f.column));
      const match = wants.some((w) => (typeof w === 'number' && typeof got === 'number' ? Math.abs(w - got) < 1e-9 : w === got));
      expect(match, `${f.name} ${user}: got ${JSON.stringify(got)}, oracle ${JSON.stringify(wants)}`).toBe(true);
      const status = read.body.results[i]!.statuses[j];
      expect(status).toBe(got === null ? (f.fn === 'last' && !accepted.some((e) => e.key === user) ? 'NOT_FOUND' : 'NULL_VALUE') : 'PRESENT');
    });
  });
}

async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const metric = (text: string, name: string, source: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`source="${source}"`));
  // A labelled counter that was never incremented has no line yet: 0.
  return line === undefined ? (text.includes(`# TYPE ${name} `) ? 0 : Number.NaN) : Number(line.slice(line.lastIndexOf(' ') + 1));
};

beforeAll(async () => {
  topic = await createKafkaTopic('stream-serve', 1);
  t = await openTestTrellis('pglite');
  await apply([
    { kind: 'provider', name: 'events', type: 'kafka', roles: ['stream'], config: { brokers: kafkaBrokers() } },
    { kind: 'provider', name: 'cache', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
    { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
    {
      kind: 'source', name: 'clicks', provider: 'events', topic, format: 'json', timestampColumn: 'ts', allowedLateness: '1m',
      fields: [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'ts', type: 'timestamp' }],
    },
    ...initial.map(definition),
  ]);
}, 120_000);

afterAll(async () => {
  await t?.close();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

describe('stream jobs run by a Trellis instance', () => {
  const users = ['u0', 'u1', 'u2', 'u3', 'u4'];
  const now = Date.now();
  // Random events 3..45 min old (out of order, so some fall behind the 1 min allowed lateness and are dropped).
  const events: OracleEvent[] = fc
    .sample(fc.array(fc.record({ key: fc.constantFrom(...users.slice(0, 4)), age: fc.integer({ min: 3 * MIN, max: 45 * MIN }), value: fc.integer({ min: -100, max: 100 }) }), { minLength: 40, maxLength: 80 }), 1)[0]!
    .map((e, offset) => ({ partition: 0, offset, key: e.key, ts: now - e.age, value: e.value }));
  const accepted = oracleAccepted(events, LATENESS);

  it('starts a consumer group for the source and serves exact window values at POST /v1/features/online', async () => {
    const job = await until(async () => t.streamSupervisor.jobs, (jobs) => jobs.length === 1, 20_000);
    expect(job.map((j) => ({ source: j.source, topic: j.topic, features: j.features }))).toEqual([{ source: 'clicks@default', topic, features: initial.map((f) => `${f.name}@default`).sort() }]);
    const producer = kafkaClient().producer();
    await producer.connect();
    await producer.send({ topic, messages: events.map((e) => ({ key: e.key, value: JSON.stringify({ user_id: e.key, amount: e.value, ts: e.ts }) })) });
    await producer.disconnect();
    await waitCaughtUp(await t.streams.provider('events'), job[0]!.groupId, topic);
    expectOracleValues(await readOnline(initial, users), initial, users, accepted);
  }, 90_000);

  it('creates no batch materialization runs for stream features, and refuses to trigger one', async () => {
    const runs = await t.app.inject({ method: 'GET', url: '/v1/runs?kind=feature&limit=500', headers: t.auth });
    expect(runs.statusCode, runs.body).toBe(200);
    const names = new Set(initial.map((f) => f.name));
    expect((runs.json() as { items: { name: string }[] }).items.filter((r) => names.has(r.name))).toEqual([]);
    const trigger = await t.app.inject({ method: 'POST', url: `/v1/feature/${initial[0]!.name}/default/runs`, headers: t.auth, payload: {} });
    expect(trigger.statusCode, trigger.body).toBe(400);
    expect(trigger.json()).toMatchObject({ error: { code: 'TRELLIS_ERR_VALIDATION' } });
    expect(trigger.body).toContain('stream');
  });

  it('exposes consumer lag, events, freshness and late/dropped events at /metrics', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const source = 'clicks@default';
    expect(metric(res.body, 'trellis_stream_events_total', source)).toBe(events.length);
    expect(metric(res.body, 'trellis_stream_dropped_events_total', source)).toBe(events.length - accepted.length);
    const late = accepted.filter((e, i) => accepted.slice(0, i).some((p) => p.ts > e.ts)).length;
    expect(metric(res.body, 'trellis_stream_late_events_total', source)).toBe(late);
    expect(metric(res.body, 'trellis_stream_freshness_seconds_count', source)).toBe(accepted.length);
    expect(metric(res.body, 'trellis_stream_consumer_lag', source)).toBe(0);
  });

  it('a newly applied stream feature gets its own group, replays the topic and is served exactly', async () => {
    const before = t.streamSupervisor.jobs[0]!.groupId;
    await apply([definition(added)]);
    const jobs = await until(async () => t.streamSupervisor.jobs, (j) => j.length === 1 && j[0]!.groupId !== before, 20_000);
    expect(jobs[0]!.features).toContain(`${added.name}@default`);
    await waitCaughtUp(await t.streams.provider('events'), jobs[0]!.groupId, topic);
    const all = [...initial, added];
    // Replayed events change nothing for the features that had them already.
    expectOracleValues(await readOnline(all, users), all, users, accepted);
  }, 90_000);

  it('a deleted stream feature leaves the job (back to the first group, which resumes where it was)', async () => {
    const first = t.streamSupervisor.jobs[0]!;
    const res = await t.app.inject({ method: 'DELETE', url: `/v1/feature/${added.name}/default`, headers: t.auth });
    expect(res.statusCode, res.body).toBe(204);
    const jobs = await until(async () => t.streamSupervisor.jobs, (j) => j.length === 1 && j[0]!.groupId !== first.groupId, 20_000);
    expect(jobs[0]!.features).not.toContain(`${added.name}@default`);
    const committed = await (await t.streams.provider('events')).committedOffsets(jobs[0]!.groupId, topic);
    expect(committed).toEqual([{ partition: 0, offset: String(events.length) }]);
  }, 60_000);

  it('stops its consumers when the instance closes', async () => {
    const workers = t.streamSupervisor.jobs.flatMap((j) => j.workers);
    expect(workers.length).toBe(1);
    await t.streamSupervisor.stop();
    expect(t.streamSupervisor.jobs).toEqual([]);
    const groups = await kafkaClient().admin();
    await groups.connect();
    const { groups: described } = await groups.describeGroups([workers[0]!.groupId]);
    await groups.disconnect();
    expect(described[0]!.members).toEqual([]);
  }, 30_000);
});

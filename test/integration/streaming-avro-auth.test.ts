/**
 * Avro sources through a schema registry that requires HTTP Basic auth. The Apicurio registry of the test services
 * cannot require it (that needs Keycloak), so a small reverse proxy in this file stands in front of it: it answers
 * 401 with `WWW-Authenticate: Basic` unless the request carries the expected user and password, and otherwise
 * forwards the request to the real registry and streams its answer back. The kafka providers name the proxy as
 * `schemaRegistry.url` with `password: env:…`; everything else is real (REST, Kafka, Redis, the registry).
 */
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaStreamProvider } from '../../adapters/kafka/index.js';
import { StreamRuntime } from '../../src/streaming/stream-runtime.js';
import { deadLetterTopic } from '../../src/streaming/stream-worker.js';
import { clearRedisPrefix, createKafkaTopic, createRedisPrefix, kafkaBrokers, redisUrl, schemaRegistryUrl, uniqueId } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';
import { waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';

const USER = 'trellis';
const PASSWORD = `right-${uniqueId(8)}`;
const WRONG_PASSWORD = `wrong-${uniqueId(8)}`;
const PASSWORD_VAR = `TRELLIS_TEST_SR_PASSWORD_${uniqueId()}`;
const WRONG_VAR = `TRELLIS_TEST_SR_WRONG_${uniqueId()}`;
const prefix = createRedisPrefix('stream-avro-auth');
const admin = new Redis(redisUrl(), { lazyConnect: true });
let t: TestTrellis;
let streams: StreamRuntime;
let proxy: AuthProxy;

const swipe = {
  type: 'record', name: 'AuthSwipe', namespace: 'test.trellis',
  fields: [{ name: 'card_id', type: 'string' }, { name: 'amount', type: 'double' }, { name: 'event_time', type: { type: 'long', logicalType: 'timestamp-millis' } }],
};

interface Swipe {
  readonly card_id: string;
  readonly amount: number;
  readonly event_time: number;
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const kafkaProvider = (name: string, passwordVar: string) => ({
  kind: 'provider', name, type: 'kafka', roles: ['stream'],
  config: { brokers: kafkaBrokers(), schemaRegistry: { url: proxy.url, username: USER, password: `env:${passwordVar}`, timeoutMs: 2000 } },
});

async function apply(resources: object[]): Promise<void> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
  expect(res.statusCode, res.body).toBe(200);
}

/** An Avro source on `provider` with a windowed count and sum named after it. */
const applySource = (name: string, topic: string, provider: string) =>
  apply([
    { kind: 'source', name, provider, topic, format: 'avro', timestampColumn: 'event_time', allowedLateness: '1m', fields: [{ name: 'card_id', type: 'string' }, { name: 'amount', type: 'float' }, { name: 'event_time', type: 'timestamp' }] },
    { kind: 'feature', name: `${name}_count`, entity: 'card', source: name, aggregation: { fn: 'count', window: '10m', slide: '1m' }, valueType: 'int', onlineProvider: 'cache' },
    { kind: 'feature', name: `${name}_sum`, entity: 'card', source: name, aggregation: { fn: 'sum', column: 'amount', window: '10m', slide: '1m' }, valueType: 'float', onlineProvider: 'cache' },
  ]);

/** Registers the schema under `<topic>-value` through the proxy, with the right credentials; its id. */
async function register(topic: string): Promise<number> {
  const res = await fetch(`${proxy.url}/subjects/${topic}-value/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json', authorization: basic(USER, PASSWORD) },
    body: JSON.stringify({ schema: JSON.stringify(swipe) }),
  });
  const body = (await res.json()) as { id: number };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.id;
}

const push = (source: string, events: readonly Swipe[]) => t.app.inject({ method: 'POST', url: `/v1/push/${source}`, headers: t.auth, payload: { events } });

/** Swipes on three cards in the last minute; amounts are multiples of 1/4, so their sums are exact in any order. */
function swipes(n: number): Swipe[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({ card_id: `c${i % 3}`, amount: Math.floor(Math.random() * 400) / 4, event_time: now - 60_000 + i * 1000 }));
}

/** The count and sum per card of `events`, the oracle of the online values. */
function expectedPerCard(events: readonly Swipe[]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const e of events) {
    const [count, sum] = out.get(e.card_id) ?? [0, 0];
    out.set(e.card_id, [count + 1, sum + e.amount]);
  }
  return out;
}

beforeAll(async () => {
  process.env[PASSWORD_VAR] = PASSWORD;
  process.env[WRONG_VAR] = WRONG_PASSWORD;
  proxy = await authProxy(new URL(schemaRegistryUrl()), USER, PASSWORD);
  t = await openTestTrellis('pglite', {}, { verifySources: false });
  streams = new StreamRuntime(t.registry, { dataDir: null });
  await apply([
    kafkaProvider('guarded', PASSWORD_VAR),
    kafkaProvider('denied', WRONG_VAR),
    { kind: 'provider', name: 'cache', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
    { kind: 'entity', name: 'card', keys: [{ name: 'card_id', type: 'string' }] },
  ]);
}, 120_000);

afterAll(async () => {
  await streams?.close();
  await t?.close();
  await proxy?.close();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
  delete process.env[PASSWORD_VAR];
  delete process.env[WRONG_VAR];
});

describe('Avro sources through a schema registry that requires HTTP Basic auth', () => {
  it('with the right password (an env reference) a push encodes through the registry and a worker serves exact values', async () => {
    const topic = await createKafkaTopic('stream-avro-auth', 1);
    await applySource('guarded_swipes', topic, 'guarded');
    const id = await register(topic);
    const granted = proxy.granted.length;

    const events = swipes(12);
    const res = await push('guarded_swipes', events);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ accepted: events.length, topic, dropped: 0 });

    const groupId = `g-${uniqueId()}`;
    const worker = await streams.startWorker('guarded_swipes', { groupId });
    await waitCaughtUp((await streams.provider('guarded')) as KafkaStreamProvider, groupId, topic);
    await streams.stopWorker(worker);
    expect(worker.stats).toMatchObject({ messages: events.length, deadLetters: 0, registryErrors: 0 });

    const expected = expectedPerCard(events);
    const cards = [...expected.keys()].sort();
    const cells = await streams.readFeatures(['guarded_swipes_count', 'guarded_swipes_sum'], cards.map((c) => [c]), Date.now() + 60_000);
    expect(cells.map((row) => row.map((c) => c?.value))).toEqual(cards.map((c) => expected.get(c)));

    // The push read the subject's latest schema and the worker the schema by id, both through the proxy, authenticated.
    const paths = proxy.granted.slice(granted).map((r) => `${r.method} ${r.path}`);
    expect(paths).toContain(`GET ${new URL(schemaRegistryUrl()).pathname}/subjects/${topic}-value/versions/latest`);
    expect(paths).toContain(`GET ${new URL(schemaRegistryUrl()).pathname}/schemas/ids/${id}`);
    // Nothing with the right password was refused (the wrong-password provider has no source yet).
    expect(proxy.refused.filter((r) => r.password !== WRONG_PASSWORD)).toEqual([]);
  }, 90_000);

  it('with a wrong password a push answers 503 naming the provider and the keys to check, and shows neither password', async () => {
    const topic = await createKafkaTopic('stream-avro-auth-push', 1);
    await applySource('denied_push', topic, 'denied');
    await register(topic);
    const refused = proxy.refused.length;

    const res = await push('denied_push', swipes(2));
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json().error.code).toBe('TRELLIS_ERR_PROVIDER_UNAVAILABLE');
    expect(res.json().error.message).toMatch(/^Provider denied@\S+ unavailable: schema registry http:\/\/127\.0\.0\.1:\d+\/\S+ refused the credentials \(HTTP 401\): check schemaRegistry\.username and schemaRegistry\.password$/);
    for (const secret of [WRONG_PASSWORD, PASSWORD, basic(USER, WRONG_PASSWORD).slice(6), basic(USER, PASSWORD).slice(6)]) expect(res.body).not.toContain(secret);
    // The client did send Basic credentials: the user and the password the env reference resolves to.
    expect(proxy.refused.slice(refused)).toEqual([expect.objectContaining({ user: USER, password: WRONG_PASSWORD })]);
    // The proxy challenges a request without credentials too, as a registry requiring basic auth does.
    const anonymous = await fetch(`${proxy.url}/subjects/${topic}-value/versions/latest`);
    expect([anonymous.status, anonymous.headers.get('www-authenticate')]).toEqual([401, 'Basic realm="schema-registry"']);
    expect((await (await streams.provider('denied')).endOffsets(topic)).map((e) => e.offset)).toEqual(['0']);
  }, 60_000);

  it('a worker whose registry refuses the credentials retries without crashing, dead-lettering or committing', async () => {
    const topic = await createKafkaTopic('stream-avro-auth-worker', 1);
    // The same topic read by a source on each provider: the guarded one produces, the denied one is the worker's.
    await applySource('denied_feed', topic, 'guarded');
    await applySource('denied_worker', topic, 'denied');
    await register(topic);
    const events = swipes(5);
    const pushed = await push('denied_feed', events);
    expect(pushed.statusCode, pushed.body).toBe(202);
    const provider = await streams.provider('denied');
    expect((await provider.endOffsets(topic)).map((e) => e.offset)).toEqual([String(events.length)]);

    const errors: string[] = [];
    const crashes: Error[] = [];
    const groupId = `g-${uniqueId()}`;
    const worker = await streams.startWorker('denied_worker', { groupId, onError: (e) => errors.push(e.message), onCrash: (e) => crashes.push(e) });
    try {
      const deadline = Date.now() + 20_000;
      while (errors.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(errors.length).toBeGreaterThanOrEqual(3);
      for (const message of errors) expect(message).toMatch(/^schema registry http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 refused the credentials \(HTTP 401\): check schemaRegistry\.username and schemaRegistry\.password$/);
      expect(worker.stats).toMatchObject({ messages: 0, deadLetters: 0, batches: 0 });
      expect((await provider.committedOffsets(groupId, topic)).map((c) => c.offset)).toEqual(['-1']);
    } finally {
      await streams.stopWorker(worker);
    }
    expect(crashes).toEqual([]);
    expect(worker.stats).toMatchObject({ messages: 0, deadLetters: 0, batches: 0 });
    expect(worker.stats.registryErrors).toBe(errors.length);
    expect((await provider.committedOffsets(groupId, topic)).map((c) => c.offset)).toEqual(['-1']);
    expect((await provider.endOffsets(deadLetterTopic(topic))).map((e) => e.offset)).toEqual(['0']);
  }, 60_000);
});

interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  /** The Basic credentials the request carried (null: none, or not Basic). */
  readonly user: string | null;
  readonly password: string | null;
}

interface AuthProxy {
  /** The registry's URL with the proxy's host and port. */
  readonly url: string;
  /** Requests that carried the expected credentials and were forwarded. */
  readonly granted: ProxiedRequest[];
  /** Requests answered 401. */
  readonly refused: ProxiedRequest[];
  close(): Promise<void>;
}

function credentials(headers: IncomingHttpHeaders): { user: string | null; password: string | null } {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(headers.authorization ?? '');
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  return colon < 0 ? { user: null, password: null } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** An HTTP reverse proxy on a free loopback port in front of `target` that requires HTTP Basic `user`/`password`. */
async function authProxy(target: URL, user: string, password: string): Promise<AuthProxy> {
  const granted: ProxiedRequest[] = [];
  const refused: ProxiedRequest[] = [];
  const server = createServer((req, res) => {
    const seen = { method: req.method ?? 'GET', path: req.url ?? '/', ...credentials(req.headers) };
    if (seen.user !== user || seen.password !== password) {
      refused.push(seen);
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="schema-registry"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    granted.push(seen);
    const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${error.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = new URL(target.href);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: url.href.replace(/\/+$/, ''),
    granted,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

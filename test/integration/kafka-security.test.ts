/**
 * Kafka provider security through the product, on a real broker with secured listeners (test/support/kafka-secure-broker.ts):
 * a Trellis instance applies kafka providers with `ssl: { ca: file:… }` and `sasl: { …, password: env:… }` (SASL_SSL +
 * SCRAM-SHA-512), SASL_PLAINTEXT + PLAIN and mutual TLS (`ssl.cert`/`ssl.key` as file references); events pushed with
 * POST /v1/push/{source} and produced by a client of the test are served exactly at POST /v1/features/online. The
 * failures a user hits — a wrong password, a CA that did not sign the broker, an unset env secret, a bad mechanism —
 * answer the push with a coded 503 naming the provider and the reason, in well under a connection-retry cycle; their
 * consumer groups fail to start, are retried by the supervisor (an unhandled rejection would fail this file), and
 * neither crash the process nor disturb the working sources.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaStreamProvider } from '../../adapters/kafka/index.js';
import { clearRedisPrefix, createRedisPrefix, redisUrl, uniqueId } from '../support/services.js';
import { startSecureKafkaBroker, type SecureKafkaBroker } from '../support/kafka-secure-broker.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';
import { StreamRuntime } from '../../src/streaming/stream-runtime.js';
import { StreamSupervisor } from '../../src/streaming/stream-supervisor.js';
import { waitCaughtUp } from '../unit/streaming/stream-test-helpers.js';

const prefix = createRedisPrefix('kafka-security');
const admin = new Redis(redisUrl(), { lazyConnect: true });
const PASSWORD_VAR = `TRELLIS_TEST_KAFKA_PASSWORD_${uniqueId()}`;
const WRONG_VAR = `TRELLIS_TEST_KAFKA_WRONG_${uniqueId()}`;
const UNSET_VAR = `TRELLIS_TEST_KAFKA_UNSET_${uniqueId()}`;
/** Holds a SASL mechanism kafkajs does not have: a literal one is refused at apply, a reference only when resolved. */
const MECHANISM_VAR = `TRELLIS_TEST_KAFKA_MECHANISM_${uniqueId()}`;
const MIN = 60_000;
let broker: SecureKafkaBroker;
let t: TestTrellis;
let topic: string;

interface Event {
  readonly user_id: string;
  readonly amount: number;
  readonly ts: number;
}

/** A source on `provider` with a windowed sum and a last-value feature named after it. */
const streamResources = (source: string, provider: string, sourceTopic: string) => [
  {
    kind: 'source', name: source, provider, topic: sourceTopic, format: 'json', timestampColumn: 'ts', allowedLateness: '1h',
    fields: [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'ts', type: 'timestamp' }],
  },
  { kind: 'feature', name: `${source}_sum`, entity: 'user', source, aggregation: { fn: 'sum', column: 'amount', window: '2h', slide: '1m' }, valueType: 'int', onlineProvider: 'cache' },
  { kind: 'feature', name: `${source}_last`, entity: 'user', source, column: 'amount', valueType: 'int', onlineProvider: 'cache' },
];

const kafkaProvider = (name: string, config: Record<string, unknown>) => ({ kind: 'provider', name, type: 'kafka', roles: ['stream'], config });

async function apply(resources: object[]): Promise<void> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
  expect(res.statusCode, res.body).toBe(200);
}

const push = (source: string, events: readonly Event[]) => t.app.inject({ method: 'POST', url: `/v1/push/${source}`, headers: t.auth, payload: { events } });

async function readOnline(source: string, users: readonly string[]): Promise<unknown[][]> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/features/online', headers: t.auth, payload: { features: [`${source}_sum`, `${source}_last`], entities: users.map((user_id) => ({ user_id })) } });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { results: { values: unknown[] }[] }).results.map((r) => r.values);
}

/** Sum and last value per user: every event is well inside the sliding 2 h window and the 1 h lateness, so all count. */
function expected(events: readonly Event[], users: readonly string[]): unknown[][] {
  return users.map((user) => {
    const mine = events.filter((e) => e.user_id === user);
    if (mine.length === 0) return [null, null];
    const last = mine.reduce((a, b) => (b.ts >= a.ts ? b : a));
    return [mine.reduce((sum, e) => sum + e.amount, 0), last.amount];
  });
}

async function until<T>(probe: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function caughtUp(source: string, provider: string, sourceTopic: string): Promise<void> {
  // A job whose provider failed before starts on the supervisor's next retry: up to its 30 s re-scan period.
  const jobs = await until(() => t.streamSupervisor.jobs, (all) => all.some((j) => j.source === `${source}@default`), 60_000);
  const job = jobs.find((j) => j.source === `${source}@default`);
  expect(job, `no stream job for ${source}: ${JSON.stringify(jobs.map((j) => j.source))}`).toBeDefined();
  await waitCaughtUp(await t.streams.provider(`${provider}@default`), job!.groupId, sourceTopic);
}

let clock = Date.now() - 30 * MIN;
const events = (users: readonly string[], count: number): Event[] =>
  Array.from({ length: count }, (_, i) => ({ user_id: users[i % users.length]!, amount: ((i * 37) % 201) - 100, ts: (clock += 1000) }));

beforeAll(async () => {
  broker = await startSecureKafkaBroker();
  expect(await startSecureKafkaBroker()).toBe(broker); // started once per process
  process.env[PASSWORD_VAR] = broker.password;
  process.env[WRONG_VAR] = `${broker.password}-not`;
  process.env[MECHANISM_VAR] = 'gssapi';
  delete process.env[UNSET_VAR];
  topic = await broker.createTopic('secure-clicks');
  t = await openTestTrellis('pglite');
  const scram = (password: string) => ({ mechanism: 'scram-sha-512', username: broker.username, password });
  await apply([
    { kind: 'provider', name: 'cache', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
    { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
    kafkaProvider('secure', { brokers: [broker.saslSsl], ssl: { ca: `file:${broker.caFile}` }, sasl: scram(`env:${PASSWORD_VAR}`) }),
    ...streamResources('secure_clicks', 'secure', topic),
  ]);
}, 240_000);

afterAll(async () => {
  await t?.close();
  await broker?.dispose();
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
  for (const name of [PASSWORD_VAR, WRONG_VAR, MECHANISM_VAR]) delete process.env[name];
});

describe('a kafka provider over SASL_SSL with SCRAM-SHA-512 (CA and password as secret references)', () => {
  const users = ['u0', 'u1', 'u2'];
  const sent: Event[] = [];

  it('takes pushed events to the topic and serves their exact window values', async () => {
    const batch = events(users, 24);
    const res = await push('secure_clicks', batch);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ accepted: batch.length, topic, dropped: 0 });
    sent.push(...batch);
    await caughtUp('secure_clicks', 'secure', topic);
    expect(await readOnline('secure_clicks', [...users, 'nobody'])).toEqual(expected(sent, [...users, 'nobody']));
  }, 90_000);

  it('serves events produced by another SCRAM client of the broker', async () => {
    const batch = events(users, 9);
    const producer = broker.client().producer();
    await producer.connect();
    await producer.send({ topic, messages: batch.map((e) => ({ key: e.user_id, value: JSON.stringify(e) })) });
    await producer.disconnect();
    sent.push(...batch);
    await caughtUp('secure_clicks', 'secure', topic);
    expect(await readOnline('secure_clicks', users)).toEqual(expected(sent, users));
  }, 60_000);
});

describe('SASL_PLAINTEXT with PLAIN, and mutual TLS with a client certificate', () => {
  it('serves pushed events through each', async () => {
    const plainTopic = await broker.createTopic('plain-clicks');
    const mtlsTopic = await broker.createTopic('mtls-clicks');
    await apply([
      kafkaProvider('plain', { brokers: [broker.saslPlaintext], sasl: { mechanism: 'plain', username: broker.username, password: `env:${PASSWORD_VAR}` } }),
      kafkaProvider('mtls', { brokers: [broker.mtls], ssl: { ca: `file:${broker.caFile}`, cert: `file:${broker.clientCertFile}`, key: `file:${broker.clientKeyFile}` } }),
      ...streamResources('plain_clicks', 'plain', plainTopic),
      ...streamResources('mtls_clicks', 'mtls', mtlsTopic),
    ]);
    const users = ['p0', 'p1'];
    for (const [source, provider, sourceTopic] of [['plain_clicks', 'plain', plainTopic], ['mtls_clicks', 'mtls', mtlsTopic]] as const) {
      const batch = events(users, 10);
      const res = await push(source, batch);
      expect(res.statusCode, res.body).toBe(202);
      await caughtUp(source, provider, sourceTopic);
      expect(await readOnline(source, users)).toEqual(expected(batch, users));
    }
  }, 120_000);
});

describe('misconfigured providers: coded errors with the reason, no hang, no crash', () => {
  const cases = [
    { provider: 'wrong_password', config: () => ({ brokers: [broker.saslSsl], ssl: { ca: `file:${broker.caFile}` }, sasl: { mechanism: 'scram-sha-512', username: broker.username, password: `env:${WRONG_VAR}` } }), reason: /SCRAM SHA512 authentication failed.*check sasl\.username, sasl\.password/ },
    { provider: 'unknown_ca', config: () => ({ brokers: [broker.saslSsl], ssl: { ca: `file:${broker.otherCaFile}` }, sasl: { mechanism: 'scram-sha-512', username: broker.username, password: `env:${PASSWORD_VAR}` } }), reason: /TLS handshake with broker 127\.0\.0\.1:\d+ failed: self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\): .*set ssl\.ca/ },
    { provider: 'unset_secret', config: () => ({ brokers: [broker.saslSsl], ssl: { ca: `file:${broker.caFile}` }, sasl: { mechanism: 'scram-sha-512', username: broker.username, password: `env:${UNSET_VAR}` } }), reason: new RegExp(`environment variable ${UNSET_VAR} \\(referenced at /config/sasl/password\\) is not set`) },
    { provider: 'bad_mechanism', config: () => ({ brokers: [broker.saslSsl], ssl: { ca: `file:${broker.caFile}` }, sasl: { mechanism: `env:${MECHANISM_VAR}`, username: broker.username, password: `env:${PASSWORD_VAR}` } }), reason: /kafka provider config sasl\.mechanism: expected plain, scram-sha-256 or scram-sha-512/ },
  ];

  beforeAll(async () => {
    await apply(cases.flatMap((c) => [kafkaProvider(c.provider, c.config()), ...streamResources(`${c.provider}_clicks`, c.provider, topic)]));
  });

  it.each(cases)('$provider: the push answers 503 TRELLIS_ERR_PROVIDER_UNAVAILABLE naming the provider and the reason', async ({ provider, reason }) => {
    const res = await push(`${provider}_clicks`, events(['x'], 2));
    expect(res.statusCode, res.body).toBe(503);
    const error = (res.json() as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('TRELLIS_ERR_PROVIDER_UNAVAILABLE');
    expect(error.message).toContain(`Provider ${provider}@default unavailable: `);
    expect(error.message).toMatch(reason);
    expect(res.body).not.toContain(broker.password);
  }, 30_000);

  it('their stream jobs do not start (and are retried) while the working source keeps serving', async () => {
    // Two supervisor retry rounds (2 s, then 4 s) pass without any of them starting.
    await new Promise((r) => setTimeout(r, 7000));
    const running = t.streamSupervisor.jobs.map((j) => j.source).sort();
    expect(running).toEqual(['mtls_clicks@default', 'plain_clicks@default', 'secure_clicks@default']);
    const batch = events(['late'], 5);
    expect((await push('secure_clicks', batch)).statusCode).toBe(202);
    await caughtUp('secure_clicks', 'secure', topic);
    expect(await readOnline('secure_clicks', ['late'])).toEqual(expected(batch, ['late']));
  }, 60_000);

  it('deleted and applied again with the right password, the provider serves its source', async () => {
    const del = async (kind: string, name: string) => {
      const res = await t.app.inject({ method: 'DELETE', url: `/v1/${kind}/${name}/default`, headers: t.auth });
      expect(res.statusCode, res.body).toBe(204);
    };
    await del('feature', 'wrong_password_clicks_sum');
    await del('feature', 'wrong_password_clicks_last');
    await del('source', 'wrong_password_clicks');
    await del('provider', 'wrong_password');
    const fixed = { ...cases[0]!.config(), sasl: { mechanism: 'scram-sha-512', username: broker.username, password: `env:${PASSWORD_VAR}` } };
    await apply([kafkaProvider('wrong_password', fixed), ...streamResources('wrong_password_clicks', 'wrong_password', topic)]);
    const batch = events(['fixed'], 3);
    const res = await push('wrong_password_clicks', batch);
    expect(res.statusCode, res.body).toBe(202);
    await caughtUp('wrong_password_clicks', 'wrong_password', topic);
    expect(await readOnline('wrong_password_clicks', ['fixed'])).toEqual(expected(batch, ['fixed']));
  }, 90_000);

  it('a rotated file: secret is read again: the push and the stream job recover without a restart', async () => {
    const secretFile = join(broker.dir, `password-${uniqueId()}`);
    await writeFile(secretFile, 'an-old-password\n');
    const rotatedTopic = await broker.createTopic('rotated-clicks');
    await apply([
      kafkaProvider('rotated', { brokers: [broker.saslSsl], ssl: { ca: `file:${broker.caFile}` }, sasl: { mechanism: 'scram-sha-512', username: broker.username, password: `file:${secretFile}` } }),
      ...streamResources('rotated_clicks', 'rotated', rotatedTopic),
    ]);
    const refused = await push('rotated_clicks', events(['r'], 1));
    expect(refused.statusCode, refused.body).toBe(503);
    expect(refused.body).toContain('SCRAM SHA512 authentication failed');
    await writeFile(secretFile, `${broker.password}\n`);
    const batch = events(['r0', 'r1'], 6);
    const res = await push('rotated_clicks', batch);
    expect(res.statusCode, res.body).toBe(202);
    await caughtUp('rotated_clicks', 'rotated', rotatedTopic);
    expect(await readOnline('rotated_clicks', ['r0', 'r1'])).toEqual(expected(batch, ['r0', 'r1']));
  }, 120_000);
});

describe('a kafka provider config kafkajs cannot use', () => {
  it('is refused at apply with the pointer of the bad key, and nothing is stored', async () => {
    const res = await t.app.inject({
      method: 'POST', url: '/v1/apply', headers: t.auth,
      payload: { resources: [kafkaProvider('gssapi', { brokers: [broker.saslSsl], sasl: { mechanism: 'gssapi', username: broker.username, password: `env:${PASSWORD_VAR}` } })] },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'TRELLIS_ERR_INVALID_DEFINITION', pointer: '/resources/0/config/sasl/mechanism' } });
    expect(res.json().error.message).toContain('expected plain, scram-sha-256 or scram-sha-512');
    expect((await t.app.inject({ method: 'GET', url: '/v1/provider/gssapi/default', headers: t.auth })).statusCode).toBe(404);
  });
});

describe('secrets in a kafka provider config', () => {
  it('refuses a literal client key (ssl.key) at apply with its pointer, and stores nothing', async () => {
    const key = await readFile(broker.clientKeyFile, 'utf8');
    const res = await t.app.inject({
      method: 'POST', url: '/v1/apply', headers: t.auth,
      payload: { resources: [kafkaProvider('literal_key', { brokers: [broker.mtls], ssl: { ca: broker.caPem, cert: `file:${broker.clientCertFile}`, key } })] },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'TRELLIS_ERR_LITERAL_SECRET', pointer: '/resources/0/config/ssl/key' } });
    expect(res.body).not.toContain(key.split('\n')[1]);
    const get = (name: string) => t.app.inject({ method: 'GET', url: `/v1/provider/${name}/default`, headers: t.auth });
    expect((await get('secure')).statusCode).toBe(200);
    expect((await get('literal_key')).statusCode).toBe(404);
  });
});

describe('a stream supervisor with a job that keeps failing', () => {
  it('logs the reason, and a source applied meanwhile starts at once (not after the failing job\'s back-off)', async () => {
    // Its own instance without a coordinator, and a supervisor whose retry back-off (10 min) outlasts the test.
    const own = await openTestTrellis('pglite', { coordinator: { enabled: false } });
    const streams = new StreamRuntime(own.registry, { dataDir: null });
    const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
    const supervisor = new StreamSupervisor({ registry: own.registry, streams, restartDelayMs: 600_000, rescanMs: 600_000, logger: { info: () => {}, warn: (message, fields) => warnings.push({ message, fields }) } });
    const applyOwn = async (resources: object[]) => {
      const res = await own.app.inject({ method: 'POST', url: '/v1/apply', headers: own.auth, payload: { resources } });
      expect(res.statusCode, res.body).toBe(200);
      supervisor.changed(); // what a Trellis instance does on apply
    };
    try {
      const goodTopic = await broker.createTopic('after-failure');
      await applyOwn([
        { kind: 'provider', name: 'cache', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
        { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
        kafkaProvider('untrusted', { brokers: [broker.saslSsl], ssl: { ca: `file:${broker.otherCaFile}` }, sasl: { mechanism: 'scram-sha-512', username: broker.username, password: `env:${PASSWORD_VAR}` } }),
        ...streamResources('untrusted_clicks', 'untrusted', topic),
      ]);
      await supervisor.start();
      const failed = warnings.find((w) => w.message === 'stream supervisor: cannot start stream job');
      expect(failed?.fields).toMatchObject({ source: 'untrusted_clicks@default', failures: 1 });
      expect(String(failed?.fields?.error)).toMatch(/TLS handshake with broker 127\.0\.0\.1:\d+ failed: .*SELF_SIGNED_CERT_IN_CHAIN.*set ssl\.ca/);
      expect(supervisor.jobs).toEqual([]);

      await applyOwn([
        kafkaProvider('trusted', { brokers: [broker.saslSsl], ssl: { ca: `file:${broker.caFile}` }, sasl: { mechanism: 'scram-sha-512', username: broker.username, password: `env:${PASSWORD_VAR}` } }),
        ...streamResources('trusted_clicks', 'trusted', goodTopic),
      ]);
      const jobs = await until(() => supervisor.jobs, (all) => all.length > 0, 30_000);
      expect(jobs.map((j) => j.source)).toEqual(['trusted_clicks@default']);
      // The failing job was retried by that re-scan too, and failed again with the same reason.
      expect(warnings.filter((w) => w.message === 'stream supervisor: cannot start stream job').map((w) => w.fields?.failures)).toEqual([1, 2]);
    } finally {
      await supervisor.stop();
      await streams.close();
      await own.close();
    }
  }, 90_000);
});

describe('the adapter on each listener: what a misconfiguration reports', () => {
  it.each([
    { name: 'a client certificate missing on the mTLS listener', config: () => ({ brokers: [broker.mtls], ssl: { ca: broker.caPem } }), reason: /TLS handshake with broker .* failed: sslv3 alert bad certificate .*ssl\.cert and ssl\.key/ },
    { name: 'TLS to the SASL_PLAINTEXT listener', config: () => ({ brokers: [broker.saslPlaintext], ssl: { ca: broker.caPem }, sasl: { mechanism: 'plain', username: broker.username, password: broker.password } }), reason: /during the TLS handshake: the listener does not speak TLS/ },
    { name: 'no SASL on the SASL_SSL listener', config: () => ({ brokers: [broker.saslSsl], ssl: { ca: broker.caPem } }), reason: /Closed connection \(the broker closed the connection: its listener may require SASL \(sasl\)\)/ },
    { name: 'a wrong PLAIN password', config: () => ({ brokers: [broker.saslPlaintext], sasl: { mechanism: 'plain', username: broker.username, password: 'nope' } }), reason: /SASL PLAIN authentication failed/ },
    { name: 'the system CAs only (ssl: true)', config: () => ({ brokers: [broker.saslSsl], ssl: true, sasl: { mechanism: 'scram-sha-256', username: broker.username, password: broker.password } }), reason: /SELF_SIGNED_CERT_IN_CHAIN/ },
  ])('$name', async ({ config, reason }) => {
    const provider = await createKafkaStreamProvider(config());
    try {
      await expect(provider.producer()).rejects.toThrow(reason);
      await expect(provider.endOffsets(topic)).rejects.toThrow(reason);
    } finally {
      await provider.close();
    }
  }, 30_000);

  it('SCRAM-SHA-256 over SASL_SSL works', async () => {
    const provider = await createKafkaStreamProvider({ brokers: [broker.saslSsl], ssl: { ca: broker.caPem }, sasl: { mechanism: 'scram-sha-256', username: broker.username, password: broker.password } });
    try {
      const offsets = await provider.endOffsets(topic);
      expect(offsets.map((o) => o.partition)).toEqual([0]);
      expect(Number(offsets[0]!.offset)).toBeGreaterThan(0);
    } finally {
      await provider.close();
    }
  });
});

/**
 * Adapter plugins: modules named in config `adapters` (env TRELLIS_ADAPTERS) are imported at start and their
 * registrations join the built-ins — the plugin's provider type is accepted at apply (its validateConfig checks the
 * config), materialization writes through its store and online reads come back from it. Modules that cannot serve
 * fail the start naming the list entry.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedTileStore } from '../../adapters/embedded-online/embedded-tile-store.js';
import { KafkaStreamProvider } from '../../adapters/kafka/index.js';
import { builtinAdapters } from '../../src/builtin-adapters.js';
import { loadConfig } from '../../src/config/load-config.js';
import { isTrellisError } from '../../src/errors/trellis-error.js';
import { loadAdapterPlugins } from '../../src/spi/load-adapter-plugins.js';
import { createKafkaTopic, kafkaBrokers } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';

type Json = Record<string, any>;

const PLUGIN = path.resolve('test/fixtures/plugins/memory-online-plugin.ts');
const DAY = 86_400_000;

describe('an online-store plugin loaded from config.adapters', () => {
  let t: TestTrellis;
  const now = Date.now();
  // Several rows per user at distinct times; the served value is each user's latest amount.
  const rows = Array.from({ length: 400 }, (_, i) => ({ user_id: `u${i % 37}`, amount: (i * 7919) % 1000 / 4, ts: new Date(now - DAY - i * 60_000) }));
  const users = [...new Set(rows.map((r) => r.user_id))].sort();
  const apply = (resources: Json[]) => t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });

  beforeAll(async () => {
    t = await openTestTrellis('pglite', { adapters: [PLUGIN] });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists the plugin beside the built-ins at GET /v1/adapters', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/adapters', headers: t.auth });
    expect(res.statusCode, res.body).toBe(200);
    const items = res.json().items as Json[];
    expect(items.find((a) => a.id === 'memory-kv')).toEqual({ id: 'memory-kv', roles: ['online'], origin: PLUGIN, keepsStreamTiles: false, checksConfig: true });
    expect(items.find((a) => a.id === 'redis')).toMatchObject({ roles: ['online'], origin: 'trellis built-ins', keepsStreamTiles: true });
    expect(items.map((a) => a.id).sort()).toEqual(['bigquery', 'duckdb', 'embedded', 'kafka', 'memory-kv', 'postgres', 'redis', 'snowflake']);
    expect((await t.app.inject({ method: 'GET', url: '/v1/adapters' })).statusCode).toBe(401);
  });

  it('checks the plugin provider config at apply with its own validateConfig', async () => {
    const res = await apply([{ kind: 'provider', name: 'mem', type: 'memory-kv', roles: ['online'], config: { nme: 'x' } }]);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', pointer: '/resources/0/config/nme' });
    const wrongRole = await apply([{ kind: 'provider', name: 'mem', type: 'memory-kv', roles: ['offline'] }]);
    expect(wrongRole.statusCode, wrongRole.body).toBe(400);
    expect(wrongRole.json().error.pointer).toBe('/resources/0/roles');
  });

  it('materializes into the plugin store and serves online reads from it', async () => {
    const providers = await apply([
      { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'wh.duckdb' } },
      { kind: 'provider', name: 'mem', type: 'memory-kv', roles: ['online'], config: { name: 'plugin store' } },
    ]);
    expect(providers.statusCode, providers.body).toBe(200);
    const warehouse = await t.providers.offline('wh@default');
    await warehouse.executor.loadRows(
      { name: 'txns' },
      [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'float64' }, { name: 'ts', type: 'timestamp' }],
      rows.map((r) => [r.user_id, r.amount, r.ts]),
      { mode: 'create' },
    );
    const features = await apply([
      { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
      { kind: 'source', name: 'txns', provider: 'wh', table: 'txns', timestampColumn: 'ts' },
      { kind: 'feature', name: 'last_amount', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', onlineProvider: 'mem' },
    ]);
    expect(features.statusCode, features.body).toBe(200);

    const deadline = Date.now() + 45_000;
    let run = (await t.coordinator.store.list({ kind: 'feature', name: 'last_amount', variant: 'default', limit: 1 })).items[0]!;
    while (!['READY', 'FAILED', 'CANCELLED'].includes(run.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      run = (await t.coordinator.store.get(run.id))!;
    }
    expect(run.status, run.error ?? '').toBe('READY');
    expect(run.rowsWritten).toBe(users.length);

    const store = await t.providers.online('mem@default');
    expect(store.adapterId).toBe('memory-kv');
    const res = await t.app.inject({
      method: 'POST', url: '/v1/features/online', headers: t.auth,
      payload: { features: ['last_amount'], entities: [...users, 'nobody'].map((user_id) => ({ user_id })) },
    });
    expect(res.statusCode, res.body).toBe(200);
    const latest = new Map<string, (typeof rows)[number]>();
    for (const r of rows) if ((latest.get(r.user_id)?.ts.getTime() ?? -Infinity) < r.ts.getTime()) latest.set(r.user_id, r);
    const results = res.json().results as { values: unknown[]; statuses: string[] }[];
    expect(results.map((r) => r.values[0])).toEqual([...users.map((u) => latest.get(u)!.amount), null]);
    expect(results.map((r) => r.statuses[0])).toEqual([...users.map(() => 'PRESENT'), 'NOT_FOUND']);
  }, 60_000);

  it('refuses the plugin store as the online provider of a stream feature (it cannot keep tiles), at apply', async () => {
    const res = await apply([
      { kind: 'provider', name: 'events', type: 'kafka', roles: ['stream'], config: { brokers: ['127.0.0.1:1'] } },
      { kind: 'source', name: 'clicks', provider: 'events', topic: 'clicks', timestampColumn: 'ts', fields: [{ name: 'user_id', type: 'string' }, { name: 'ts', type: 'timestamp' }] },
      { kind: 'feature', name: 'clicks_1h', entity: 'user', source: 'clicks', aggregation: { fn: 'count', window: '1h' }, valueType: 'int', onlineProvider: 'mem' },
    ]);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', pointer: '/resources/2/onlineProvider' });
    expect(res.json().error.message).toMatch(/mem@\S+ is of type memory-kv, and tiles are kept by redis or embedded/);
  });
});

describe('a stream provider plugin and an online plugin that keeps tiles', () => {
  let dir: string;
  let t: TestTrellis;

  beforeAll(async () => {
    // A plugin bundling its own copy of the SPI: it builds Kafka clients, online stores and tile stores from the
    // compiled adapters (npm test builds dist first), recognised by their kind tags alone.
    dir = await mkdtemp(path.join(os.tmpdir(), 'trellis-stream-plugin-'));
    const dist = (file: string) => JSON.stringify(pathToFileURL(path.resolve('dist/adapters', file)).href);
    await writeFile(
      path.join(dir, 'acme.mjs'),
      [
        `import { createKafkaStreamProvider } from ${dist('kafka/index.js')};`,
        `import { createEmbeddedOnlineStore } from ${dist('embedded-online/index.js')};`,
        `import { createEmbeddedTileStore } from ${dist('embedded-online/embedded-tile-store.js')};`,
        "export const stream = { kind: 'trellis.adapter', id: 'acme-stream', roles: ['stream'], createStream: async (config) => createKafkaStreamProvider(config) };",
        "export const kv = { kind: 'trellis.adapter', id: 'acme-kv', roles: ['online'], createOnline: async (_c, ctx) => createEmbeddedOnlineStore({ dir: ctx.dataDir }),",
        '  createTileStore: async (_c, ctx) => createEmbeddedTileStore({ dir: ctx.dataDir }) };',
      ].join('\n'),
    );
    t = await openTestTrellis('pglite', { adapters: [path.join(dir, 'acme.mjs')] });
  });
  afterAll(async () => {
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a stream job through the plugin stream provider and serves exact windows from the plugin tile store', async () => {
    const topic = await createKafkaTopic('plugin-clicks', 2);
    const res = await t.app.inject({
      method: 'POST', url: '/v1/apply', headers: t.auth,
      payload: {
        resources: [
          { kind: 'provider', name: 'bus', type: 'acme-stream', roles: ['stream'], config: { brokers: kafkaBrokers() } },
          { kind: 'provider', name: 'tiles', type: 'acme-kv', roles: ['online'] },
          { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
          { kind: 'source', name: 'clicks', provider: 'bus', topic, timestampColumn: 'ts', allowedLateness: '1h', fields: [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'ts', type: 'timestamp' }] },
          { kind: 'feature', name: 'clicks_sum', entity: 'user', source: 'clicks', aggregation: { fn: 'sum', column: 'amount', window: '2h', slide: '1m' }, valueType: 'int', onlineProvider: 'tiles' },
          { kind: 'feature', name: 'clicks_count', entity: 'user', source: 'clicks', aggregation: { fn: 'count', window: '2h', slide: '1m' }, valueType: 'int', onlineProvider: 'tiles' },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const users = ['a', 'b', 'c'];
    // 30 min old: inside both sliding 2 h windows (a tumbling 2 h window would serve the last closed one, which
    // depends on the wall clock).
    const start = Date.now() - 30 * 60_000;
    const events = Array.from({ length: 60 }, (_, i) => ({ user_id: users[i % 3]!, amount: (i * 37) % 101, ts: start + i * 1000 }));
    const pushed = await t.app.inject({ method: 'POST', url: '/v1/push/clicks', headers: t.auth, payload: { events } });
    expect(pushed.statusCode, pushed.body).toBe(202);

    const expected = users.map((u) => {
      const mine = events.filter((e) => e.user_id === u);
      return [mine.reduce((sum, e) => sum + e.amount, 0), mine.length];
    });
    const read = async () => {
      const online = await t.app.inject({ method: 'POST', url: '/v1/features/online', headers: t.auth, payload: { features: ['clicks_sum', 'clicks_count'], entities: users.map((user_id) => ({ user_id })) } });
      expect(online.statusCode, online.body).toBe(200);
      return (online.json() as { results: { values: unknown[] }[] }).results.map((r) => r.values);
    };
    const deadline = Date.now() + 60_000;
    let values = await read();
    while (JSON.stringify(values) !== JSON.stringify(expected) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      values = await read();
    }
    expect(values).toEqual(expected);
    // Built by the plugin's own copies of the adapters, not by the built-in kafka/embedded registrations.
    expect(await t.streams.tileStore('tiles@default')).not.toBeInstanceOf(EmbeddedTileStore);
    expect(await t.streams.provider('bus@default')).not.toBeInstanceOf(KafkaStreamProvider);
  }, 90_000);
});

describe('loading adapter plugins', () => {
  let dir: string;
  /** Writes an ESM module into the scratch directory and returns its path. */
  const module = async (name: string, source: string) => {
    const file = path.join(dir, name);
    await writeFile(file, source);
    return file;
  };
  const registration = (id: string, roles: string) =>
    `{ kind: 'trellis.adapter', id: '${id}', roles: ${roles}, createOnline: async () => ({}), createStream: async () => ({}) }`;
  const startFails = async (specifiers: string[]) => {
    const error = await loadAdapterPlugins(builtinAdapters(), specifiers, dir).then(() => undefined, (e: unknown) => e);
    expect(isTrellisError(error) && error.code, String(error)).toBe('TRELLIS_ERR_CONFIG_INVALID');
    return (error as Error).message;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'trellis-plugins-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes TRELLIS_ADAPTERS as a comma-separated list', () => {
    expect(loadConfig({}, { TRELLIS_ADAPTERS: ' ./a.js, @acme/trellis-kv ,' }).adapters).toEqual(['./a.js', '@acme/trellis-kv']);
    expect(loadConfig({}, {}).adapters).toEqual([]);
  });

  it('registers the default export, named exports and arrays of registrations, from a path or a package name', async () => {
    await module('several.mjs', `export default [${registration('kv-one', "['online']")}];\nexport const two = ${registration('kv-two', "['online']")};\nexport const other = 42;`);
    const pkg = path.join(dir, 'node_modules', 'acme-kv');
    await mkdir(pkg, { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'acme-kv', type: 'module', exports: './main.js' }));
    await writeFile(path.join(pkg, 'main.js'), `export default ${registration('acme-kv', "['online']")};`);
    const catalogue = builtinAdapters();
    expect(await loadAdapterPlugins(catalogue, ['./several.mjs', 'acme-kv'], dir)).toEqual(['kv-one', 'kv-two', 'acme-kv']);
    expect(catalogue.providerTypes().get('acme-kv')).toEqual(['online']);
    expect(catalogue.get('kv-two')?.id).toBe('kv-two');
  });

  it('fails the start naming the entry: a missing module, no registration, a role without its factory, a clashing id', async () => {
    expect(await startFails(['./missing.mjs'])).toMatch(/adapters\.0: adapter plugin \.\/missing\.mjs: cannot be imported: .*missing\.mjs/);
    await module('nothing.mjs', 'export const answer = 42;');
    expect(await startFails(['./nothing.mjs'])).toMatch(/adapters\.0: .*exports no adapter registration/);
    await module('no-factory.mjs', `export default ${registration('half-kv', "['offline']")};`);
    expect(await startFails(['./no-factory.mjs'])).toMatch(/adapter half-kv from \.\/no-factory\.mjs claims role offline but has no factory for it/);
    await module('clash.mjs', `export default ${registration('redis', "['online']")};`);
    expect(await startFails(['./clash.mjs'])).toMatch(/adapter id redis registered twice: by trellis built-ins and by \.\/clash\.mjs/);
    await module('ok.mjs', `export default ${registration('fine-kv', "['online']")};`);
    expect(await startFails(['./ok.mjs', './nothing.mjs'])).toMatch(/adapters\.1: /);
  });

  it('a bad plugin stops `trellis serve` with the reason and exit code 1', async () => {
    await module('empty.mjs', 'export {};');
    const serve = promisify(execFile)(process.execPath, [path.resolve('dist/src/cli/main.js'), 'serve'], {
      cwd: dir,
      env: { ...process.env, TRELLIS_ADAPTERS: './empty.mjs', TRELLIS_DATA_DIR: path.join(dir, 'data'), TRELLIS_PORT: '0', TRELLIS_LOG_LEVEL: 'silent' },
      timeout: 30_000,
    });
    const failure = (await serve.then(() => undefined, (e: unknown) => e)) as { code?: number; stderr?: string } | undefined;
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/TRELLIS_ERR_CONFIG_INVALID: Invalid configuration at adapters\.0: adapter plugin \.\/empty\.mjs: exports no adapter registration/);
  }, 40_000);
});

describe('the package entry points for plugin authors', () => {
  it('trellis/spi and trellis/testkit resolve to the built SPI and conformance suites', async () => {
    const script = "const spi = await import('trellis/spi'); const kit = await import('trellis/testkit');" +
      'console.log(JSON.stringify([typeof spi.ProviderConfigError, typeof spi.isOnlineStore, typeof spi.OnlineStoreBase, new spi.PostgresSqlCompiler().dialect, Object.keys(kit).sort()]));';
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: path.resolve('.') });
    expect(JSON.parse(stdout)).toEqual(['function', 'function', 'function', 'postgres', ['runOfflineStoreConformance', 'runOnlineStoreConformance', 'runStreamProviderConformance', 'runTileStoreConformance']]);
  });
});

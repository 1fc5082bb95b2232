/**
 * Apply-time check of sources (issue 3): a source whose table does not exist, or a feature/label reading a
 * column its source lacks, is a 400 naming it with a JSON pointer — on a real DuckDB file and a real Postgres
 * warehouse. Also: hostile names, query sources, features over transformations (not checked), the opt-outs
 * (`?verify=false`, `trellis apply --no-verify`) and unreachable providers (503, time-boxed, never a hang).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDuckDbOfflineStore } from '../../adapters/duckdb/index.js';
import { runApply } from '../../src/cli/apply-command.js';
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { createTestDatabase, uniqueId, type TestDatabase } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';

type Json = Record<string, any>;

const HOSTILE_TABLE = 'we"ird; DROP TABLE events; --`t';
const HOSTILE_COLUMN = 'v"a`l; --';

interface Warehouse {
  readonly name: 'duckdb' | 'postgres';
  /** The provider definition's type and config. */
  readonly provider: Json;
  /** Quoted identifiers are case-sensitive (Postgres) or not (DuckDB). */
  readonly caseSensitive: boolean;
  run(sql: string): Promise<void>;
  close(): Promise<void>;
}

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function seed(w: Pick<Warehouse, 'run'>): Promise<void> {
  await w.run(`CREATE TABLE events (user_id VARCHAR(20), ts TIMESTAMP, created TIMESTAMP, amount DOUBLE PRECISION, label BOOLEAN)`);
  await w.run(`CREATE TABLE ${q(HOSTILE_TABLE)} (user_id VARCHAR(20), ts TIMESTAMP, ${q(HOSTILE_COLUMN)} DOUBLE PRECISION)`);
  await w.run(`INSERT INTO events VALUES ('u1', TIMESTAMP '2026-01-01 00:00:00', TIMESTAMP '2026-01-01 00:00:00', 1.5, true)`);
}

async function duckdbWarehouse(): Promise<Warehouse> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-verify-'));
  const file = path.join(dir, 'warehouse.duckdb');
  // Kept open while Trellis checks the same file: both share one DuckDB instance in this process.
  const store: OfflineStore = await createDuckDbOfflineStore({ path: file });
  const w: Warehouse = {
    name: 'duckdb',
    provider: { type: 'duckdb', config: { path: file } },
    caseSensitive: false,
    run: async (sql) => void (await store.executor.run({ sql, parameters: [] })),
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await seed(w);
  return w;
}

async function postgresWarehouse(): Promise<Warehouse> {
  const database: TestDatabase = await createTestDatabase('verify');
  const env = `TRELLIS_TEST_VERIFY_URL_${uniqueId(3).toUpperCase()}`;
  process.env[env] = database.url;
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const w: Warehouse = {
    name: 'postgres',
    provider: { type: 'postgres', config: { connectionString: `env:${env}` } },
    caseSensitive: true,
    run: async (sql) => void (await client.query(sql)),
    async close() {
      await client.end();
      delete process.env[env];
      await database.drop();
    },
  };
  await seed(w);
  return w;
}

const entity = { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] };
const source = (over: Json = {}) => ({ kind: 'source', name: 'events', provider: 'wh', table: 'events', timestampColumn: 'ts', createdTimestampColumn: 'created', ...over });
const feature = (over: Json = {}) => ({ kind: 'feature', name: 'amount', entity: 'user', source: 'events', column: 'amount', valueType: 'float', ...over });

describe.each([{ open: duckdbWarehouse }, { open: postgresWarehouse }])('apply checks sources in the warehouse (%#)', ({ open }) => {
  let w: Warehouse;
  let t: TestTrellis;
  const provider = (name = 'wh') => ({ kind: 'provider', name, roles: ['offline'], ...w.provider });
  const apply = (resources: unknown[], query = '') => t.app.inject({ method: 'POST', url: `/v1/apply${query}`, headers: t.auth, payload: { resources } });
  const expectRefused = async (resources: unknown[], code: string, pointer: string, names: string) => {
    const res = await apply(resources);
    expect(res.statusCode, res.body).toBe(400);
    const error = res.json().error;
    expect(error.code).toBe(code);
    expect(error.details.pointer).toBe(pointer);
    expect(error.message).toContain(names);
    return error;
  };

  beforeAll(async () => {
    w = await open();
    t = await openTestTrellis('pglite', { coordinator: { enabled: false } });
  });
  afterAll(async () => {
    await t?.close();
    await w?.close();
  });

  it('refuses a source whose table does not exist, naming the table, and applies nothing', async () => {
    const error = await expectRefused([provider(), entity, source({ table: 'evnets' })], 'TRELLIS_ERR_MISSING_TABLE', '/resources/2/table', 'evnets');
    expect(error.message).toContain('wh@default');
    expect((await t.app.inject({ method: 'GET', url: '/v1/provider/wh', headers: t.auth })).statusCode).toBe(404);
    // A plan (dry run) checks too.
    const dry = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources: [provider(), entity, source({ table: 'evnets' })], dryRun: true } });
    expect(dry.json().error.code).toBe('TRELLIS_ERR_MISSING_TABLE');
  });

  it('refuses a source whose timestamp columns do not exist', async () => {
    await expectRefused([provider(), entity, source({ timestampColumn: 'event_ts' })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/2/timestampColumn', 'event_ts');
    await expectRefused([provider(), entity, source({ createdTimestampColumn: 'ingested' })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/2/createdTimestampColumn', 'ingested');
  });

  it('refuses a feature or label reading a missing column, pointing at the field that names it', async () => {
    const base = [provider(), entity, source()];
    await expectRefused([...base, feature({ column: 'amt' })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/3/column', 'amt');
    await expectRefused([...base, feature({ keyColumns: ['uid'] })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/3/keyColumns/0', 'uid');
    await expectRefused([...base, feature({ column: undefined, aggregation: { fn: 'sum', column: 'amount_usd', window: '7d' } })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/3/aggregation/column', 'amount_usd');
    await expectRefused([...base, feature({ timestampColumn: 'valid_from' })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/3/timestampColumn', 'valid_from');
    await expectRefused([provider(), { ...entity, keys: [{ name: 'customer_id', type: 'string' }] }, source(), feature()], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/3/entity', 'customer_id');
    await expectRefused([...base, { kind: 'label', name: 'fraud', entity: 'user', source: 'events', column: 'is_fraud', valueType: 'bool' }], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/3/column', 'is_fraud');
  });

  it('applies what exists, then checks a later feature against the registered source', async () => {
    const ok = await apply([provider(), entity, source(), feature(), { kind: 'label', name: 'fraud', entity: 'user', source: 'events', column: 'label', valueType: 'bool' }]);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().actions.every((a: Json) => a.action === 'create')).toBe(true);
    // Provider and source are registered now: the check uses the provider pool's store.
    await expectRefused([feature({ name: 'amount_typo', column: 'amout' })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/0/column', 'amout');
    const later = await apply([feature({ name: 'amount_again' })]);
    expect(later.statusCode, later.body).toBe(200);
    // Unchanged re-applies are not re-checked (nothing new reads the warehouse).
    expect((await apply([provider(), entity, source(), feature()])).json().actions.every((a: Json) => a.action === 'unchanged')).toBe(true);
  });

  it('compares names as the dialect resolves quoted identifiers', async () => {
    const res = await apply([provider(), entity, source({ name: 'events_upper', table: 'EVENTS', timestampColumn: 'TS', createdTimestampColumn: undefined })]);
    if (w.caseSensitive) {
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('TRELLIS_ERR_MISSING_TABLE');
    } else {
      expect(res.statusCode, res.body).toBe(200);
    }
  });

  it('checks hostile table and column names without breaking out of quoting', async () => {
    const hostile = source({ name: 'hostile', table: HOSTILE_TABLE, createdTimestampColumn: undefined });
    const ok = await apply([provider(), entity, hostile, feature({ name: 'hostile_value', source: 'hostile', column: HOSTILE_COLUMN })]);
    expect(ok.statusCode, ok.body).toBe(200);
    await expectRefused([provider(), entity, hostile, feature({ name: 'hostile_other', source: 'hostile', column: `${HOSTILE_COLUMN}x` })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/3/column', `${HOSTILE_COLUMN}x`);
    await expectRefused([provider(), entity, source({ name: 'hostile_missing', table: `${HOSTILE_TABLE}"; --` })], 'TRELLIS_ERR_MISSING_TABLE', '/resources/2/table', `${HOSTILE_TABLE}"; --`);
    // The tables are intact.
    const again = await apply([provider(), entity, source({ name: 'events_intact' })]);
    expect(again.statusCode, again.body).toBe(200);
  });

  it('checks a query source by running it for its columns', async () => {
    const query = (sql: string, name: string) => source({ name, table: undefined, query: sql, createdTimestampColumn: undefined });
    const ok = await apply([provider(), entity, query('SELECT user_id, ts, amount * 2 AS doubled FROM events', 'doubled_events'), feature({ name: 'doubled', source: 'doubled_events', column: 'doubled' })]);
    expect(ok.statusCode, ok.body).toBe(200);
    await expectRefused([provider(), entity, query('SELECT user_id, ts FROM events', 'narrow_events'), feature({ name: 'narrow', source: 'narrow_events' })], 'TRELLIS_ERR_MISSING_COLUMN', '/resources/3/column', 'amount');
    const broken = await apply([provider(), entity, query('SELECT user_id, ts, nope FROM events', 'broken_events')]);
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error).toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', details: { pointer: '/resources/2/query' } });
    expect(broken.json().error.message).toMatch(/nope/);
  });

  it('does not check features over a transformation (its table exists only after its first run)', async () => {
    const transformation = { kind: 'transformation', name: 'daily', provider: 'wh', sql: 'SELECT user_id, ts, amount FROM {{ events }}', timestampColumn: 'ts' };
    const res = await apply([provider(), entity, source(), transformation, feature({ name: 'daily_amount', source: 'daily', column: 'not_checked' })]);
    expect(res.statusCode, res.body).toBe(200);
  });

  it('skips the check with ?verify=false and with trellis apply --no-verify', async () => {
    const res = await apply([provider(), entity, source({ name: 'later', table: 'created_tomorrow' })], '?verify=false');
    expect(res.statusCode, res.body).toBe(200);
    expect((await apply([], '?verify=maybe')).json().error).toMatchObject({ code: 'TRELLIS_ERR_VALIDATION', details: { pointer: '/querystring/verify' } });

    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const address = t.app.server.address() as net.AddressInfo;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-verify-cli-'));
    try {
      const file = path.join(dir, 'defs.json');
      writeFileSync(file, JSON.stringify({ resources: [provider(), entity, source({ name: 'cli_later', table: 'created_next_week' })] }));
      const remote = { url: `http://127.0.0.1:${address.port}`, key: t.adminKey, dryRun: false };
      expect(await runApply(file, remote)).toBe(1);
      expect(await runApply(file, { ...remote, verify: false })).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('apply with an unreachable provider', () => {
  let t: TestTrellis;
  let silent: net.Server;
  let silentPort: number;
  const sockets = new Set<net.Socket>();
  const entityDef = entity;
  const pgProvider = (name: string, connectionString: string) => ({ kind: 'provider', name, type: 'postgres', roles: ['offline'], config: { connectionString } });
  const apply = (resources: unknown[], query = '') => t.app.inject({ method: 'POST', url: `/v1/apply${query}`, headers: t.auth, payload: { resources } });

  beforeAll(async () => {
    // Accepts TCP connections and never answers: a warehouse that hangs.
    silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as net.AddressInfo).port;
    t = await openTestTrellis('pglite', { coordinator: { enabled: false } }, { verifyTimeoutMs: 1500 });
  });
  afterAll(async () => {
    await t?.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent?.close(resolve));
  });

  it('answers 503 with the reason when the connection is refused', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const res = await apply([pgProvider('refused', `postgres://u@127.0.0.1:${closed}/db`), entityDef, source({ provider: 'refused' })]);
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({ code: 'TRELLIS_ERR_SOURCE_UNVERIFIED', details: { pointer: '/resources/2/table', provider: 'refused@default' } });
    expect(res.json().error.message).toMatch(/ECONNREFUSED|connect/i);
  });

  it('answers 503 naming a secret that is not set', async () => {
    const res = await apply([pgProvider('unset', 'env:TRELLIS_TEST_NEVER_SET_URL'), entityDef, source({ provider: 'unset' })]);
    expect(res.statusCode).toBe(503);
    expect(res.json().error.message).toContain('TRELLIS_TEST_NEVER_SET_URL');
  });

  it('gives up after the time box instead of hanging, and applies with ?verify=false', async () => {
    const started = Date.now();
    const res = await apply([pgProvider('silent', `postgres://u@127.0.0.1:${silentPort}/db`), entityDef, source({ provider: 'silent' })]);
    expect(res.statusCode).toBe(503);
    expect(res.json().error.message).toContain('no answer within 1500 ms');
    expect(Date.now() - started).toBeLessThan(60_000);
    const skipped = await apply([pgProvider('silent', `postgres://u@127.0.0.1:${silentPort}/db`), entityDef, source({ provider: 'silent' })], '?verify=false');
    expect(skipped.statusCode, skipped.body).toBe(200);
    // The registry is not blocked by the abandoned check.
    expect((await t.app.inject({ method: 'GET', url: '/v1/source/events', headers: t.auth })).statusCode).toBe(200);
  });
});

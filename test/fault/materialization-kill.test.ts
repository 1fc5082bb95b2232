/**
 * A materialization into Redis whose worker process is killed with SIGKILL half-way (Feast leaves a partial online
 * store behind: #3310): another replica takes the run over once the lease expires, the run ends READY, and the
 * online store equals the warehouse's latest value for every entity. Real processes (scripts/materialize-worker.ts),
 * real Postgres (registry and warehouse) and Redis.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisOnlineStore } from '../../adapters/redis/index.js';
import { builtinAdapters } from '../../src/builtin-adapters.js';
import { RunStore } from '../../src/coordinator/run-store.js';
import { RunTriggers } from '../../src/coordinator/run-triggers.js';
import { migrate } from '../../src/registry/migrations.js';
import { openPostgresDatabase, type RegistryDatabase } from '../../src/registry/registry-database.js';
import { Registry } from '../../src/registry/registry.js';
import { buildWorkerScript, spawnReplica, type Replica } from '../support/coordinator-child.js';
import { waitForStatus } from '../support/coordinator-harness.js';
import { clearRedisPrefix, createRedisPrefix, createTestDatabase, redisUrl, uniqueId, type TestDatabase } from '../support/services.js';

const USERS = 6_000;
const ROWS = 30_000;

describe('materialization survives kill -9 of its worker', () => {
  let worker: { script: string; cleanup: () => void };
  let registryDb: TestDatabase;
  let warehouse: TestDatabase;
  let db: RegistryDatabase;
  let redis: Redis;
  const prefix = createRedisPrefix('matkill');
  const envVar = `TRELLIS_T_WH_${uniqueId(4).toUpperCase()}`;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    [worker, registryDb, warehouse] = await Promise.all([buildWorkerScript('materialize-worker'), createTestDatabase('matkill_reg'), createTestDatabase('matkill_wh')]);
    process.env[envVar] = warehouse.url;
    db = await openPostgresDatabase(registryDb.url);
    await migrate(db);
    redis = new Redis(redisUrl());
    const wh = new pg.Client({ connectionString: warehouse.url });
    await wh.connect();
    // Several rows per user; event times distinct per user (i seconds back), amounts exact in binary.
    await wh.query(`create table txns as
      select 'u' || lpad((i % ${USERS})::text, 5, '0') as user_id, ((i * 7919) % 4000) / 4.0 as amount,
             timestamp '2026-01-01 00:00:00' - make_interval(secs => i) as ts
      from generate_series(1, ${ROWS}) as g(i)`);
    await wh.end();
  }, 240_000);

  afterAll(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
    await db?.close();
    await clearRedisPrefix(redis, prefix).catch(() => {});
    redis?.disconnect();
    await registryDb?.drop();
    await warehouse?.drop();
    delete process.env[envVar];
    worker?.cleanup();
  });

  it('another replica resumes after lease expiry; READY; online = warehouse latest for every entity', async () => {
    const registry = new Registry(db, { providerTypes: builtinAdapters().providerTypes() });
    const plan = await registry.apply(
      [
        { kind: 'provider', name: 'wh', type: 'postgres', roles: ['offline'], config: { connectionString: `env:${envVar}` } },
        { kind: 'provider', name: 'kv', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: prefix } },
        { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
        { kind: 'source', name: 'txns', provider: 'wh', table: 'txns', timestampColumn: 'ts' },
        { kind: 'feature', name: 'last_amount', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
      ],
      { actor: 'test' },
    );
    const [run] = await new RunTriggers(registry, new RunStore(db)).onApplied(plan);
    expect(run?.task).toBe('materialization');

    const env = { TRELLIS_DATABASE_URL: registryDb.url, TRELLIS_LEASE_MS: '2000', TRELLIS_BATCH_SIZE: '500', [envVar]: warehouse.url };
    const a = spawnReplica(worker.script, 'replica-a', { ...env, TRELLIS_WRITE_DELAY_MS: '150' });
    replicas.push(a);
    await a.ready;
    // Kill it after a few chunks: the online store is now partial.
    let written = 0;
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        written += chunk.toString().split('\n').filter((l) => l.includes('"event":"written"')).length;
        if (written >= 3) {
          a.child.stdout!.off('data', onData);
          resolve();
        }
      };
      a.child.stdout!.on('data', onData);
    });
    a.child.kill('SIGKILL');
    await a.exited;
    const { rows: killed } = await db.query<{ status: string; lease_owner: string | null }>('select status, lease_owner from runs where id = $1', [run!.id]);
    expect(killed[0]!.status).toBe('RUNNING');
    expect(killed[0]!.lease_owner).toMatch(/^replica-a/);

    const online = await createRedisOnlineStore({ url: redisUrl(), keyPrefix: prefix, commandTimeoutMs: 5_000, name: 'test' });
    const users = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(5, '0')}`);
    const partial = (await online.read('user@default', users.map((u) => [u]), ['last_amount@default'])).filter((r) => r[0] !== null).length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(USERS);

    const b = spawnReplica(worker.script, 'replica-b', env);
    replicas.push(b);
    await b.ready;
    await waitForStatus(db, run!.id, ['READY', 'FAILED', 'CANCELLED'], 60_000);
    const finished = await new RunStore(db).get(run!.id);
    expect(finished!.status, `${finished!.error}\n${b.log().slice(-2000)}`).toBe('READY');
    expect(finished!.attempts).toBe(2);
    expect(finished!.rowsRead).toBe(USERS);
    expect(finished!.logs.some((l) => l.worker?.startsWith('replica-b'))).toBe(true);

    // The oracle, from the warehouse's rows: the latest amount per user.
    const wh = new pg.Client({ connectionString: warehouse.url });
    await wh.connect();
    const { rows } = await wh.query<{ user_id: string; amount: number; ts: Date }>('select user_id, amount, ts from txns');
    await wh.end();
    const latest = new Map<string, { amount: number; ts: number }>();
    for (const r of rows) {
      const ts = r.ts.getTime();
      const seen = latest.get(r.user_id);
      if (!seen || seen.ts < ts) latest.set(r.user_id, { amount: Number(r.amount), ts });
    }
    const cells = await online.read('user@default', users.map((u) => [u]), ['last_amount@default']);
    const mismatches = users.filter((u, i) => {
      const cell = cells[i]![0];
      const want = latest.get(u)!;
      return !cell || cell.value !== want.amount;
    });
    expect(mismatches).toEqual([]);
    await online.close();
  }, 180_000);
});

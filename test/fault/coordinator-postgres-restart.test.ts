/**
 * Postgres restarted (`pg_ctl restart -m fast`) in the middle of a materialization: the coordinator reconnects and
 * the run completes or is retried cleanly — READY, and the online store (Redis) equals the warehouse's latest
 * value for every entity. The server is a dedicated throwaway cluster (initdb into a temporary directory, a free
 * port), holding both the registry and the warehouse, so the shared test Postgres is never disturbed. Needs the
 * PostgreSQL server binaries (/usr/lib/postgresql/<major>/bin, installed by scripts/services/postgres.sh); runs
 * them as the `postgres` OS user when the tests run as root (PostgreSQL refuses root).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisOnlineStore } from '../../adapters/redis/index.js';
import { builtinAdapters } from '../../src/builtin-adapters.js';
import { Coordinator, type CoordinatorLogger } from '../../src/coordinator/coordinator.js';
import { RunStore } from '../../src/coordinator/run-store.js';
import { RunTriggers } from '../../src/coordinator/run-triggers.js';
import { createTaskHandlers } from '../../src/coordinator/tasks/task-handlers.js';
import { migrate } from '../../src/registry/migrations.js';
import { openPostgresDatabase, type RegistryDatabase } from '../../src/registry/registry-database.js';
import { Registry } from '../../src/registry/registry.js';
import { ProviderPool } from '../../src/serving/provider-pool.js';
import type { OnlineStore } from '../../src/spi/online-store.js';
import { runRow, waitFor, waitForStatus } from '../support/coordinator-harness.js';
import { clearRedisPrefix, createRedisPrefix, redisUrl, uniqueId } from '../support/services.js';

const USERS = 4_000;
const ROWS = 16_000;
const BATCH = 200;

/** The newest PostgreSQL server binaries on a Debian layout (the same lookup as scripts/services/postgres.sh). */
function pgBinDir(): string {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base) ? readdirSync(base).filter((d) => existsSync(path.join(base, d, 'bin', 'pg_ctl'))) : [];
  majors.sort((a, b) => Number(a) - Number(b));
  const major = majors.pop();
  if (major === undefined) throw new Error(`no PostgreSQL server binaries under ${base}/*/bin (bash scripts/services/postgres.sh installs them)`);
  return path.join(base, major, 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A throwaway single-node cluster: initdb, start, restart, stop; trust auth on 127.0.0.1 for `postgres`. */
class ThrowawayPostgres {
  readonly dir: string;
  readonly port: number;
  readonly #bin: string;
  readonly #asRoot: boolean;

  private constructor(dir: string, port: number, bin: string) {
    this.dir = dir;
    this.port = port;
    this.#bin = bin;
    this.#asRoot = process.getuid?.() === 0;
  }

  static async create(): Promise<ThrowawayPostgres> {
    const bin = pgBinDir();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-pg-restart-'));
    const server = new ThrowawayPostgres(dir, await freePort(), bin);
    if (server.#asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(dir, uid, gid);
    }
    server.#run('initdb', ['-D', server.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
    writeFileSync(
      path.join(server.dataDir, 'postgresql.conf'),
      `${readFileSync(path.join(server.dataDir, 'postgresql.conf'), 'utf8')}
listen_addresses = '127.0.0.1'
port = ${server.port}
unix_socket_directories = '${dir}'
max_connections = 50
fsync = off
synchronous_commit = off
full_page_writes = off
`,
    );
    server.start();
    return server;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  start(): void {
    this.#pgCtl(['start', '-w', '-t', '120']);
  }

  /** `pg_ctl restart -m fast`: every session is terminated, the server shuts down and starts again. */
  restart(): void {
    this.#pgCtl(['restart', '-m', 'fast', '-w', '-t', '120']);
  }

  stop(): void {
    try {
      this.#pgCtl(['stop', '-m', 'immediate', '-w', '-t', '60']);
    } catch {
      // Not running (a failed start): nothing to stop.
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #pgCtl(args: string[]): void {
    this.#run('pg_ctl', ['-D', this.dataDir, '-l', path.join(this.dir, 'server.log'), ...args]);
  }

  #run(tool: string, args: string[]): void {
    const program = path.join(this.#bin, tool);
    const [file, argv] = this.#asRoot ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args];
    try {
      // stdio to files/ignore: the postmaster must not hold a pipe of ours open.
      execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.dir, timeout: 180_000 });
    } catch (error) {
      const log = existsSync(path.join(this.dir, 'server.log')) ? readFileSync(path.join(this.dir, 'server.log'), 'utf8').slice(-2000) : '';
      throw new Error(`${tool} ${args.join(' ')} failed: ${(error as Error).message}\n${log}`);
    }
  }
}

/** The shared provider pool with every online write slowed down and counted: the run lasts long enough to be hit. */
class SlowWritesProviderPool extends ProviderPool {
  written = 0;

  override async online(providerRef: string): Promise<OnlineStore> {
    const store = await super.online(providerRef);
    const writeBatch = store.writeBatch.bind(store);
    const slow = async (entity: string, table: string, rows: Parameters<OnlineStore['writeBatch']>[2]) => {
      await new Promise((resolve) => setTimeout(resolve, 60));
      const result = await writeBatch(entity, table, rows);
      this.written += 1;
      return result;
    };
    return new Proxy(store, {
      get(target, property) {
        if (property === 'writeBatch') return slow;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}

describe('coordinator across a real Postgres restart', () => {
  let server: ThrowawayPostgres;
  let db: RegistryDatabase;
  let providers: SlowWritesProviderPool;
  let coordinator: Coordinator | undefined;
  let redis: Redis;
  const prefix = createRedisPrefix('pgrestart');
  const envVar = `TRELLIS_T_WH_${uniqueId(4).toUpperCase()}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'trellis-pg-restart-data-'));

  beforeAll(async () => {
    server = await ThrowawayPostgres.create();
    const admin = new pg.Client({ connectionString: server.url('postgres') });
    await admin.connect();
    await admin.query('create database registry');
    await admin.query('create database warehouse');
    await admin.end();
    process.env[envVar] = server.url('warehouse');
    const wh = new pg.Client({ connectionString: server.url('warehouse') });
    await wh.connect();
    // Several rows per user, event times distinct per user, amounts exact in binary.
    await wh.query(`create table txns as
      select 'u' || lpad((i % ${USERS})::text, 5, '0') as user_id, ((i * 7919) % 4000) / 4.0 as amount,
             timestamp '2026-01-01 00:00:00' - make_interval(secs => i) as ts
      from generate_series(1, ${ROWS}) as g(i)`);
    await wh.end();
    db = await openPostgresDatabase(server.url('registry'));
    await migrate(db);
    redis = new Redis(redisUrl());
  }, 240_000);

  afterAll(async () => {
    await coordinator?.stop({ graceMs: 0 }).catch(() => {});
    await providers?.close().catch(() => {});
    await db?.close().catch(() => {});
    server?.stop();
    server?.remove();
    rmSync(dataDir, { recursive: true, force: true });
    delete process.env[envVar];
    if (redis) {
      await clearRedisPrefix(redis, prefix).catch(() => {});
      redis.disconnect();
    }
  });

  it('restart mid-materialization: the run ends READY (retried if the restart broke it) and online = warehouse latest', async () => {
    const adapters = builtinAdapters({ onlineTimeoutMs: 5_000 });
    const registry = new Registry(db, { providerTypes: adapters.providerTypes() });
    providers = new SlowWritesProviderPool(registry, adapters, dataDir);
    const messages: string[] = [];
    const logger: CoordinatorLogger = (level, message, fields) => messages.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    coordinator = new Coordinator({
      db,
      registry,
      handlers: createTaskHandlers({ registry, providers, materialization: { batchSize: BATCH } }),
      leaseMs: 5_000,
      heartbeatMs: 500,
      pollMs: 200,
      retry: { baseDelayMs: 200, maxDelayMs: 2_000, jitter: 0 },
      maxAttempts: 5,
      schedules: false,
      stopGraceMs: 0,
      logger,
    });
    await coordinator.start();

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

    // A few chunks into the run (of USERS / BATCH = 20), restart the server under it.
    await waitFor('a few chunks written', () => providers.written >= 4, 60_000, 10);
    const { rows: before } = await db.query<{ status: string }>('select status from runs where id = $1', [run!.id]);
    expect(before[0]!.status).toBe('RUNNING');
    const writtenBefore = providers.written;
    server.restart();

    // The test's own reads may meet a connection the restart killed: a failed probe is just another poll.
    await waitFor(
      'the run to finish',
      async () => {
        const row = await runRow(db, run!.id).catch(() => null);
        return row !== null && ['READY', 'FAILED', 'CANCELLED'].includes(row.status);
      },
      120_000,
      100,
    );
    const finished = (await coordinator.store.get(run!.id))!;
    expect(finished.status, `${finished.error}\n${finished.logs.map((l) => l.message).join('\n')}\n${messages.join('\n')}`).toBe('READY');
    expect(writtenBefore).toBeLessThan(USERS / BATCH); // the restart really hit the run in its middle
    expect(finished.rowsRead).toBe(USERS);
    // The restart ends the warehouse cursor and every registry connection: the attempt fails transiently (or its
    // lease runs out while the server is down) and the next one completes.
    if (finished.attempts > 1) {
      expect(finished.logs.some((l) => /\(transient\)/.test(l.message) || /lease/.test(l.message))).toBe(true);
    }
    expect(finished.logs.some((l) => l.level === 'error')).toBe(false);

    // The oracle, from the warehouse (after the restart): the latest amount per user.
    const wh = new pg.Client({ connectionString: server.url('warehouse') });
    await wh.connect();
    const { rows } = await wh.query<{ user_id: string; amount: number; ts: Date }>('select user_id, amount, ts from txns');
    await wh.end();
    const latest = new Map<string, { amount: number; ts: number }>();
    for (const r of rows) {
      const ts = r.ts.getTime();
      const seen = latest.get(r.user_id);
      if (!seen || seen.ts < ts) latest.set(r.user_id, { amount: Number(r.amount), ts });
    }
    const online = createRedisOnlineStore({ url: redisUrl(), keyPrefix: prefix, commandTimeoutMs: 5_000, name: 'test' });
    try {
      const users = [...latest.keys()].sort();
      expect(users).toHaveLength(USERS);
      const cells = await online.read('user@default', users.map((u) => [u]), ['last_amount@default']);
      const mismatches = users.filter((u, i) => {
        const cell = cells[i]![0];
        const want = latest.get(u)!;
        return !cell || cell.value !== want.amount || cell.eventTs !== want.ts;
      });
      expect(mismatches).toEqual([]);
    } finally {
      await online.close();
    }

    // The coordinator keeps working on the restarted server: a new run goes through.
    const next = await coordinator.triggers!.trigger({ kind: 'feature', name: 'last_amount', variant: 'default' }, { params: { full: true }, triggeredBy: 'api' });
    expect(await waitForStatus(db, next.run.id, ['READY', 'FAILED'], 60_000)).toMatchObject({ status: 'READY' });
  }, 240_000);
});

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';

export type SqlRow = Record<string, unknown>;

/** The query surface the registry needs; both Postgres (pg) and PGlite provide it. */
export interface SqlSession {
  query<T extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<{ rows: T[] }>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface RegistryDatabase extends SqlSession {
  readonly flavour: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: SqlSession) => Promise<T>): Promise<T>;
  /** Subscribes to a NOTIFY channel (LISTEN on Postgres, in-process on PGlite). Returns the unsubscribe. */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export async function openPostgresDatabase(connectionString: string): Promise<RegistryDatabase> {
  const pool = new pg.Pool({ connectionString, max: 10, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
  // A broken idle connection must not crash the process; the pool replaces it on the next checkout.
  pool.on('error', () => {});
  await pool.query('select 1');
  return {
    flavour: 'postgres',
    async query<T extends SqlRow>(text: string, params?: readonly unknown[]) {
      const res = await pool.query(text, params as unknown[] | undefined);
      return { rows: res.rows as T[] };
    },
    async exec(script: string) {
      await pool.query(script);
    },
    async transaction<T>(fn: (tx: SqlSession) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // A connection dropped mid-transaction emits 'error' on the client; without a listener that would
      // crash the process. The failing query rejects anyway, and release(error) discards the client.
      const onError = () => {};
      client.on('error', onError);
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const result = await fn({
          async query<R extends SqlRow>(text: string, params?: readonly unknown[]) {
            const res = await client.query(text, params as unknown[] | undefined);
            return { rows: res.rows as R[] };
          },
          async exec(script: string) {
            await client.query(script);
          },
        });
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    async listen(channel, onMessage) {
      const client = new pg.Client({ connectionString });
      client.on('error', () => {});
      await client.connect();
      client.on('notification', (msg) => {
        if (msg.channel === channel) onMessage(msg.payload ?? '');
      });
      await client.query(`listen "${channel.replaceAll('"', '""')}"`);
      return async () => {
        await client.end().catch(() => {});
      };
    },
    async close() {
      await pool.end();
    },
  };
}

export async function openPgliteDatabase(dataDir: string | null): Promise<RegistryDatabase> {
  if (dataDir) mkdirSync(path.dirname(path.resolve(dataDir)), { recursive: true });
  const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  const listeners = new Map<string, Set<(payload: string) => void>>();
  // PGlite runs one statement at a time; a transaction holds its lock until it ends, so serialising is implicit.
  const wrap = (session: { query: PGlite['query']; exec: PGlite['exec'] }): SqlSession => ({
    async query<T extends SqlRow>(text: string, params?: readonly unknown[]) {
      const res = await session.query<T>(text, params as unknown[] | undefined);
      return { rows: res.rows };
    },
    async exec(script: string) {
      await session.exec(script);
    },
  });
  const base = wrap(db);
  return {
    flavour: 'pglite',
    query: base.query,
    exec: base.exec,
    async transaction<T>(fn: (tx: SqlSession) => Promise<T>): Promise<T> {
      return db.transaction(async (tx) => fn(wrap(tx)));
    },
    async listen(channel, onMessage) {
      const set = listeners.get(channel) ?? new Set();
      set.add(onMessage);
      listeners.set(channel, set);
      const unsub = await db.listen(channel, onMessage);
      return async () => {
        set.delete(onMessage);
        await unsub();
      };
    },
    async close() {
      await db.close();
    },
  };
}

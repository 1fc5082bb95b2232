/**
 * Helpers for coordinator tests: a migrated registry database (PGlite in memory or a fresh Postgres database),
 * polling with a deadline (tests never assert on sleeps), and small task-handler building blocks.
 */
import { Coordinator, type CoordinatorOptions, type TaskHandler, type TaskHandlers } from '../../src/coordinator/coordinator.js';
import type { Run, RunStatus } from '../../src/coordinator/run-types.js';
import { migrate } from '../../src/registry/migrations.js';
import { openPgliteDatabase, openPostgresDatabase, type RegistryDatabase } from '../../src/registry/registry-database.js';
import { createTestDatabase } from './services.js';

export type Flavour = 'pglite' | 'postgres';
export const flavours: readonly Flavour[] = ['pglite', 'postgres'];

export interface CoordinatorTestDatabase {
  readonly flavour: Flavour;
  /** The first connection (PGlite: the only one). */
  readonly db: RegistryDatabase;
  /** Postgres URL, null on PGlite. */
  readonly url: string | null;
  /** Another handle on the same database, as a separate replica would have (PGlite: the same instance). */
  connect(): Promise<RegistryDatabase>;
  close(): Promise<void>;
}

export async function openCoordinatorDatabase(flavour: Flavour, label = 'coord'): Promise<CoordinatorTestDatabase> {
  if (flavour === 'pglite') {
    const db = await openPgliteDatabase(null);
    await migrate(db);
    return { flavour, db, url: null, connect: async () => db, close: () => db.close() };
  }
  const database = await createTestDatabase(label);
  const db = await openPostgresDatabase(database.url);
  await migrate(db);
  const extra: RegistryDatabase[] = [];
  return {
    flavour,
    db,
    url: database.url,
    async connect() {
      const another = await openPostgresDatabase(database.url);
      extra.push(another);
      return another;
    },
    async close() {
      for (const handle of [db, ...extra]) await handle.close().catch(() => {});
      await database.drop();
    },
  };
}

/** Polls `probe` until it returns a truthy value; fails with `what` and the last value after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T> | T, timeoutMs = 20_000, intervalMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function runRow(db: Pick<RegistryDatabase, 'query'>, id: number): Promise<{ status: RunStatus; attempts: number; error: string | null }> {
  const { rows } = await db.query<{ status: RunStatus; attempts: number; error: string | null }>('select status, attempts, error from runs where id = $1', [id]);
  if (!rows[0]) throw new Error(`no run ${id}`);
  return rows[0];
}

/** Waits until run `id` has one of `statuses`; returns its row. */
export function waitForStatus(db: Pick<RegistryDatabase, 'query'>, id: number, statuses: RunStatus | readonly RunStatus[], timeoutMs = 20_000) {
  const wanted = typeof statuses === 'string' ? [statuses] : statuses;
  return waitFor(`run ${id} to be ${wanted.join('|')}`, async () => {
    const row = await runRow(db, id);
    return wanted.includes(row.status) ? row : null;
  }, timeoutMs);
}

/** A promise with its resolve exposed. */
export function latch<T = void>(): { promise: Promise<T>; release: (value: T) => void } {
  let release!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (release = resolve));
  return { promise, release };
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The same handler for every task kind. */
export function everyTask(handler: TaskHandler): TaskHandlers {
  return { transformation: handler, materialization: handler, training_set: handler };
}

/** Fast settings for tests: short leases and polls, exact (jitter-free) backoff. */
export const fastOptions = {
  leaseMs: 2_000,
  heartbeatMs: 200,
  pollMs: 100,
  retry: { baseDelayMs: 100, maxDelayMs: 2_000, jitter: 0 },
  stopGraceMs: 2_000,
} satisfies Partial<CoordinatorOptions>;

/** Starts coordinators and stops them all (in parallel) at the end. */
export class CoordinatorPool {
  readonly #started: Coordinator[] = [];

  async start(options: CoordinatorOptions): Promise<Coordinator> {
    const coordinator = new Coordinator({ ...fastOptions, ...options });
    await coordinator.start();
    this.#started.push(coordinator);
    return coordinator;
  }

  async stopAll(graceMs = 0): Promise<void> {
    await Promise.all(this.#started.splice(0).map((c) => c.stop({ graceMs })));
  }
}

export const finishedRun = (run: Run) => run.status === 'READY' || run.status === 'FAILED' || run.status === 'CANCELLED';

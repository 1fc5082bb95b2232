import { TrellisError } from '../errors/trellis-error.js';
import type { RegistryDatabase, SqlRow, SqlSession } from '../registry/registry-database.js';
import type { ResourceKind } from '../registry/resource-schemas.js';
import {
  formatRunKey,
  type Run,
  type RunKey,
  type RunLogEntry,
  type RunStatus,
  type RunTrigger,
  type RunWithLogs,
  type TaskKind,
} from './run-types.js';

/** NOTIFY channel of the run queue: `{"op":"runnable"}` when work is queued, `{"op":"cancel","id":N}`. */
export const RUNS_CHANNEL = 'trellis_runs';

/** Logs kept per run; older entries are dropped first. */
export const MAX_LOG_ENTRIES = 1000;
const MAX_ERROR_CHARS = 4000;

export interface CreateRunInput extends RunKey {
  /** Upstream runs that must be READY first; an upstream that is (or becomes) FAILED/CANCELLED cancels this run. */
  readonly dependsOn?: readonly number[];
  readonly params?: Readonly<Record<string, unknown>>;
  readonly maxAttempts?: number;
  readonly triggeredBy?: RunTrigger;
  /**
   * Join an equivalent queued run instead of adding one (default true). Equivalent: same key, same params,
   * still CREATED or PENDING (not started: it will read the latest data anyway), and the new upstream runs
   * add no wait to a PENDING run. A trigger while a run is RUNNING queues one new run behind it.
   */
  readonly coalesce?: boolean;
}

export interface CreateRunResult {
  readonly run: Run;
  /** True when the trigger joined an already queued run. */
  readonly coalesced: boolean;
}

/** A claimed run. `owner` and `attempt` fence every later write: a worker whose lease was taken over writes nothing. */
export interface Lease {
  readonly run: Run;
  readonly owner: string;
  readonly attempt: number;
  /** Watermark of the latest READY run of the same key (incremental tasks start from it). */
  readonly previousWatermark: string | null;
}

export type HeartbeatResult = 'held' | 'lost' | 'cancel-requested';

export interface ListRunsOptions {
  readonly kind?: ResourceKind | undefined;
  readonly name?: string | undefined;
  readonly variant?: string | undefined;
  readonly task?: TaskKind | undefined;
  readonly status?: RunStatus | undefined;
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
}

export interface TaskOutcome {
  readonly rowsRead?: number | undefined;
  readonly rowsWritten?: number | undefined;
  readonly watermark?: string | undefined;
  /** Becomes the resource's status message (null clears an earlier one). */
  readonly warning?: string | undefined;
}

const RUN_COLUMNS = `id, kind, name, variant, task, status, attempts, max_attempts, not_before, lease_owner, lease_expires_at,
  depends_on, params, rows_read, rows_written, watermark, error, cancel_requested, triggered_by, created_at, started_at, finished_at`;

interface RunRow extends SqlRow {
  id: string | number;
  kind: ResourceKind;
  name: string;
  variant: string;
  task: TaskKind;
  status: RunStatus;
  attempts: number;
  max_attempts: number;
  not_before: Date | string;
  lease_owner: string | null;
  lease_expires_at: Date | string | null;
  depends_on: (string | number)[];
  params: Record<string, unknown>;
  rows_read: string | number | null;
  rows_written: string | number | null;
  watermark: string | null;
  error: string | null;
  cancel_requested: boolean;
  triggered_by: RunTrigger;
  created_at: Date | string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
}

const iso = (value: Date | string) => new Date(value).toISOString();
const isoOrNull = (value: Date | string | null) => (value === null ? null : iso(value));
const numOrNull = (value: string | number | null) => (value === null ? null : Number(value));

function toRun(row: RunRow): Run {
  return {
    id: Number(row.id),
    kind: row.kind,
    name: row.name,
    variant: row.variant,
    task: row.task,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    notBefore: iso(row.not_before),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: isoOrNull(row.lease_expires_at),
    dependsOn: row.depends_on.map(Number),
    params: row.params,
    rowsRead: numOrNull(row.rows_read),
    rowsWritten: numOrNull(row.rows_written),
    watermark: row.watermark,
    error: row.error,
    cancelRequested: row.cancel_requested,
    triggeredBy: row.triggered_by,
    createdAt: iso(row.created_at),
    startedAt: isoOrNull(row.started_at),
    finishedAt: isoOrNull(row.finished_at),
  };
}

const clip = (text: string) => (text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text);
/** A run key as text: `kind/name/variant/task`. */
export const lockKey = (key: RunKey) => `${key.kind}/${key.name}/${key.variant}/${key.task}`;

/** `logs || $n`, keeping the newest MAX_LOG_ENTRIES. */
const appendLogsSql = (param: string) => `case when jsonb_array_length(logs) + jsonb_array_length(${param}::jsonb) <= ${MAX_LOG_ENTRIES}
    then logs || ${param}::jsonb
    else (select coalesce(jsonb_agg(e order by i), '[]'::jsonb) from jsonb_array_elements(logs || ${param}::jsonb) with ordinality as t(e, i)
          where i > jsonb_array_length(logs) + jsonb_array_length(${param}::jsonb) - ${MAX_LOG_ENTRIES}) end`;

const FENCE = `status = 'RUNNING' and lease_owner = $2 and attempts = $3`;

const encodeCursor = (id: number) => Buffer.from(`r:${id}`).toString('base64url');
function decodeCursor(cursor: string): number {
  const match = /^r:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/querystring/cursor', reason: 'malformed cursor' }, { details: { pointer: '/querystring/cursor' } });
  return Number(match[1]);
}

/**
 * The run queue in the registry database, one code path for Postgres and PGlite. Every status change is one
 * guarded UPDATE (the migration's trigger refuses illegal transitions); claims use `FOR UPDATE SKIP LOCKED`
 * with a lease, so any number of replicas run each queued run once; at most one run per (resource, task)
 * is RUNNING (a partial unique index backs the claim's check).
 */
export class RunStore {
  readonly #db: RegistryDatabase;

  constructor(db: RegistryDatabase) {
    this.#db = db;
  }

  get database(): RegistryDatabase {
    return this.#db;
  }

  /** Queues a run (or joins an equivalent queued one). Pass `session` to take part in a caller's transaction. */
  async create(input: CreateRunInput, session?: SqlSession): Promise<CreateRunResult> {
    if (session) return this.#create(session, input);
    return this.#db.transaction((tx) => this.#create(tx, input));
  }

  async #create(tx: SqlSession, input: CreateRunInput): Promise<CreateRunResult> {
    const deps = [...new Set(input.dependsOn ?? [])].sort((a, b) => a - b);
    const params = JSON.stringify(input.params ?? {});
    await tx.query('select pg_advisory_xact_lock(7310003, hashtext($1))', [lockKey(input)]);
    // FOR SHARE: an upstream run cannot finish between this check and our commit, so its completion
    // (which runs after its own commit) sees this run.
    const upstream = deps.length === 0
      ? []
      : (await tx.query<RunRow>(`select ${RUN_COLUMNS} from runs where id = any($1::bigint[]) order by id for share`, [deps])).rows.map(toRun);
    if (upstream.length !== deps.length) {
      const known = new Set(upstream.map((u) => u.id));
      throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/dependsOn', reason: `unknown upstream run(s) ${deps.filter((d) => !known.has(d)).join(', ')}` }, { details: { pointer: '/dependsOn' } });
    }
    const dead = upstream.find((u) => u.status === 'FAILED' || u.status === 'CANCELLED');
    const ready = new Set(upstream.filter((u) => u.status === 'READY').map((u) => u.id));

    if (input.coalesce !== false && !dead) {
      const { rows } = await tx.query<RunRow>(
        `select ${RUN_COLUMNS} from runs
         where kind = $1 and name = $2 and variant = $3 and task = $4 and status in ('CREATED', 'PENDING') and params = $5::jsonb
         order by id desc limit 1 for update`,
        [input.kind, input.name, input.variant, input.task, params],
      );
      const open = rows[0] ? toRun(rows[0]) : null;
      if (open) {
        const known = new Set(open.dependsOn);
        const added = deps.filter((d) => !known.has(d));
        if (open.status === 'CREATED' || added.every((d) => ready.has(d))) {
          if (added.length === 0) return { run: open, coalesced: true };
          const merged = [...open.dependsOn, ...added].sort((a, b) => a - b);
          const updated = await tx.query<RunRow>(`update runs set depends_on = $2::bigint[] where id = $1 returning ${RUN_COLUMNS}`, [open.id, merged]);
          return { run: toRun(updated.rows[0]!), coalesced: true };
        }
      }
    }

    const status: RunStatus = deps.every((d) => ready.has(d)) ? 'PENDING' : 'CREATED';
    const inserted = await tx.query<RunRow>(
      `insert into runs (kind, name, variant, task, status, max_attempts, depends_on, params, triggered_by)
       values ($1, $2, $3, $4, $5, $6, $7::bigint[], $8::jsonb, $9) returning ${RUN_COLUMNS}`,
      [input.kind, input.name, input.variant, input.task, status, input.maxAttempts ?? 3, deps, params, input.triggeredBy ?? 'manual'],
    );
    let run = toRun(inserted.rows[0]!);
    if (dead) {
      const cancelled = await tx.query<RunRow>(
        `update runs set status = 'CANCELLED', finished_at = now(), error = $2 where id = $1 returning ${RUN_COLUMNS}`,
        [run.id, clip(upstreamReason(dead))],
      );
      run = toRun(cancelled.rows[0]!);
    } else if (status === 'PENDING') {
      await notify(tx, { op: 'runnable' });
    }
    return { run, coalesced: false };
  }

  /**
   * Queues many runs of distinct keys in one transaction with a handful of statements whatever their number (an
   * apply creating 1,000 features): the same outcome as {@link create} for each input in order. Inputs that
   * would join a queued run, or whose upstream already failed, go through {@link create} one by one; the rest
   * are inserted with one statement. Results come in input order.
   */
  async createMany(inputs: readonly CreateRunInput[], session: SqlSession): Promise<CreateRunResult[]> {
    if (inputs.length === 0) return [];
    const keys = inputs.map(lockKey);
    if (new Set(keys).size !== keys.length) throw new Error('createMany needs distinct run keys');
    // The same per-key locks as create(), taken in one sorted sweep (no lock-order deadlock between batches).
    await session.query('select count(pg_advisory_xact_lock(7310003, hashtext(k))) from (select unnest($1::text[]) as k order by 1) as s', [keys]);
    const deps = inputs.map((input) => [...new Set(input.dependsOn ?? [])].sort((a, b) => a - b));
    const params = inputs.map((input) => JSON.stringify(input.params ?? {}));
    const allDeps = [...new Set(deps.flat())].sort((a, b) => a - b);
    const upstream = new Map<number, RunStatus>();
    if (allDeps.length > 0) {
      const { rows } = await session.query<{ id: string | number; status: RunStatus }>('select id, status from runs where id = any($1::bigint[]) order by id for share', [allDeps]);
      for (const row of rows) upstream.set(Number(row.id), row.status);
    }
    const coalescible = inputs.map((input, i) => input.coalesce !== false && !deps[i]!.some((d) => upstream.get(d) === 'FAILED' || upstream.get(d) === 'CANCELLED'));
    // Keys with a queued run of the same params: create() decides whether to join it.
    const { rows: queued } = await session.query<{ i: number }>(
      `select distinct x.i from jsonb_to_recordset($1::jsonb) as x(i int, kind text, name text, variant text, task text, params jsonb)
       join runs r on r.kind = x.kind and r.name = x.name and r.variant = x.variant and r.task = x.task
         and r.status in ('CREATED', 'PENDING') and r.params = x.params`,
      [JSON.stringify(inputs.flatMap((input, i) => (coalescible[i] ? [{ i, kind: input.kind, name: input.name, variant: input.variant, task: input.task, params: JSON.parse(params[i]!) as unknown }] : [])))],
    );
    const oneByOne = new Set(queued.map((q) => Number(q.i)));
    inputs.forEach((input, i) => {
      if (deps[i]!.some((d) => !upstream.has(d) || upstream.get(d) === 'FAILED' || upstream.get(d) === 'CANCELLED')) oneByOne.add(i);
    });

    const results = new Array<CreateRunResult>(inputs.length);
    const bulk = inputs.flatMap((input, i) => {
      if (oneByOne.has(i)) return [];
      const status: RunStatus = deps[i]!.every((d) => upstream.get(d) === 'READY') ? 'PENDING' : 'CREATED';
      return [{ i, kind: input.kind, name: input.name, variant: input.variant, task: input.task, status, max_attempts: input.maxAttempts ?? 3,
        depends_on: `{${deps[i]!.join(',')}}`, params: JSON.parse(params[i]!) as unknown, triggered_by: input.triggeredBy ?? 'manual' }];
    });
    if (bulk.length > 0) {
      const { rows } = await session.query<RunRow & { i: number }>(
        `with x as (
           select * from jsonb_to_recordset($1::jsonb) as x(i int, kind text, name text, variant text, task text, status text, max_attempts int,
             depends_on text, params jsonb, triggered_by text)
         ), inserted as (
           insert into runs (kind, name, variant, task, status, max_attempts, depends_on, params, triggered_by)
           select kind, name, variant, task, status, max_attempts, depends_on::bigint[], params, triggered_by from x order by i
           returning ${RUN_COLUMNS}
         )
         select inserted.*, x.i from inserted join x on x.kind = inserted.kind and x.name = inserted.name and x.variant = inserted.variant and x.task = inserted.task`,
        [JSON.stringify(bulk)],
      );
      for (const row of rows) results[Number(row.i)] = { run: toRun(row), coalesced: false };
      if (bulk.some((b) => b.status === 'PENDING')) await notify(session, { op: 'runnable' });
    }
    for (const i of [...oneByOne].sort((a, b) => a - b)) results[i] = await this.#create(session, inputs[i]!);
    return results;
  }

  /** {@link openRunIds} for many keys in one query: run key (`kind/name/variant/task`) → newest unfinished run id. */
  async openRunIdsMany(keys: readonly RunKey[], session: SqlSession = this.#db): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (keys.length === 0) return found;
    const { rows } = await session.query<{ kind: ResourceKind; name: string; variant: string; task: TaskKind; id: string | number }>(
      `select distinct on (r.kind, r.name, r.variant, r.task) r.kind, r.name, r.variant, r.task, r.id
       from runs r join jsonb_to_recordset($1::jsonb) as k(kind text, name text, variant text, task text)
         on r.kind = k.kind and r.name = k.name and r.variant = k.variant and r.task = k.task
       where r.status in ('CREATED', 'PENDING', 'RUNNING')
       order by r.kind, r.name, r.variant, r.task, r.id desc`,
      [JSON.stringify(keys.map((k) => ({ kind: k.kind, name: k.name, variant: k.variant, task: k.task })))],
    );
    for (const row of rows) found.set(lockKey(row), Number(row.id));
    return found;
  }

  async get(id: number): Promise<RunWithLogs | null> {
    const { rows } = await this.#db.query<RunRow & { logs: RunLogEntry[] }>(`select ${RUN_COLUMNS}, logs from runs where id = $1`, [id]);
    return rows[0] ? { ...toRun(rows[0]), logs: rows[0].logs } : null;
  }

  /** Runs newest first, paged by an opaque cursor. */
  async list(options: ListRunsOptions = {}): Promise<{ items: Run[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
    const before = options.cursor ? decodeCursor(options.cursor) : null;
    const { rows } = await this.#db.query<RunRow>(
      `select ${RUN_COLUMNS} from runs
       where ($1::text is null or kind = $1) and ($2::text is null or name = $2) and ($3::text is null or variant = $3)
         and ($4::text is null or task = $4) and ($5::text is null or status = $5) and ($6::bigint is null or id < $6)
       order by id desc limit $7`,
      [options.kind ?? null, options.name ?? null, options.variant ?? null, options.task ?? null, options.status ?? null, before, limit + 1],
    );
    const page = rows.slice(0, limit).map(toRun);
    return { items: page, nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
  }

  /** Watermark of the latest READY run of a key. */
  async lastWatermark(key: RunKey): Promise<string | null> {
    const { rows } = await this.#db.query<{ watermark: string | null }>(
      `select watermark from runs where kind = $1 and name = $2 and variant = $3 and task = $4 and status = 'READY' order by id desc limit 1`,
      [key.kind, key.name, key.variant, key.task],
    );
    return rows[0]?.watermark ?? null;
  }

  /**
   * Leases the next runnable run of one of `tasks`: PENDING and due, every upstream run READY, no other run of
   * its key RUNNING; oldest `not_before` first. Returns null when there is nothing to do, 'contended' when
   * another replica won a race for the same key (try again at once). Runs whose worker died come back
   * through `reap()`, which requeues them when their lease expires.
   */
  async claim(owner: string, tasks: readonly TaskKind[], leaseMs: number): Promise<Lease | 'contended' | null> {
    try {
      const { rows } = await this.#db.query<RunRow & { previous_watermark: string | null }>(
        `with candidate as (
           select r.id
           from runs r
           where r.status = 'PENDING' and r.not_before <= now() and r.task = any($1::text[])
             and not exists (select 1 from runs o where o.kind = r.kind and o.name = r.name and o.variant = r.variant and o.task = r.task
                             and o.status = 'RUNNING')
             and not exists (select 1 from runs u where u.id = any(r.depends_on) and u.status <> 'READY')
           order by r.not_before, r.id
           limit 1
           for update of r skip locked
         )
         update runs set status = 'RUNNING', attempts = runs.attempts + 1, lease_owner = $2,
           lease_expires_at = now() + $3::float8 * interval '1 millisecond', started_at = coalesce(runs.started_at, now())
         from candidate where runs.id = candidate.id
         returning ${RUN_COLUMNS.split(',').map((c) => `runs.${c.trim()}`).join(', ')},
           (select w.watermark from runs w where w.kind = runs.kind and w.name = runs.name and w.variant = runs.variant
              and w.task = runs.task and w.status = 'READY' order by w.id desc limit 1) as previous_watermark`,
        [tasks, owner, leaseMs],
      );
      const row = rows[0];
      if (!row) return null;
      const run = toRun(row);
      return { run, owner, attempt: run.attempts, previousWatermark: row.previous_watermark };
    } catch (error) {
      // Two replicas claimed different queued runs of one key at once; the unique index let one win.
      if ((error as { code?: unknown }).code === '23505') return 'contended';
      throw error;
    }
  }

  /** Extends a lease. 'lost' when another worker took the run over (or it ended); 'cancel-requested' when asked to stop. */
  async heartbeat(lease: Lease, leaseMs: number): Promise<HeartbeatResult> {
    const { rows } = await this.#db.query<{ cancel_requested: boolean }>(
      `update runs set lease_expires_at = now() + $4::float8 * interval '1 millisecond' where id = $1 and ${FENCE} returning cancel_requested`,
      [lease.run.id, lease.owner, lease.attempt, leaseMs],
    );
    if (!rows[0]) return 'lost';
    return rows[0].cancel_requested ? 'cancel-requested' : 'held';
  }

  /** Appends log entries; with `lease`, only while that lease is held. */
  async appendLogs(id: number, entries: readonly RunLogEntry[], options: { lease?: Lease; session?: SqlSession } = {}): Promise<boolean> {
    if (entries.length === 0) return true;
    const session = options.session ?? this.#db;
    const { lease } = options;
    const { rows } = lease
      ? await session.query(`update runs set logs = ${appendLogsSql('$4')} where id = $1 and ${FENCE} returning id`, [id, lease.owner, lease.attempt, JSON.stringify(entries)])
      : await session.query(`update runs set logs = ${appendLogsSql('$2')} where id = $1 returning id`, [id, JSON.stringify(entries)]);
    return rows.length > 0;
  }

  /** Ids of the newest unfinished run of each key (an upstream a new run should wait for), in key order. */
  async openRunIds(keys: readonly RunKey[], session: SqlSession = this.#db): Promise<number[]> {
    const ids: number[] = [];
    for (const key of keys) {
      const { rows } = await session.query<{ id: string | number }>(
        `select id from runs where kind = $1 and name = $2 and variant = $3 and task = $4 and status in ('CREATED', 'PENDING', 'RUNNING')
         order by id desc limit 1`,
        [key.kind, key.name, key.variant, key.task],
      );
      if (rows[0]) ids.push(Number(rows[0].id));
    }
    return ids;
  }

  // The outcome writes below are single statements (data-modifying CTEs), not transactions: they are what a
  // worker must get through while the database is failing over, and one statement needs one round trip.

  /**
   * RUNNING → READY, and the resource READY with the outcome's warning as its status message (none: null).
   * Returns null when the lease was lost (the result is discarded).
   */
  async complete(lease: Lease, outcome: TaskOutcome, logs: readonly RunLogEntry[] = []): Promise<Run | null> {
    const { rows } = await this.#db.query<RunRow>(
      `with done as (
         update runs set status = 'READY', finished_at = now(), lease_expires_at = null, error = null,
           rows_read = $4, rows_written = $5, watermark = coalesce($6, watermark), logs = ${appendLogsSql('$7')}
         where id = $1 and ${FENCE} returning ${RUN_COLUMNS}
       ), resource as (${RESOURCE_STATUS_SQL('READY', '$8::text')})
       select * from done`,
      [
        lease.run.id,
        lease.owner,
        lease.attempt,
        outcome.rowsRead ?? null,
        outcome.rowsWritten ?? null,
        outcome.watermark ?? null,
        JSON.stringify(logs),
        outcome.warning ? clip(outcome.warning) : null,
      ],
    );
    if (!rows[0]) return null;
    await this.settle('promote');
    return toRun(rows[0]);
  }

  /** RUNNING → PENDING after a transient error: claimable again after `delayMs`. */
  async retry(lease: Lease, error: string, delayMs: number, logs: readonly RunLogEntry[] = []): Promise<Run | null> {
    const { rows } = await this.#db.query<RunRow>(
      `update runs set status = 'PENDING', not_before = now() + $4::float8 * interval '1 millisecond', error = $5,
         lease_owner = null, lease_expires_at = null, logs = ${appendLogsSql('$6')}
       where id = $1 and ${FENCE} returning ${RUN_COLUMNS}`,
      [lease.run.id, lease.owner, lease.attempt, Math.max(0, delayMs), clip(error), JSON.stringify(logs)],
    );
    return rows[0] ? toRun(rows[0]) : null;
  }

  /** RUNNING → FAILED (and the resource FAILED) after a permanent error or the last attempt; cancels the runs waiting on it. */
  async fail(lease: Lease, error: string, logs: readonly RunLogEntry[] = []): Promise<Run | null> {
    const { rows } = await this.#db.query<RunRow>(
      `with done as (
         update runs set status = 'FAILED', finished_at = now(), lease_expires_at = null, error = $4, logs = ${appendLogsSql('$5')}
         where id = $1 and ${FENCE} returning ${RUN_COLUMNS}
       ), resource as (${RESOURCE_STATUS_SQL('FAILED', 'done.error')})
       select * from done`,
      [lease.run.id, lease.owner, lease.attempt, clip(error), JSON.stringify(logs)],
    );
    if (!rows[0]) return null;
    await this.settle('cancel');
    return toRun(rows[0]);
  }

  /** RUNNING → CANCELLED after the worker stopped on a cancel request; cancels the runs waiting on it. */
  async cancelRunning(lease: Lease, reason: string, logs: readonly RunLogEntry[] = []): Promise<Run | null> {
    const { rows } = await this.#db.query<RunRow>(
      `update runs set status = 'CANCELLED', finished_at = now(), lease_expires_at = null, error = $4, logs = ${appendLogsSql('$5')}
       where id = $1 and ${FENCE} returning ${RUN_COLUMNS}`,
      [lease.run.id, lease.owner, lease.attempt, clip(reason), JSON.stringify(logs)],
    );
    if (!rows[0]) return null;
    await this.settle('cancel');
    return toRun(rows[0]);
  }

  /** RUNNING → PENDING without counting the attempt (graceful stop): another replica may claim it at once. */
  async release(lease: Lease, logs: readonly RunLogEntry[] = []): Promise<Run | null> {
    const { rows } = await this.#db.query<RunRow>(
      `with released as (
         update runs set status = 'PENDING', attempts = greatest(attempts - 1, 0), not_before = now(), lease_owner = null,
           lease_expires_at = null, logs = ${appendLogsSql('$4')}
         where id = $1 and ${FENCE} returning ${RUN_COLUMNS}
       )
       select released.*, pg_notify('${RUNS_CHANNEL}', '{"op":"runnable"}') from released`,
      [lease.run.id, lease.owner, lease.attempt, JSON.stringify(logs)],
    );
    return rows[0] ? toRun(rows[0]) : null;
  }

  /**
   * Cancels a run: CREATED/PENDING become CANCELLED at once (and the runs waiting on them too); a RUNNING run
   * is flagged and its worker stops it (within a heartbeat); a finished run is left as it is.
   * Returns null for an unknown id.
   */
  async cancel(id: number, reason: string): Promise<RunWithLogs | null> {
    const changed = await this.#db.transaction(async (tx) => {
      const { rows } = await tx.query<{ status: RunStatus }>('select status from runs where id = $1 for update', [id]);
      const status = rows[0]?.status;
      if (status === undefined) return null;
      if (status === 'CREATED' || status === 'PENDING') {
        await tx.query(`update runs set status = 'CANCELLED', finished_at = now(), error = $2, logs = ${appendLogsSql('$3')} where id = $1`, [
          id,
          clip(reason),
          JSON.stringify([logEntry('info', `cancelled: ${reason}`)]),
        ]);
        return 'cancelled';
      }
      if (status === 'RUNNING') {
        await tx.query(`update runs set cancel_requested = true, logs = ${appendLogsSql('$2')} where id = $1`, [id, JSON.stringify([logEntry('info', `cancel requested: ${reason}`)])]);
        await notify(tx, { op: 'cancel', id });
        return 'requested';
      }
      return 'unchanged';
    });
    if (changed === null) return null;
    if (changed === 'cancelled') await this.settle('cancel');
    return this.get(id);
  }

  /**
   * Moves waiting runs along: cancels CREATED/PENDING runs whose upstream FAILED or was CANCELLED (transitively,
   * with the reason), then promotes CREATED runs whose upstream runs are all READY. Called after every finish
   * (after its commit, so of two upstream runs finishing together the later one sees both) and by every poll.
   * Returns the number of runs promoted to PENDING. `only` limits the work to what a finish can cause.
   */
  async settle(only?: 'cancel' | 'promote'): Promise<number> {
    for (let level = 0; level < 100 && only !== 'promote'; level++) {
      const { rows } = await this.#db.query(
        `update runs r set status = 'CANCELLED', finished_at = now(), error = left(x.reason, ${MAX_ERROR_CHARS})
         from (
           select distinct on (d.id) d.id,
             'upstream run #' || u.id || ' (' || u.task || ' of ' || u.kind || ' ' || u.name || '@' || u.variant || ') '
               || case when u.status = 'FAILED' then 'failed' else 'was cancelled' end || coalesce(': ' || u.error, '') as reason
           from runs d join runs u on u.id = any(d.depends_on)
           where d.status in ('CREATED', 'PENDING') and u.status in ('FAILED', 'CANCELLED')
           order by d.id, u.id
         ) x
         where r.id = x.id and r.status in ('CREATED', 'PENDING')
         returning r.id`,
      );
      if (rows.length === 0) break;
    }
    if (only === 'cancel') return 0;
    const { rows: promoted } = await this.#db.query(
      `update runs r set status = 'PENDING'
       where r.status = 'CREATED' and not exists (select 1 from runs u where u.id = any(r.depends_on) and u.status <> 'READY')
       returning r.id`,
    );
    if (promoted.length > 0) await notify(this.#db, { op: 'runnable' });
    return promoted.length;
  }

  /**
   * Deals with runs whose worker stopped renewing its lease (a dead or stalled process): with attempts left
   * they are requeued (RUNNING → PENDING; the next claim is the next attempt, and the old worker's writes are
   * fenced out); on the last attempt they FAIL; with a cancel request they are CANCELLED. Then settles.
   * Every replica calls this on each poll. Returns the number of runs made runnable.
   */
  async reap(): Promise<number> {
    const { rows: requeued } = await this.#db.query(
      `update runs set status = 'PENDING', not_before = now(), lease_owner = null, lease_expires_at = null,
         logs = ${appendLogsSql(`jsonb_build_array(jsonb_build_object('at', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'level', 'warn',
           'message', 'the lease of ' || coalesce(lease_owner, '?') || ' expired during attempt ' || attempts || '; requeued'))`)}
       where status = 'RUNNING' and lease_expires_at < now() and attempts < max_attempts and not cancel_requested
       returning id`,
    );
    const { rows: ended } = await this.#db.query<RunRow>(
      `update runs set status = case when cancel_requested then 'CANCELLED' else 'FAILED' end, finished_at = now(),
         error = case when cancel_requested then 'cancelled (the worker stopped answering)'
                      else 'the lease of ' || coalesce(lease_owner, '?') || ' expired on attempt ' || attempts || ' of ' || max_attempts end
       where status = 'RUNNING' and lease_expires_at < now() and (cancel_requested or attempts >= max_attempts)
       returning ${RUN_COLUMNS}`,
    );
    for (const row of ended.map(toRun)) {
      if (row.status === 'FAILED') await setResourceStatus(this.#db, row, 'FAILED', row.error);
    }
    if (requeued.length > 0) await notify(this.#db, { op: 'runnable' });
    return requeued.length + (await this.settle());
  }
}

export function logEntry(level: RunLogEntry['level'], message: string, extra: { attempt?: number; worker?: string } = {}): RunLogEntry {
  return { at: new Date().toISOString(), level, message: message.length > 2000 ? `${message.slice(0, 1999)}…` : message, ...extra };
}

function upstreamReason(upstream: Run): string {
  return `upstream run #${upstream.id} (${formatRunKey(upstream)}) ${upstream.status === 'FAILED' ? 'failed' : 'was cancelled'}${upstream.error ? `: ${upstream.error}` : ''}`;
}

async function notify(session: SqlSession, payload: Record<string, unknown>): Promise<void> {
  await session.query('select pg_notify($1, $2)', [RUNS_CHANNEL, JSON.stringify(payload)]);
}

/** Inside `with done as (update runs … returning …)`: mirrors the finished run onto its resource's status. */
const RESOURCE_STATUS_SQL = (status: 'READY' | 'FAILED', message: string) => `
  update resources r set status = '${status}', status_message = ${message}, updated_at = now()
  from done where r.kind = done.kind and r.name = done.name and r.variant = done.variant
    and (r.status <> '${status}' or r.status_message is distinct from ${message})
  returning 1`;

/** Mirrors a finished run onto its resource's status (READY once built, FAILED with the error). */
async function setResourceStatus(session: SqlSession, run: Run, status: 'READY' | 'FAILED', message: string | null): Promise<void> {
  await session.query(
    `update resources set status = $4, status_message = $5, updated_at = now()
     where kind = $1 and name = $2 and variant = $3 and (status <> $4 or status_message is distinct from $5)`,
    [run.kind, run.name, run.variant, status, message],
  );
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ApplyPlan, Registry } from '../registry/registry.js';
import type { RegistryDatabase } from '../registry/registry-database.js';
import { CronScheduler } from './cron-scheduler.js';
import { defaultRetryPolicy, retryDelayMs, type RetryPolicy } from './retry-policy.js';
import { RUNS_CHANNEL, RunStore, logEntry, type Lease, type TaskOutcome } from './run-store.js';
import { RunTriggers } from './run-triggers.js';
import { formatRunKey, taskKinds, type Run, type RunLogEntry, type TaskKind } from './run-types.js';
import { RunAbortedError, classifyError, errorMessage, isRunAborted, type AbortCause } from './task-errors.js';

/** What a task body gets besides its run. */
export interface TaskContext {
  readonly runId: number;
  /** 1-based attempt number. */
  readonly attempt: number;
  readonly params: Readonly<Record<string, unknown>>;
  /** Watermark of the latest READY run of the same resource and task (incremental tasks start after it). */
  readonly previousWatermark: string | null;
  /**
   * Aborted when the run is cancelled, its lease is lost, or the coordinator stops; `signal.reason` is a
   * RunAbortedError. A task should stop promptly and throw (its writes must be idempotent: an attempt that
   * lost its lease may be repeated by another worker).
   */
  readonly signal: AbortSignal;
  /** Appends a line to the run's logs (buffered, written in order, kept with the run). */
  log(message: string, level?: RunLogEntry['level']): void;
  /** Renews the lease now (the coordinator also renews it every `heartbeatMs`); throws if the run was aborted. */
  heartbeat(): Promise<void>;
}

/** What a finished task reports; recorded on the run. */
export interface TaskResult {
  readonly rowsRead?: number;
  readonly rowsWritten?: number;
  /** Opaque progress marker (e.g. the greatest event time written), handed to the next run as `previousWatermark`. */
  readonly watermark?: string;
  /**
   * Something an operator should look at although the run succeeded (e.g. 0 rows read from a non-empty source).
   * The run is READY; the warning goes into its logs and becomes the resource's status message (until a run
   * without a warning clears it).
   */
  readonly warning?: string;
}

/**
 * A task body. Throw a TransientError (or any error classified transient, see classifyError) to be retried
 * with backoff, a PermanentError to fail the run at once.
 */
export type TaskHandler = (run: Run, ctx: TaskContext) => Promise<TaskResult>;
export type TaskHandlers = { readonly [K in TaskKind]: TaskHandler };

export interface CoordinatorLogger {
  (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

export interface CoordinatorOptions {
  readonly db: RegistryDatabase;
  /** Task bodies; this coordinator claims only the tasks it has a handler for. */
  readonly handlers: Partial<TaskHandlers>;
  /** Needed for `triggers`, `onApplied` and cron schedules. */
  readonly registry?: Registry;
  /** Replica id, recorded as lease owner (`<id>/w<n>`); default `<hostname>:<pid>:<random>`. */
  readonly id?: string;
  /** Runs executed at once by this replica (default 2). */
  readonly concurrency?: number;
  /** Lease length (default 30 s); a run whose worker stopped renewing it is taken over after this. */
  readonly leaseMs?: number;
  /** Lease renewal period (default leaseMs / 3). */
  readonly heartbeatMs?: number;
  /** Poll period when idle (default 1 s); NOTIFY wakes workers sooner. Also the period of the maintenance sweep. */
  readonly pollMs?: number;
  /** Backoff between attempts after a transient error. */
  readonly retry?: Partial<RetryPolicy>;
  /** Attempts per run created by `triggers` (default 3). */
  readonly maxAttempts?: number;
  /** How long `stop()` lets running tasks finish before aborting them and releasing their leases (default 10 s). */
  readonly stopGraceMs?: number;
  /** Fire cron schedules (default true when `registry` is given). */
  readonly schedules?: boolean;
  /** Schedule reload period (default 60 s); registry changes reload at once. */
  readonly scheduleReloadMs?: number;
  readonly logger?: CoordinatorLogger;
}

interface Execution {
  readonly lease: Lease;
  readonly done: Promise<void>;
  abort(cause: AbortCause, message: string): void;
  abandoned: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Runs queued runs: N workers per replica claim runs with a lease, renew it while the task runs, and record
 * the outcome (READY with row counts and watermark; a retry with exponential backoff after a transient
 * error; FAILED after a permanent one or the last attempt; CANCELLED on request). Workers wake on NOTIFY and
 * poll as a fallback; a maintenance sweep promotes runs whose upstream finished, cancels runs whose upstream
 * failed, and ends runs whose dead worker left no attempts. Database errors never kill the loop: it backs
 * off and reconnects through the pool.
 */
export class Coordinator {
  readonly id: string;
  readonly store: RunStore;
  /** Null without a registry. */
  readonly triggers: RunTriggers | null;
  readonly #db: RegistryDatabase;
  readonly #handlers: Partial<TaskHandlers>;
  readonly #tasks: TaskKind[];
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #retry: RetryPolicy;
  readonly #stopGraceMs: number;
  readonly #log: CoordinatorLogger;
  readonly #scheduler: CronScheduler | null;
  readonly #active = new Map<number, Execution>();
  #workers: Promise<void>[] = [];
  #waiters = new Set<() => void>();
  #wakeGeneration = 0;
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #stopped: Promise<void> | null = null;
  #unsubscribe: (() => Promise<void>) | null = null;
  #maintenanceTimer: NodeJS.Timeout | null = null;
  #maintenance: Promise<void> = Promise.resolve();
  #pingSent: string | null = null;
  #pingCounter = 0;
  #lastPingAt = 0;
  #resubscribeWanted = false;

  constructor(options: CoordinatorOptions) {
    this.id = options.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#db = options.db;
    this.#handlers = options.handlers;
    this.#tasks = taskKinds.filter((t) => typeof options.handlers[t] === 'function');
    if (this.#tasks.length === 0) throw new Error('a coordinator needs at least one task handler');
    this.#concurrency = Math.max(1, options.concurrency ?? 2);
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#heartbeatMs = options.heartbeatMs ?? Math.max(10, Math.floor(this.#leaseMs / 3));
    if (this.#heartbeatMs >= this.#leaseMs) throw new Error(`heartbeatMs (${this.#heartbeatMs}) must be shorter than leaseMs (${this.#leaseMs})`);
    this.#pollMs = options.pollMs ?? 1_000;
    this.#retry = { ...defaultRetryPolicy, ...options.retry };
    this.#stopGraceMs = options.stopGraceMs ?? 10_000;
    this.#log = options.logger ?? (() => {});
    this.store = new RunStore(options.db);
    this.triggers = options.registry ? new RunTriggers(options.registry, this.store, { maxAttempts: options.maxAttempts ?? 3 }) : null;
    this.#scheduler = this.triggers && options.schedules !== false
      ? new CronScheduler({
          db: options.db,
          triggers: this.triggers,
          replicaId: this.id,
          reloadMs: options.scheduleReloadMs ?? 60_000,
          onError: (message, error) => this.#log('warn', message, { error: errorMessage(error) }),
          onFired: (id, tick, runId) => this.#log('info', 'schedule fired', { ...id, tick: tick.toISOString(), runId }),
        })
      : null;
  }

  /** Runs this replica is executing now. */
  get activeRuns(): number[] {
    return [...this.#active.keys()];
  }

  get scheduler(): CronScheduler | null {
    return this.#scheduler;
  }

  /** Creates the initial runs of an applied plan (see RunTriggers.onApplied). */
  async onApplied(plan: ApplyPlan): Promise<Run[]> {
    if (!this.triggers) throw new Error('onApplied needs a coordinator built with a registry');
    return this.triggers.onApplied(plan);
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`coordinator ${this.id} was already started`);
    this.#state = 'running';
    try {
      await this.#subscribe();
      await this.store.reap();
      await this.#scheduler?.start();
    } catch (error) {
      this.#state = 'stopped';
      await this.#unsubscribe?.().catch(() => {});
      throw error;
    }
    this.#workers = Array.from({ length: this.#concurrency }, (_, i) => this.#workerLoop(i));
    this.#scheduleMaintenance();
    this.#log('info', 'coordinator started', { id: this.id, tasks: this.#tasks, concurrency: this.#concurrency });
  }

  /**
   * Stops claiming, lets running tasks finish for up to `graceMs` (default `stopGraceMs`), then aborts them
   * and releases their leases so another replica takes them at once (the attempt is not counted).
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopped) return this.#stopped;
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      this.#stopped = Promise.resolve();
      return this.#stopped;
    }
    this.#state = 'stopping';
    this.#stopped = this.#shutdown(options.graceMs ?? this.#stopGraceMs);
    return this.#stopped;
  }

  async #shutdown(graceMs: number): Promise<void> {
    if (this.#maintenanceTimer) clearTimeout(this.#maintenanceTimer);
    this.#wake();
    await this.#scheduler?.stop().catch(() => {});
    const settled = () => Promise.all([...this.#active.values()].map((e) => e.done));
    if (this.#active.size > 0 && graceMs > 0) await Promise.race([settled(), sleep(graceMs)]);
    for (const execution of this.#active.values()) execution.abort('stop', `coordinator ${this.id} is stopping`);
    await Promise.race([settled(), sleep(Math.min(5_000, Math.max(this.#heartbeatMs, 500)))]);
    // Tasks that ignore their AbortSignal: give their runs back anyway; their late writes are fenced out.
    for (const execution of this.#active.values()) {
      execution.abandoned = true;
      await this.store
        .release(execution.lease, [logEntry('warn', 'the task did not stop when asked; lease released', { attempt: execution.lease.attempt, worker: execution.lease.owner })])
        .catch((error: unknown) => this.#log('warn', 'could not release a lease on stop', { runId: execution.lease.run.id, error: errorMessage(error) }));
      this.#active.delete(execution.lease.run.id);
    }
    await Promise.race([Promise.all(this.#workers), sleep(1_000)]);
    await this.#maintenance.catch(() => {});
    await this.#unsubscribe?.().catch(() => {});
    this.#unsubscribe = null;
    this.#state = 'stopped';
    this.#log('info', 'coordinator stopped', { id: this.id });
  }

  /** Wakes idle workers (new work may be claimable). */
  #wake(): void {
    this.#wakeGeneration++;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const resolve of waiters) resolve();
  }

  /** Waits for a wake-up or `ms`, unless a wake-up already happened since `generation` (null: wait regardless). */
  #idle(ms: number, generation: number | null): Promise<void> {
    if (this.#state !== 'running' || (generation !== null && generation !== this.#wakeGeneration)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      // ±10 % so that replicas polling an idle queue drift apart.
      const timer = setTimeout(done, Math.round(ms * (0.9 + Math.random() * 0.2)));
      timer.unref();
      this.#waiters.add(done);
    });
  }

  async #subscribe(): Promise<void> {
    const previous = this.#unsubscribe;
    this.#unsubscribe = null;
    await previous?.().catch(() => {});
    this.#unsubscribe = await this.#db.listen(RUNS_CHANNEL, (payload) => this.#onNotification(payload));
    this.#pingSent = null;
  }

  #onNotification(payload: string): void {
    let message: { op?: string; id?: number; from?: string; nonce?: string };
    try {
      message = JSON.parse(payload) as typeof message;
    } catch {
      return;
    }
    switch (message.op) {
      case 'runnable':
        this.#wake();
        break;
      case 'cancel': {
        const execution = typeof message.id === 'number' ? this.#active.get(message.id) : undefined;
        execution?.abort('cancelled', 'cancelled on request');
        break;
      }
      case 'ping':
        if (message.from === this.id && message.nonce === this.#pingSent) this.#pingSent = null;
        break;
      default:
        break;
    }
  }

  #scheduleMaintenance(): void {
    if (this.#state !== 'running') return;
    this.#maintenanceTimer = setTimeout(() => {
      this.#maintenance = this.#maintain().finally(() => this.#scheduleMaintenance());
    }, Math.round(this.#pollMs * (0.9 + Math.random() * 0.2)));
    this.#maintenanceTimer.unref();
  }

  /** Reaps and settles runs; checks the LISTEN connection is alive with a self-addressed ping (a dropped
   * connection silently stops notifications), resubscribing when a ping went unanswered. */
  async #maintain(): Promise<void> {
    try {
      const pingOverdue = this.#pingSent !== null && Date.now() - this.#lastPingAt > Math.max(2_000, this.#pollMs * 2);
      if (this.#resubscribeWanted || pingOverdue) {
        await this.#subscribe();
        this.#resubscribeWanted = false;
        this.#log('info', 'resubscribed to run notifications', { id: this.id, reason: pingOverdue ? 'ping unanswered' : 'database error' });
        this.#wake();
      }
      if (this.#pingSent === null && Date.now() - this.#lastPingAt >= Math.max(5_000, this.#pollMs * 5)) {
        this.#pingSent = `${++this.#pingCounter}`;
        this.#lastPingAt = Date.now();
        await this.#db.query('select pg_notify($1, $2)', [RUNS_CHANNEL, JSON.stringify({ op: 'ping', from: this.id, nonce: this.#pingSent })]);
      }
      const runnable = await this.store.reap();
      if (runnable > 0) this.#wake();
    } catch (error) {
      this.#resubscribeWanted = true;
      this.#log('warn', 'maintenance failed; retrying', { error: errorMessage(error) });
    }
  }

  async #workerLoop(index: number): Promise<void> {
    const owner = `${this.id}/w${index}`;
    let failures = 0;
    while (this.#state === 'running') {
      const generation = this.#wakeGeneration;
      let claimed: Lease | 'contended' | null;
      try {
        claimed = await this.store.claim(owner, this.#tasks, this.#leaseMs);
        failures = 0;
      } catch (error) {
        failures++;
        this.#resubscribeWanted = true;
        this.#log('warn', 'claim failed; backing off', { worker: owner, error: errorMessage(error) });
        await this.#idle(Math.min(this.#pollMs * 2 ** Math.min(failures, 5), 30_000), null);
        continue;
      }
      if (claimed === 'contended') {
        await sleep(5 + Math.random() * 20);
        continue;
      }
      if (!claimed) {
        await this.#idle(this.#pollMs, generation);
        continue;
      }
      if (this.#state !== 'running') {
        // Claimed while stop() began: give the run back at once, saying why (the attempt is not counted).
        const entry = logEntry('info', `attempt ${claimed.attempt} not started: coordinator ${this.id} is stopping; lease released`, { attempt: claimed.attempt, worker: owner });
        await this.store.release(claimed, [entry]).catch(() => {});
        break;
      }
      await this.#execute(claimed);
    }
  }

  #execute(lease: Lease): Promise<void> {
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const controller = new AbortController();
    const execution: Execution = {
      lease,
      done,
      abandoned: false,
      abort: (cause, message) => {
        if (!controller.signal.aborted) controller.abort(new RunAbortedError(cause, message));
      },
    };
    this.#active.set(lease.run.id, execution);
    void this.#runTask(execution, controller.signal)
      .catch((error: unknown) => this.#log('error', 'run bookkeeping failed', { runId: lease.run.id, error: errorMessage(error) }))
      .finally(() => {
        if (this.#active.get(lease.run.id) === execution) this.#active.delete(lease.run.id);
        resolveDone();
      });
    return done;
  }

  async #runTask(execution: Execution, signal: AbortSignal): Promise<void> {
    const { lease } = execution;
    const { run } = lease;
    const meta = { attempt: lease.attempt, worker: lease.owner };
    const logs = new RunLogBuffer(this.store, lease, (error) => this.#log('warn', 'could not write run logs', { runId: run.id, error: errorMessage(error) }));
    logs.add(logEntry('info', `attempt ${lease.attempt} of ${run.maxAttempts} started by ${lease.owner}`, meta));
    if (run.cancelRequested) execution.abort('cancelled', 'cancelled on request');

    let leaseDeadline = Date.now() + this.#leaseMs;
    let cancelRequested = run.cancelRequested;
    let recorded = false;
    let beating: Promise<void> = Promise.resolve();
    const beat = async () => {
      if (execution.abandoned || recorded) return;
      const sentAt = Date.now();
      try {
        const state = await this.store.heartbeat(lease, this.#leaseMs);
        if (state === 'lost') execution.abort('lease-lost', 'the lease was taken over or the run ended');
        else leaseDeadline = sentAt + this.#leaseMs;
        if (state === 'cancel-requested') {
          cancelRequested = true;
          execution.abort('cancelled', 'cancelled on request');
        }
      } catch (error) {
        this.#resubscribeWanted = true;
        this.#log('warn', 'heartbeat failed', { runId: run.id, error: errorMessage(error) });
        if (Date.now() >= leaseDeadline) execution.abort('lease-lost', `the lease could not be renewed: ${errorMessage(error)}`);
      }
    };
    const timer = setInterval(() => {
      beating = beating.then(beat);
    }, this.#heartbeatMs);
    timer.unref();

    const ctx: TaskContext = {
      runId: run.id,
      attempt: lease.attempt,
      params: run.params,
      previousWatermark: lease.previousWatermark,
      signal,
      log: (message, level = 'info') => logs.add(logEntry(level, message, meta)),
      heartbeat: async () => {
        beating = beating.then(beat);
        await beating;
        if (signal.aborted) throw signal.reason;
      },
    };

    const started = Date.now();
    let result: TaskResult | null = null;
    let failure: unknown = null;
    try {
      const handler = this.#handlers[run.task]!;
      result = await handler(run, ctx);
    } catch (error) {
      failure = error ?? new Error('the task threw a nullish value');
    }
    // The lease is renewed until the outcome is recorded: a slow write must not let another replica
    // take the run over and repeat it.
    try {
      await this.#conclude(execution, signal, logs, { result, failure, started, cancelRequested: () => cancelRequested });
    } finally {
      recorded = true;
      clearInterval(timer);
      await beating;
    }
  }

  async #conclude(
    execution: Execution,
    signal: AbortSignal,
    logs: RunLogBuffer,
    finished: { result: TaskResult | null; failure: unknown; started: number; cancelRequested: () => boolean },
  ): Promise<void> {
    const { lease } = execution;
    const { run } = lease;
    const meta = { attempt: lease.attempt, worker: lease.owner };
    const { result, failure, started } = finished;
    const cancelRequested = finished.cancelRequested();
    if (execution.abandoned) return;
    const abort = signal.aborted && isRunAborted(signal.reason) ? signal.reason : null;
    const elapsed = `${((Date.now() - started) / 1000).toFixed(2)}s`;

    if (abort?.abortCause === 'lease-lost') {
      this.#log('warn', 'lease lost; outcome discarded', { runId: run.id, attempt: lease.attempt, reason: abort.message });
      await logs.drain();
      return;
    }
    if (failure === null && result !== null) {
      const outcome: TaskOutcome = { rowsRead: result.rowsRead, rowsWritten: result.rowsWritten, watermark: result.watermark, warning: result.warning };
      const counts = [result.rowsRead !== undefined ? `${result.rowsRead} rows read` : null, result.rowsWritten !== undefined ? `${result.rowsWritten} rows written` : null]
        .filter((c) => c !== null)
        .join(', ');
      const entry = logEntry(
        result.warning ? 'warn' : 'info',
        `READY in ${elapsed}${counts ? ` (${counts})` : ''}${result.warning ? ` with a warning: ${result.warning}` : ''}` +
          `${cancelRequested ? '; the cancel request came after the task had finished' : ''}`,
        meta,
      );
      await this.#record(run, logs, entry, (all) => this.store.complete(lease, outcome, all));
      return;
    }
    if (abort?.abortCause === 'stop') {
      const entry = logEntry('info', `attempt ${lease.attempt} interrupted after ${elapsed}: ${abort.message}; lease released`, meta);
      await this.#record(run, logs, entry, (all) => this.store.release(lease, all));
      return;
    }
    if (cancelRequested || abort?.abortCause === 'cancelled') {
      const entry = logEntry('info', `cancelled after ${elapsed}`, meta);
      await this.#record(run, logs, entry, (all) => this.store.cancelRunning(lease, 'cancelled on request', all));
      return;
    }
    const errorClass = classifyError(failure);
    const message = errorMessage(failure);
    if (errorClass === 'transient' && lease.attempt < run.maxAttempts) {
      const delay = retryDelayMs(lease.attempt, this.#retry);
      const entry = logEntry('warn', `attempt ${lease.attempt} failed after ${elapsed} (transient): ${message}; retrying in ${delay}ms`, meta);
      const retried = await this.#record(run, logs, entry, (all) => this.store.retry(lease, message, delay, all));
      if (retried) setTimeout(() => this.#wake(), delay).unref();
      return;
    }
    const why = errorClass === 'permanent' ? 'permanent error' : `transient error on the last attempt (${run.maxAttempts})`;
    const entry = logEntry('error', `FAILED after ${elapsed} (${why}): ${message}`, meta);
    await this.#record(run, logs, entry, (all) => this.store.fail(lease, message, all));
  }

  /**
   * Records an outcome together with the unwritten log lines, retrying database errors (a dropped connection,
   * a restarting server) until the lease has surely expired; after that another replica owns the run and the
   * fenced write could not succeed anyway.
   */
  async #record(run: Run, logs: RunLogBuffer, entry: RunLogEntry, write: (logs: RunLogEntry[]) => Promise<Run | null>): Promise<Run | null> {
    const all = [...(await logs.drain()), entry];
    const deadline = Date.now() + this.#leaseMs * 2;
    for (let attempt = 1; ; attempt++) {
      try {
        const written = await write(all);
        if (!written) this.#log('warn', 'lease lost before the outcome was recorded', { runId: run.id, key: formatRunKey(run) });
        return written;
      } catch (error) {
        this.#resubscribeWanted = true;
        if (Date.now() >= deadline) {
          this.#log('error', 'giving up recording a run outcome; the run is retried after its lease expires', { runId: run.id, error: errorMessage(error) });
          return null;
        }
        this.#log('warn', 'recording a run outcome failed; retrying', { runId: run.id, error: errorMessage(error) });
        await sleep(Math.min(100 * 2 ** attempt, 2_000));
      }
    }
  }
}

/** Buffers a run's log lines and writes them in order, fenced by the lease; unwritten lines are handed back. */
class RunLogBuffer {
  readonly #store: RunStore;
  readonly #lease: Lease;
  readonly #onError: (error: unknown) => void;
  #pending: RunLogEntry[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;

  constructor(store: RunStore, lease: Lease, onError: (error: unknown) => void) {
    this.#store = store;
    this.#lease = lease;
    this.#onError = onError;
  }

  add(entry: RunLogEntry): void {
    this.#pending.push(entry);
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#flushing = this.#flushing.then(() => this.#flush());
    }, 50);
    this.#timer.unref();
  }

  async #flush(): Promise<void> {
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    try {
      await this.#store.appendLogs(this.#lease.run.id, batch, { lease: this.#lease });
    } catch (error) {
      this.#pending.unshift(...batch);
      this.#onError(error);
    }
  }

  /** Stops buffering; returns the lines not yet written. */
  async drain(): Promise<RunLogEntry[]> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#flushing;
    return this.#pending.splice(0);
  }
}

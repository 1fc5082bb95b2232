import { createHash } from 'node:crypto';
import { REGISTRY_CHANNEL, type Registry } from '../registry/registry.js';
import { formatRef } from '../registry/resource-ref.js';
import { resolveStreamJob, type StreamJob } from './stream-job.js';
import type { StreamRuntime } from './stream-runtime.js';
import type { StreamWorker } from './stream-worker.js';

export interface StreamSupervisorLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface StreamSupervisorOptions {
  readonly registry: Registry;
  readonly streams: StreamRuntime;
  /** Group members per job in this process (each Trellis replica adds as many; Kafka spreads the partitions). Default 1. */
  readonly replicas?: number;
  /** Full re-scan period, a fallback for missed registry notifications and for failed starts. Default 30 s. */
  readonly rescanMs?: number;
  /** Delay before a crashed or failed job is started again, ms. Default 2000. */
  readonly restartDelayMs?: number;
  /** Debounce of registry notifications, ms. Default 100. */
  readonly debounceMs?: number;
  readonly logger?: StreamSupervisorLogger;
}

/** A job as the supervisor runs it. */
export interface SupervisedJob {
  /** Source `name@variant`. */
  readonly source: string;
  readonly topic: string;
  readonly groupId: string;
  /** Feature ids (`name@variant`), sorted. */
  readonly features: readonly string[];
  readonly workers: readonly StreamWorker[];
}

interface Running {
  readonly job: StreamJob;
  readonly groupId: string;
  readonly features: readonly string[];
  readonly workers: StreamWorker[];
  crashed: boolean;
}

/**
 * The consumer group of a job: per source and per set of features. A job whose feature set changes (a stream
 * feature applied or deleted) gets a new group, which starts from the earliest retained offset, so a new feature
 * sees the topic's history; the features it shares with the old group replay into tiles that already hold those
 * (partition, offset)s, which changes nothing.
 */
export function supervisedGroupId(sourceId: string, featureIds: readonly string[]): string {
  const digest = createHash('sha256').update([...featureIds].sort().join('\n')).digest('hex').slice(0, 12);
  return `trellis-stream.${sourceId.replace('@', '.')}.${digest}`;
}

/**
 * Runs the stream jobs of a Trellis instance: one job (a kafkajs consumer group) per topic source that has stream
 * features with an online provider, `replicas` members of it in this process. Started and stopped with the
 * instance (when its coordinator is enabled); registry changes (`onApplied`, and the registry's NOTIFY channel
 * for deletes and for applies on other replicas) re-scan the registry: new jobs start, jobs whose feature set
 * changed restart under their new group, jobs without features stop. A worker that crashes for good is started
 * again after `restartDelayMs`; a job that cannot start (broker unreachable) is retried with a doubling delay up to
 * the re-scan period.
 */
export class StreamSupervisor {
  readonly #registry: Registry;
  readonly #streams: StreamRuntime;
  readonly #replicas: number;
  readonly #rescanMs: number;
  readonly #restartDelayMs: number;
  readonly #debounceMs: number;
  readonly #logger: StreamSupervisorLogger | undefined;
  readonly #jobs = new Map<string, Running>();
  /** Consecutive failed starts per source: the retry delay doubles up to the re-scan period. */
  readonly #failures = new Map<string, number>();
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #chain: Promise<void> = Promise.resolve();
  #pending: NodeJS.Timeout | null = null;
  #pendingAt = 0;
  #rescan: NodeJS.Timeout | null = null;
  #unlisten: (() => Promise<void>) | null = null;

  constructor(options: StreamSupervisorOptions) {
    this.#registry = options.registry;
    this.#streams = options.streams;
    this.#replicas = Math.max(1, options.replicas ?? 1);
    this.#rescanMs = options.rescanMs ?? 30_000;
    this.#restartDelayMs = options.restartDelayMs ?? 2000;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#logger = options.logger;
  }

  /** The jobs running now. */
  get jobs(): SupervisedJob[] {
    return [...this.#jobs.values()].map((r) => ({ source: r.job.source.id, topic: r.job.source.topic as string, groupId: r.groupId, features: r.features, workers: [...r.workers] }));
  }

  /** Starts the jobs of the registry as it is now, then follows its changes. Failing jobs are retried, not thrown. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new Error('the stream supervisor was already started');
    this.#state = 'running';
    this.#unlisten = await this.#registry.database.listen(REGISTRY_CHANNEL, () => this.changed());
    await this.refresh();
    this.#rescan = setInterval(() => this.changed(), this.#rescanMs);
    this.#rescan.unref();
  }

  /**
   * Schedules a re-scan (debounced); returns at once. An earlier request moves a later pending one forward: an apply
   * must not wait for the back-off of a job that keeps failing.
   */
  changed(delayMs = this.#debounceMs): void {
    if (this.#state !== 'running') return;
    const at = Date.now() + delayMs;
    if (this.#pending) {
      if (this.#pendingAt <= at) return;
      clearTimeout(this.#pending);
    }
    this.#pendingAt = at;
    this.#pending = setTimeout(() => {
      this.#pending = null;
      void this.refresh();
    }, delayMs);
    this.#pending.unref();
  }

  /** Re-scans the registry and reconciles the running jobs; resolves when they match (runs one at a time). */
  refresh(): Promise<void> {
    const next = this.#chain.then(() => (this.#state === 'running' ? this.#reconcile() : undefined));
    this.#chain = next.catch((error: unknown) => {
      this.#logger?.warn('stream supervisor: re-scan failed', { error: (error as Error).message });
      this.changed(this.#restartDelayMs);
    });
    return this.#chain;
  }

  async #desired(): Promise<Map<string, { job: StreamJob; groupId: string; features: string[] }>> {
    const desired = new Map<string, { job: StreamJob; groupId: string; features: string[] }>();
    let cursor: string | undefined;
    do {
      const page = await this.#registry.list('source', { limit: 500, ...(cursor ? { cursor } : {}) });
      for (const stored of page.items) {
        if (stored.definition.kind !== 'source' || stored.definition.topic === undefined || !stored.definition.fields) continue;
        const id = formatRef(stored.name, stored.variant);
        try {
          const job = await resolveStreamJob(this.#registry, id);
          if (job.features.length === 0) continue;
          const features = job.features.map((f) => f.id).sort();
          desired.set(id, { job, groupId: supervisedGroupId(id, features), features });
        } catch (error) {
          this.#logger?.warn('stream supervisor: cannot resolve stream job', { source: id, error: (error as Error).message });
        }
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return desired;
  }

  async #reconcile(): Promise<void> {
    this.#streams.invalidate();
    const desired = await this.#desired();
    for (const [source, running] of [...this.#jobs]) {
      const want = desired.get(source);
      if (!want || want.groupId !== running.groupId || running.crashed) {
        this.#jobs.delete(source);
        await Promise.all(running.workers.map((w) => this.#streams.stopWorker(w)));
        this.#logger?.info('stream job stopped', { source, groupId: running.groupId, reason: !want ? 'no stream features' : running.crashed ? 'crashed' : 'features changed' });
      }
    }
    for (const [source, want] of desired) {
      if (this.#jobs.has(source) || this.#state !== 'running') continue;
      const running: Running = { job: want.job, groupId: want.groupId, features: want.features, workers: [], crashed: false };
      try {
        for (let i = 0; i < this.#replicas; i++) {
          running.workers.push(
            await this.#streams.startWorker(source, {
              job: want.job,
              groupId: want.groupId,
              onCrash: (error) => {
                this.#logger?.warn('stream worker crashed', { source, groupId: want.groupId, error: error.message });
                running.crashed = true;
                this.changed(this.#restartDelayMs);
              },
              // The schema registry of an Avro source gave no answer: the worker retries the chunk (backoff ≤ 5 s).
              onError: (error) => this.#logger?.warn('stream worker waiting for the schema registry', { source, groupId: want.groupId, error: error.message }),
            }),
          );
        }
        this.#jobs.set(source, running);
        this.#failures.delete(source);
        this.#logger?.info('stream job started', { source, groupId: want.groupId, features: want.features, replicas: this.#replicas });
      } catch (error) {
        await Promise.all(running.workers.map((w) => this.#streams.stopWorker(w)));
        const failures = (this.#failures.get(source) ?? 0) + 1;
        this.#failures.set(source, failures);
        this.#logger?.warn('stream supervisor: cannot start stream job', { source, failures, error: (error as Error).message });
        this.changed(Math.min(this.#restartDelayMs * 2 ** (failures - 1), this.#rescanMs));
      }
    }
  }

  /** Stops every job (members leave their groups). Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    if (this.#pending) clearTimeout(this.#pending);
    if (this.#rescan) clearInterval(this.#rescan);
    await this.#unlisten?.().catch(() => {});
    await this.#chain.catch(() => {});
    const jobs = [...this.#jobs.values()];
    this.#jobs.clear();
    await Promise.all(jobs.flatMap((r) => r.workers.map((w) => this.#streams.stopWorker(w))));
  }
}

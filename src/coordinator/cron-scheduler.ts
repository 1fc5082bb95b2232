import { Cron } from 'croner';
import { REGISTRY_CHANNEL } from '../registry/registry.js';
import { idKey, type ResourceId } from '../registry/resource-ref.js';
import type { RegistryDatabase } from '../registry/registry-database.js';
import type { ResourceKind } from '../registry/resource-schemas.js';
import type { RunTriggers } from './run-triggers.js';
import { errorMessage } from './task-errors.js';

export interface CronSchedulerOptions {
  readonly db: RegistryDatabase;
  readonly triggers: RunTriggers;
  /** Recorded with each tick this replica fires. */
  readonly replicaId: string;
  /** Reload schedules at least this often (default 60 s); a registry change reloads them at once. */
  readonly reloadMs?: number;
  readonly onError?: (message: string, error: unknown) => void;
  /** Called after this replica fired a tick (and queued or joined run `runId`). */
  readonly onFired?: (id: ResourceId, tick: Date, runId: number) => void;
}

interface ScheduledJob {
  readonly pattern: string;
  readonly cron: Cron;
}

/**
 * Fires the cron `schedule` of features (materialization, when they have an online provider) and
 * transformations, in UTC. Every replica runs a scheduler; the `run_schedule_ticks` primary key lets exactly
 * one replica fire a given tick. Ticks missed while no replica was up are not back-filled.
 */
export class CronScheduler {
  readonly #options: CronSchedulerOptions;
  readonly #jobs = new Map<string, ScheduledJob>();
  #unsubscribe: (() => Promise<void>) | null = null;
  #reloadTimer: NodeJS.Timeout | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #reloading: Promise<void> = Promise.resolve();
  #stopped = true;

  constructor(options: CronSchedulerOptions) {
    this.#options = options;
  }

  /** The schedules currently armed, `kind\0name\0variant` → cron pattern. */
  get schedules(): ReadonlyMap<string, string> {
    return new Map([...this.#jobs].map(([key, job]) => [key, job.pattern]));
  }

  async start(): Promise<void> {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#unsubscribe = await this.#options.db.listen(REGISTRY_CHANNEL, () => this.#scheduleReload());
    await this.reload();
    const every = this.#options.reloadMs ?? 60_000;
    const tick = () => {
      this.#reloadTimer = setTimeout(() => {
        void this.reload().finally(() => {
          if (!this.#stopped) tick();
        });
      }, every);
      this.#reloadTimer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#reloadTimer) clearTimeout(this.#reloadTimer);
    if (this.#debounce) clearTimeout(this.#debounce);
    await this.#reloading.catch(() => {});
    for (const job of this.#jobs.values()) job.cron.stop();
    this.#jobs.clear();
    await this.#unsubscribe?.().catch(() => {});
    this.#unsubscribe = null;
  }

  /** Re-reads the schedules from the registry and arms, re-arms or disarms jobs to match. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.catch(() => {}).then(() => this.#reload());
    return this.#reloading;
  }

  #scheduleReload(): void {
    if (this.#stopped) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.reload(), 50);
    this.#debounce.unref();
  }

  async #reload(): Promise<void> {
    if (this.#stopped) return;
    let rows: { kind: ResourceKind; name: string; variant: string; schedule: string }[];
    try {
      ({ rows } = await this.#options.db.query<{ kind: ResourceKind; name: string; variant: string; schedule: string }>(
        `select kind, name, variant, definition->>'schedule' as schedule from resources
         where (kind = 'transformation' or (kind = 'feature' and definition->>'onlineProvider' is not null))
           and definition->>'schedule' is not null`,
      ));
    } catch (error) {
      this.#options.onError?.('could not load schedules', error);
      return;
    }
    if (this.#stopped) return;
    const wanted = new Map(rows.map((r) => [idKey(r), r]));
    for (const [key, job] of this.#jobs) {
      if (wanted.get(key)?.schedule !== job.pattern) {
        job.cron.stop();
        this.#jobs.delete(key);
      }
    }
    for (const [key, row] of wanted) {
      if (this.#jobs.has(key)) continue;
      const id: ResourceId = { kind: row.kind, name: row.name, variant: row.variant };
      try {
        const cron: Cron = new Cron(row.schedule, { timezone: 'UTC', unref: true }, () => void this.#fire(id, cron));
        this.#jobs.set(key, { pattern: row.schedule, cron });
      } catch (error) {
        this.#options.onError?.(`invalid schedule ${JSON.stringify(row.schedule)} on ${row.kind} ${row.name}@${row.variant}`, error);
      }
    }
  }

  async #fire(id: ResourceId, cron: Cron): Promise<void> {
    // The scheduled instant, not the (slightly later, replica-dependent) time the timer fired.
    const now = new Date();
    const tick = cron.previousRuns(1, now)[0] ?? new Date(Math.floor(now.getTime() / 1000) * 1000);
    try {
      const result = await this.#options.triggers.fireScheduled(id, tick, this.#options.replicaId);
      if (result) this.#options.onFired?.(id, tick, result.run.id);
    } catch (error) {
      this.#options.onError?.(`schedule tick ${tick.toISOString()} of ${id.kind} ${id.name}@${id.variant} failed: ${errorMessage(error)}`, error);
    }
  }
}

import { TrellisError, isTrellisError } from '../errors/trellis-error.js';
import type { ApplyPlan, Registry, StoredResource } from '../registry/registry.js';
import { formatId, idKey, type ResourceId } from '../registry/resource-ref.js';
import type { RegistryDatabase } from '../registry/registry-database.js';
import { logEntry, type CreateRunResult, type RunStore } from './run-store.js';
import { taskOfKind, type Run, type RunKey, type RunTrigger, type RunnableKind, type TaskKind } from './run-types.js';

export interface TriggerOptions {
  /** Free-form task parameters (e.g. `{ "full": true }`); runs with different params never coalesce. */
  readonly params?: Readonly<Record<string, unknown>>;
  readonly triggeredBy?: RunTrigger;
  readonly maxAttempts?: number;
}

export interface RunTriggersOptions {
  /** Attempts per run, retries included (default 3). */
  readonly maxAttempts?: number;
}

/** The task a resource runs, or null for kinds without runs (and features without an online provider). */
export function taskFor(resource: Pick<StoredResource, 'kind' | 'definition'>): TaskKind | null {
  if (!(resource.kind in taskOfKind)) return null;
  if (resource.definition.kind === 'feature' && !resource.definition.onlineProvider) return null;
  return taskOfKind[resource.kind as RunnableKind];
}

/**
 * Turns intents into queued runs: an API trigger, a fired cron tick, or an apply that created new variants.
 * A run waits for the unfinished runs of the transformations whose output it reads (a materialization for
 * its source transformation; a training set for its label's and features' transformations; a transformation
 * for the transformations its SQL references), so a chain applied together builds in order.
 */
export class RunTriggers {
  readonly #registry: Registry;
  readonly #store: RunStore;
  readonly #db: RegistryDatabase;
  readonly #maxAttempts: number;

  constructor(registry: Registry, store: RunStore, options: RunTriggersOptions = {}) {
    this.#registry = registry;
    this.#store = store;
    this.#db = store.database;
    this.#maxAttempts = options.maxAttempts ?? 3;
  }

  /** Queues a run of a resource. NotFound for an unknown resource, a validation error when it has nothing to run. */
  async trigger(id: ResourceId, options: TriggerOptions = {}): Promise<CreateRunResult> {
    const resource = await this.#registry.get(id.kind, id.name, id.variant);
    const task = taskFor(resource);
    if (!task) {
      const reason = resource.kind === 'feature' ? `${formatId(id)} has no onlineProvider: there is nothing to materialize` : `a ${resource.kind} has no runs`;
      throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/kind', reason }, { details: { pointer: '/kind' } });
    }
    const upstream = await this.#upstreamBuilds(resource);
    return this.#db.transaction(async (tx) => {
      const dependsOn = await this.#store.openRunIds(upstream, tx);
      return this.#store.create({ ...id, task, dependsOn, params: options.params ?? {}, triggeredBy: options.triggeredBy ?? 'api', maxAttempts: options.maxAttempts ?? this.#maxAttempts }, tx);
    });
  }

  /**
   * Creates the initial runs after an apply, in one transaction: a run for every new transformation, feature
   * with an online provider and training set, each waiting for the runs of the transformations it reads.
   * Does nothing for a dry run or a plan that was not applied. Returns the runs in creation order.
   */
  async onApplied(plan: ApplyPlan): Promise<Run[]> {
    if (!plan.applied || plan.dryRun) return [];
    const created: { resource: StoredResource; task: TaskKind; upstream: RunKey[] }[] = [];
    for (const action of plan.actions) {
      if (action.action !== 'create' || !(action.kind in taskOfKind)) continue;
      const resource = await this.#registry.get(action.kind, action.name, action.variant);
      const task = taskFor(resource);
      if (task) created.push({ resource, task, upstream: await this.#upstreamBuilds(resource) });
    }
    const rank = { transformation: 0, materialization: 1, training_set: 2 } satisfies Record<TaskKind, number>;
    const ordered = topologicalTransformations(created).concat(created.filter((c) => c.task !== 'transformation').sort((a, b) => rank[a.task] - rank[b.task]));
    if (ordered.length === 0) return [];
    return this.#db.transaction(async (tx) => {
      const runs: Run[] = [];
      for (const item of ordered) {
        const dependsOn = await this.#store.openRunIds(item.upstream, tx);
        const { kind, name, variant } = item.resource;
        const { run } = await this.#store.create({ kind, name, variant, task: item.task, dependsOn, triggeredBy: 'apply', maxAttempts: this.#maxAttempts }, tx);
        runs.push(run);
      }
      return runs;
    });
  }

  /**
   * Fires one cron tick of a resource. Of any number of replicas firing the same tick, only the one that
   * records the tick first queues (or joins) a run; the others get null. Null too when the resource is gone
   * or has nothing to run.
   */
  async fireScheduled(id: ResourceId, tick: Date, firedBy: string): Promise<CreateRunResult | null> {
    let resource: StoredResource;
    try {
      resource = await this.#registry.get(id.kind, id.name, id.variant);
    } catch (error) {
      if (isTrellisError(error) && error.code === 'TRELLIS_ERR_NOT_FOUND') return null;
      throw error;
    }
    const task = taskFor(resource);
    if (!task) return null;
    const upstream = await this.#upstreamBuilds(resource);
    return this.#db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `insert into run_schedule_ticks (kind, name, variant, task, tick, fired_by) values ($1, $2, $3, $4, $5, $6)
         on conflict do nothing returning tick`,
        [id.kind, id.name, id.variant, task, tick.toISOString(), firedBy],
      );
      if (rows.length === 0) return null;
      const dependsOn = await this.#store.openRunIds(upstream, tx);
      const result = await this.#store.create({ ...id, task, dependsOn, triggeredBy: 'schedule', maxAttempts: this.#maxAttempts }, tx);
      await tx.query(`update run_schedule_ticks set run_id = $6 where kind = $1 and name = $2 and variant = $3 and task = $4 and tick = $5`, [
        id.kind, id.name, id.variant, task, tick.toISOString(), result.run.id,
      ]);
      await this.#store.appendLogs(result.run.id, [logEntry('info', `schedule tick ${tick.toISOString()} fired by ${firedBy}`, { worker: firedBy })], { session: tx });
      return result;
    });
  }

  /** Run keys of the transformations whose output `resource` reads. */
  async #upstreamBuilds(resource: StoredResource): Promise<RunKey[]> {
    const id: ResourceId = { kind: resource.kind, name: resource.name, variant: resource.variant };
    const direct = await this.#registry.upstream(id);
    const readers = resource.kind === 'training_set' ? direct.filter((u) => u.kind === 'feature' || u.kind === 'label') : [id];
    const found = new Map<string, RunKey>();
    for (const reader of readers) {
      const upstream = reader === id ? direct : await this.#registry.upstream(reader);
      for (const u of upstream) {
        if (u.kind === 'transformation') found.set(idKey(u), { ...u, task: 'transformation' });
      }
    }
    return [...found.values()];
  }
}

/** New transformations ordered so each comes after the new transformations it reads. */
function topologicalTransformations<T extends { resource: StoredResource; task: TaskKind; upstream: RunKey[] }>(items: readonly T[]): T[] {
  const transformations = items.filter((i) => i.task === 'transformation');
  const byKey = new Map(transformations.map((t) => [idKey(t.resource), t]));
  const ordered: T[] = [];
  const visited = new Set<string>();
  const visit = (item: T) => {
    const key = idKey(item.resource);
    if (visited.has(key)) return;
    visited.add(key);
    for (const u of item.upstream) {
      const dep = byKey.get(idKey(u));
      if (dep) visit(dep);
    }
    ordered.push(item);
  };
  transformations.forEach(visit);
  return ordered;
}

import { TrellisError, isTrellisError } from '../errors/trellis-error.js';
import type { ApplyPlan, Registry, StoredResource } from '../registry/registry.js';
import { DEFAULT_VARIANT, formatId, formatRef, idKey, parseRef, type ResourceId } from '../registry/resource-ref.js';
import type { RegistryDatabase } from '../registry/registry-database.js';
import type { ResourceKind } from '../registry/resource-schemas.js';
import { lockKey, logEntry, type CreateRunResult, type RunStore } from './run-store.js';
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
    if (task && (await this.#streamFedFeatures([resource])).size > 0) {
      const reason = `${formatId(id)} reads a stream source: its stream job keeps it online, there is no batch materialization`;
      throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/kind', reason }, { details: { pointer: '/kind' } });
    }
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
   * A fixed number of statements whatever the plan's size (definitions, lineage and the runs of features and
   * training sets in batches); new transformations, which may wait on each other, are created one by one.
   */
  async onApplied(plan: ApplyPlan): Promise<Run[]> {
    if (!plan.applied || plan.dryRun) return [];
    const candidates = plan.actions.filter((a) => a.action === 'create' && a.kind in taskOfKind);
    if (candidates.length === 0) return [];
    const resources = await this.#resources(candidates);
    const streamFed = await this.#streamFedFeatures(resources);
    const withTask = resources.flatMap((resource) => {
      const task = streamFed.has(idKey(resource)) ? null : taskFor(resource);
      return task ? [{ resource, task }] : [];
    });
    const upstream = await this.#upstreamBuildsOf(withTask.map((c) => c.resource));
    const created = withTask.map((c) => ({ ...c, upstream: upstream.get(idKey(c.resource)) ?? [] }));
    const rank = { transformation: 0, materialization: 1, training_set: 2 } satisfies Record<TaskKind, number>;
    const transformations = topologicalTransformations(created);
    const others = created.filter((c) => c.task !== 'transformation').sort((a, b) => rank[a.task] - rank[b.task]);
    if (transformations.length + others.length === 0) return [];
    return this.#db.transaction(async (tx) => {
      const runs: Run[] = [];
      for (const item of transformations) {
        const dependsOn = await this.#store.openRunIds(item.upstream, tx);
        const { kind, name, variant } = item.resource;
        const { run } = await this.#store.create({ kind, name, variant, task: item.task, dependsOn, triggeredBy: 'apply', maxAttempts: this.#maxAttempts }, tx);
        runs.push(run);
      }
      // Features and training sets wait only on transformations (created above, or older): one batch.
      const open = await this.#store.openRunIdsMany(dedupeKeys(others.flatMap((o) => o.upstream)), tx);
      const results = await this.#store.createMany(
        others.map((item) => ({
          kind: item.resource.kind,
          name: item.resource.name,
          variant: item.resource.variant,
          task: item.task,
          dependsOn: item.upstream.flatMap((u) => open.get(lockKey(u)) ?? []),
          triggeredBy: 'apply' as const,
          maxAttempts: this.#maxAttempts,
        })),
        tx,
      );
      return runs.concat(results.map((r) => r.run));
    });
  }

  /**
   * Keys ({@link idKey}) of the features among `resources` whose source is a stream (a topic, or declared `fields`
   * for pushed events): their online values come from the stream job's tiles, not from a materialization run.
   * One query for all of them.
   */
  async #streamFedFeatures(resources: readonly Pick<StoredResource, 'kind' | 'name' | 'variant' | 'definition'>[]): Promise<Set<string>> {
    const features = resources.flatMap((r) => (r.definition.kind === 'feature' ? [{ id: r, source: parseRef(r.definition.source) }] : []));
    const result = new Set<string>();
    if (features.length === 0) return result;
    const { rows } = await this.#db.query<{ name: string; variant: string }>(
      `select distinct r.name, r.variant
       from jsonb_to_recordset($1::jsonb) as i(name text, variant text)
       join resources r on r.kind = 'source' and r.name = i.name and r.variant = i.variant
       where r.definition ? 'topic' or r.definition ? 'fields'`,
      [JSON.stringify(features.map((f) => ({ name: f.source.name, variant: f.source.variant ?? DEFAULT_VARIANT })))],
    );
    const streams = new Set(rows.map((row) => formatRef(row.name, row.variant)));
    for (const f of features) if (streams.has(formatRef(f.source.name, f.source.variant ?? DEFAULT_VARIANT))) result.add(idKey(f.id));
    return result;
  }

  /** The stored resources of `ids` in one query, in the order of `ids`. */
  async #resources(ids: readonly ResourceId[]): Promise<Pick<StoredResource, 'kind' | 'name' | 'variant' | 'definition'>[]> {
    const { rows } = await this.#db.query<Pick<StoredResource, 'kind' | 'name' | 'variant' | 'definition'>>(
      `select r.kind, r.name, r.variant, r.definition
       from jsonb_to_recordset($1::jsonb) as i(n int, kind text, name text, variant text)
       join resources r on r.kind = i.kind and r.name = i.name and r.variant = i.variant
       order by i.n`,
      [JSON.stringify(ids.map((id, n) => ({ n, kind: id.kind, name: id.name, variant: id.variant })))],
    );
    if (rows.length !== ids.length) {
      const found = new Set(rows.map(idKey));
      const missing = ids.find((id) => !found.has(idKey(id)))!;
      await this.#registry.get(missing.kind, missing.name, missing.variant); // throws NotFound, as one by one would
    }
    return rows;
  }

  /** {@link #upstreamBuilds} of many resources with at most two lineage queries: resource key → run keys. */
  async #upstreamBuildsOf(resources: readonly Pick<StoredResource, 'kind' | 'name' | 'variant'>[]): Promise<Map<string, RunKey[]>> {
    const direct = await this.#lineageUpstream(resources);
    const readersOf = new Map<string, ResourceId[]>();
    for (const r of resources) {
      const id: ResourceId = { kind: r.kind, name: r.name, variant: r.variant };
      readersOf.set(idKey(id), r.kind === 'training_set' ? (direct.get(idKey(id)) ?? []).filter((u) => u.kind === 'feature' || u.kind === 'label') : [id]);
    }
    const indirect = await this.#lineageUpstream([...readersOf.values()].flat().filter((reader) => !direct.has(idKey(reader)) && reader.kind !== 'training_set'));
    const result = new Map<string, RunKey[]>();
    for (const [key, readers] of readersOf) {
      const found = new Map<string, RunKey>();
      for (const reader of readers) {
        for (const u of direct.get(idKey(reader)) ?? indirect.get(idKey(reader)) ?? []) {
          if (u.kind === 'transformation') found.set(idKey(u), { ...u, task: 'transformation' });
        }
      }
      result.set(key, [...found.values()]);
    }
    return result;
  }

  /** Direct upstream resources (lineage edges) of each id, sorted like Registry.upstream: id key → upstream. */
  async #lineageUpstream(ids: readonly ResourceId[]): Promise<Map<string, ResourceId[]>> {
    const found = new Map<string, ResourceId[]>(ids.map((id) => [idKey(id), []]));
    if (ids.length === 0) return found;
    const { rows } = await this.#db.query<{ to_kind: ResourceKind; to_name: string; to_variant: string; kind: ResourceKind; name: string; variant: string }>(
      `select e.to_kind, e.to_name, e.to_variant, e.from_kind as kind, e.from_name as name, e.from_variant as variant
       from lineage_edges e
       join (select distinct kind, name, variant from jsonb_to_recordset($1::jsonb) as i(kind text, name text, variant text)) as i
         on e.to_kind = i.kind and e.to_name = i.name and e.to_variant = i.variant
       order by 1, 2, 3, 4, 5, 6`,
      [JSON.stringify(ids.map((id) => ({ kind: id.kind, name: id.name, variant: id.variant })))],
    );
    for (const row of rows) found.get(idKey({ kind: row.to_kind, name: row.to_name, variant: row.to_variant }))!.push({ kind: row.kind, name: row.name, variant: row.variant });
    return found;
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
    if (!task || (await this.#streamFedFeatures([resource])).size > 0) return null;
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
function topologicalTransformations<T extends { resource: ResourceId; task: TaskKind; upstream: RunKey[] }>(items: readonly T[]): T[] {
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

function dedupeKeys(keys: readonly RunKey[]): RunKey[] {
  return [...new Map(keys.map((k) => [lockKey(k), k])).values()];
}

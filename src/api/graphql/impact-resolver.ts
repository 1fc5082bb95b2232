import { isTrellisError } from '../../errors/trellis-error.js';
import type { FieldDiff } from '../../registry/definition-hash.js';
import type { ApplyPlan, PlanActionKind, Registry } from '../../registry/registry.js';
import { idKey, type ResourceId } from '../../registry/resource-ref.js';
import type { ResourceKind } from '../../registry/resource-schemas.js';
import type { RegistryBatch } from './registry-batch.js';
import { globalId, kindToEnum, type ResourceNode } from './resource-node.js';

export type ImpactReason = 'CONFLICT' | 'NEW_DEFAULT_VARIANT';

export interface ResourceKey {
  readonly id: string;
  readonly kind: string;
  readonly name: string;
  readonly variant: string;
}

export interface PlannedChange {
  readonly key: ResourceKey;
  readonly action: Uppercase<PlanActionKind>;
  readonly diff: readonly FieldDiff[];
  readonly existing: ResourceNode | null;
  readonly replacesDefault: ResourceNode | null;
}

export interface AffectedResource {
  readonly resource: ResourceNode;
  readonly distance: number;
  readonly causes: { change: ResourceKey; reason: ImpactReason }[];
}

export interface Impact {
  readonly applicable: boolean;
  readonly actions: PlannedChange[];
  readonly newEdges: { from: ResourceKey; to: ResourceKey }[];
  /** Every affected resource; the `affected(kinds)` field filters it. */
  readonly affected: AffectedResource[];
}

export const resourceKey = (id: ResourceId): ResourceKey => ({ id: globalId(id), kind: kindToEnum(id.kind), name: id.name, variant: id.variant });

/**
 * The dry-run plan of an apply, including a refused one: a conflict is the interesting case here, so the plan
 * carried by TRELLIS_ERR_CONFLICT is used instead of the error. Every other error (invalid definitions, missing
 * references, cycles) is the answer.
 */
async function dryRun(registry: Registry, resources: readonly unknown[], actor: string): Promise<ApplyPlan> {
  try {
    return await registry.apply(resources, { dryRun: true, actor, pointer: '/resources' });
  } catch (error) {
    const plan = isTrellisError(error) && error.code === 'TRELLIS_ERR_CONFLICT' ? (error.details?.plan as ApplyPlan | undefined) : undefined;
    if (plan) return plan;
    throw error;
  }
}

/**
 * What applying `resources` would do: the plan per resource, the edges it adds, and the existing resources
 * downstream of each conflicting variant and of each default variant a new variant would replace. Costs the
 * dry run plus three batched queries whatever the number of resources.
 */
export async function resolveImpact(registry: Registry, batch: RegistryBatch, resources: readonly unknown[], actor: string): Promise<Impact> {
  const plan = await dryRun(registry, resources, actor);
  const ids = plan.actions.map((a): ResourceId => ({ kind: a.kind, name: a.name, variant: a.variant }));
  const [stored, defaults] = await Promise.all([
    Promise.all(ids.map((id, i) => (plan.actions[i]!.action === 'create' ? null : batch.resource(id)))),
    Promise.all(ids.map(async (id, i) => (plan.actions[i]!.action === 'create' ? ((await batch.variants(id.kind, id.name))[0] ?? null) : null))),
  ]);

  const actions: PlannedChange[] = plan.actions.map((a, i) => ({
    key: resourceKey(ids[i]!),
    action: a.action.toUpperCase() as Uppercase<PlanActionKind>,
    diff: a.diff ?? [],
    existing: stored[i] ?? null,
    replacesDefault: defaults[i] ?? null,
  }));

  const seeds: { id: ResourceId; cause: string }[] = [];
  const causes = new Map<string, { change: ResourceKey; reason: ImpactReason }>();
  actions.forEach((action, i) => {
    const seed = action.action === 'CONFLICT' ? ids[i]! : action.replacesDefault;
    if (!seed) return;
    const cause = String(i);
    causes.set(cause, { change: action.key, reason: action.action === 'CONFLICT' ? 'CONFLICT' : 'NEW_DEFAULT_VARIANT' });
    seeds.push({ id: { kind: seed.kind, name: seed.name, variant: seed.variant }, cause });
  });

  const byResource = new Map<string, { resource: ResourceNode; distance: number; causes: { change: ResourceKey; reason: ImpactReason }[] }>();
  for (const hit of await batch.queries.downstreamOf(seeds)) {
    const key = idKey(hit.record);
    const entry = byResource.get(key) ?? { resource: batch.adopt(hit.record), distance: hit.distance, causes: [] };
    entry.distance = Math.min(entry.distance, hit.distance);
    entry.causes.push(causes.get(hit.cause)!);
    byResource.set(key, entry);
  }
  const affected = [...byResource.values()].sort(
    (a, b) => a.distance - b.distance || compare(a.resource.kind, b.resource.kind) || compare(a.resource.name, b.resource.name) || compare(a.resource.variant, b.resource.variant),
  );

  return {
    applicable: actions.every((a) => a.action !== 'CONFLICT'),
    actions,
    newEdges: plan.edges.map((e) => ({ from: resourceKey(e.from), to: resourceKey(e.to) })),
    affected,
  };
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export const affectedOfKinds = (impact: Impact, kinds: readonly ResourceKind[] | null | undefined) =>
  kinds && kinds.length > 0 ? impact.affected.filter((a) => kinds.includes(a.resource.kind)) : impact.affected;

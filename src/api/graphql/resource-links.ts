import { notFound } from '../../errors/trellis-error.js';
import type { RunRecord, RunSummary } from '../../registry/registry-queries.js';
import { DEFAULT_VARIANT, parseRef, type ResourceId } from '../../registry/resource-ref.js';
import type { ResourceKind } from '../../registry/resource-schemas.js';
import type { RegistryBatch } from './registry-batch.js';
import type { ResourceNode } from './resource-node.js';

/** The id a reference (`name@variant` once pinned) points at, for one kind. */
export function refId(kind: ResourceKind, ref: string): ResourceId {
  const { name, variant } = parseRef(ref);
  return { kind, name, variant: variant ?? DEFAULT_VARIANT };
}

/** A referenced resource; references of stored variants always resolve (delete refuses while dependents exist). */
export async function referenced(batch: RegistryBatch, kind: ResourceKind, ref: string): Promise<ResourceNode> {
  const node = await batch.resource(refId(kind, ref));
  if (!node) throw notFound(kind, ref);
  return node;
}

/** A source-or-transformation reference (the two kinds share one namespace). */
export async function dataSource(batch: RegistryBatch, ref: string): Promise<ResourceNode> {
  const [source, transformation] = await Promise.all([batch.resource(refId('source', ref)), batch.resource(refId('transformation', ref))]);
  const node = source ?? transformation;
  if (!node) throw notFound('source', ref);
  return node;
}

/** One variant, or the default (latest created) variant when `variant` is not given. */
export async function findResource(batch: RegistryBatch, kind: ResourceKind, name: string, variant: string | null | undefined): Promise<ResourceNode | null> {
  if (variant) return batch.resource({ kind, name, variant });
  return (await batch.variants(kind, name))[0] ?? null;
}

/**
 * Where a resource's data lives: the offline or stream provider of a source or transformation, reached through
 * the source for features and labels and through the label for training sets. Each hop is one batched lookup
 * shared by every node of the request.
 */
export async function location(batch: RegistryBatch, node: ResourceNode): Promise<ResourceNode | null> {
  const def = node.definition;
  switch (def.kind) {
    case 'source':
    case 'transformation':
      return referenced(batch, 'provider', def.provider);
    case 'feature':
    case 'label':
      return location(batch, await dataSource(batch, def.source));
    case 'training_set':
      return location(batch, await referenced(batch, 'label', def.label));
    default:
      return null;
  }
}

export type FreshnessStatus = 'NEVER_SUCCEEDED' | 'SUCCEEDED' | 'FAILING';

export interface Freshness {
  readonly status: FreshnessStatus;
  readonly lastSuccess: RunRecord | null;
  readonly lastSuccessAt: string | null;
  readonly lagSeconds: number | null;
  readonly rowsRead: number | null;
  readonly rowsWritten: number | null;
  readonly lastRun: RunRecord | null;
  readonly lastFailure: RunRecord | null;
  readonly lastError: string | null;
}

const endOf = (run: RunRecord) => Date.parse(run.finishedAt ?? run.createdAt);

/** Freshness from the run summary: lag is the time since the latest successful run finished. */
export function freshness(summary: RunSummary, now: number = Date.now()): Freshness {
  const { lastSuccess, lastFailure, lastRun } = summary;
  const successAt = lastSuccess ? new Date(endOf(lastSuccess)).toISOString() : null;
  let status: FreshnessStatus = 'NEVER_SUCCEEDED';
  if (lastSuccess) status = lastFailure && endOf(lastFailure) > endOf(lastSuccess) ? 'FAILING' : 'SUCCEEDED';
  return {
    status,
    lastSuccess,
    lastSuccessAt: successAt,
    lagSeconds: successAt === null ? null : Math.max(0, (now - Date.parse(successAt)) / 1000),
    rowsRead: lastSuccess?.rowsRead ?? null,
    rowsWritten: lastSuccess?.rowsWritten ?? null,
    lastRun,
    lastFailure,
    lastError: lastFailure?.error ?? null,
  };
}

import type { ResourceRecord } from '../../registry/registry-queries.js';
import type { ResourceId } from '../../registry/resource-ref.js';
import type { ResourceKind } from '../../registry/resource-schemas.js';

/**
 * A resource record as a GraphQL parent object. It serialises to its global id, so mercurius loaders (which
 * key their cache on the JSON of the parent) hash a short string instead of the whole definition.
 */
export type ResourceNode = ResourceRecord & { toJSON(): string };

/** `feature:user_amount@default`. */
export const globalId = (id: ResourceId) => `${id.kind}:${id.name}@${id.variant}`;

const nodePrototype = {
  toJSON(this: ResourceRecord): string {
    return globalId(this);
  },
};

export function toNode(record: ResourceRecord): ResourceNode {
  return Object.assign(Object.create(nodePrototype) as ResourceNode, record);
}

/** GraphQL type name per kind. */
export const typeNames = {
  provider: 'Provider',
  entity: 'Entity',
  source: 'Source',
  transformation: 'Transformation',
  feature: 'Feature',
  label: 'Label',
  training_set: 'TrainingSet',
  feature_service: 'FeatureService',
} as const satisfies Record<ResourceKind, string>;

/** `TRAINING_SET` ↔ `training_set`: the enum values are the kinds upper-cased. */
export const kindToEnum = (kind: ResourceKind) => kind.toUpperCase();
export const kindFromEnum = (value: string) => value.toLowerCase() as ResourceKind;

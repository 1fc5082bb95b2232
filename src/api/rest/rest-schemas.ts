import { Type } from '@sinclair/typebox';
import { errorCatalogue } from '../../errors/error-catalogue.js';
import { NAME_PATTERN, definitionSchemas, resourceKinds } from '../../registry/resource-schemas.js';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.Union(Object.keys(errorCatalogue).map((c) => Type.Literal(c))),
      message: Type.String(),
      pointer: Type.Optional(Type.String({ description: 'JSON pointer to the offending field' })),
      details: Type.Optional(Type.Object({}, { additionalProperties: true })),
    }),
  },
  { $id: 'ErrorResponse', title: 'ErrorResponse' },
);

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref(ErrorResponse)]));

export const KindParam = Type.Union(resourceKinds.map((k) => Type.Literal(k)), { description: 'Resource kind' });
export const NameParam = Type.String({ pattern: NAME_PATTERN, maxLength: 63 });

export const ResourceIdSchema = Type.Object({ kind: KindParam, name: Type.String(), variant: Type.String() });

export const StoredResourceSchema = Type.Object(
  {
    kind: KindParam,
    name: Type.String(),
    variant: Type.String(),
    definition: Type.Object({}, { additionalProperties: true, description: 'The definition as applied, references pinned to name@variant' }),
    owner: Type.String(),
    description: Type.String(),
    tags: Type.Array(Type.String()),
    properties: Type.Record(Type.String(), Type.String()),
    status: Type.String(),
    statusMessage: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'StoredResource', title: 'StoredResource' },
);

export const ResourceDefinitionSchema = Type.Union(resourceKinds.map((k) => definitionSchemas[k]), {
  description: 'One resource definition; see definitions/schema.json',
});

export const ApplyRequest = Type.Object(
  {
    resources: Type.Array(ResourceDefinitionSchema, { maxItems: 10000 }),
    dryRun: Type.Optional(Type.Boolean({ default: false, description: 'Plan only; change nothing' })),
  },
  { additionalProperties: false },
);

export const ApplyPlanSchema = Type.Object(
  {
    dryRun: Type.Boolean(),
    applied: Type.Boolean(),
    actions: Type.Array(
      Type.Object({
        kind: KindParam,
        name: Type.String(),
        variant: Type.String(),
        action: Type.Union([Type.Literal('create'), Type.Literal('unchanged'), Type.Literal('conflict')]),
        diff: Type.Optional(Type.Array(Type.Object({ field: Type.String(), existing: Type.Unknown(), proposed: Type.Unknown() }))),
      }),
    ),
    edges: Type.Array(Type.Object({ from: ResourceIdSchema, to: ResourceIdSchema })),
  },
  { $id: 'ApplyPlan', title: 'ApplyPlan' },
);

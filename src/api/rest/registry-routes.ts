import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Registry } from '../../registry/registry.js';
import type { ResourceKind } from '../../registry/resource-schemas.js';
import { requireName } from '../plugins/auth.js';
import {
  ApplyPlanSchema,
  ApplyRequest,
  KindParam,
  NameParam,
  ResourceIdSchema,
  StoredResourceSchema,
  errorResponses,
} from './rest-schemas.js';

/** `?verify=true|false` (the apply route's own validator: its body validator must not see the query). */
const verifyQuery = (data: unknown) => {
  const query = (data ?? {}) as Record<string, unknown>;
  const invalid = (instancePath: string, message: string) =>
    ({ error: Object.assign(new Error(message), { validation: [{ instancePath, message, params: {} }], validationContext: 'querystring' }) });
  const extra = Object.keys(query).find((k) => k !== 'verify');
  if (extra) return invalid('', `unknown parameter ${extra}`);
  if (query.verify === undefined) return { value: {} };
  if (query.verify !== 'true' && query.verify !== 'false' && typeof query.verify !== 'boolean') return invalid('/verify', 'must be true or false');
  return { value: { verify: query.verify === true || query.verify === 'true' } };
};

const actorOf = (principal: { keyId: string; name: string } | null) => (principal ? `key:${principal.keyId}` : 'anonymous');

/** Apply, list, get and delete resources. */
export const registryRoutes: FastifyPluginAsyncTypebox<{ registry: Registry }> = async (app, { registry }) => {
  app.post(
    '/apply',
    {
      preHandler: app.requireScope('write'),
      // The handler validates each definition by its kind, which gives precise JSON pointers; the schema
      // here documents the body and checks its envelope.
      validatorCompiler: ({ httpPart }) => httpPart === 'querystring' ? verifyQuery : (data) => {
        const body = data as { resources?: unknown; dryRun?: unknown };
        if (!body || typeof body !== 'object' || !Array.isArray(body.resources)) {
          return { error: Object.assign(new Error('body must be { resources: [...] }'), { validation: [{ instancePath: '/resources', message: 'must be an array', params: {} }], validationContext: 'body' }) };
        }
        const extra = Object.keys(body).find((k) => k !== 'resources' && k !== 'dryRun');
        if (extra) return { error: Object.assign(new Error('unknown field'), { validation: [{ instancePath: '', message: `unknown field ${extra}`, params: { additionalProperty: extra } }], validationContext: 'body' }) };
        if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') return { error: Object.assign(new Error('dryRun'), { validation: [{ instancePath: '/dryRun', message: 'must be boolean', params: {} }], validationContext: 'body' }) };
        return { value: data };
      },
      schema: {
        operationId: 'apply',
        tags: ['registry'],
        summary: 'Plan and apply resource definitions, all or nothing',
        body: ApplyRequest,
        querystring: Type.Object(
          {
            verify: Type.Optional(Type.Boolean({
              default: true,
              description: 'Check new sources, features and labels against their offline provider (table and columns exist); false skips the check',
            })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref(ApplyPlanSchema), ...errorResponses(400, 401, 403, 409, 413, 503) },
      },
    },
    async (request) => {
      const body = request.body as { resources: unknown[]; dryRun?: boolean };
      for (const r of body.resources) {
        if (r && typeof r === 'object' && typeof (r as { name?: unknown }).name === 'string') requireName(request.principal, (r as { name: string }).name);
      }
      const { verify } = request.query as { verify?: boolean };
      return registry.apply(body.resources, { dryRun: body.dryRun === true, actor: actorOf(request.principal), verify: verify !== false });
    },
  );

  app.get(
    '/:kind',
    {
      preHandler: app.requireScope('read'),
      schema: {
        operationId: 'listResources',
        tags: ['registry'],
        summary: 'List resource variants of one kind, oldest first, paged',
        params: Type.Object({ kind: KindParam }),
        querystring: Type.Object({
          tag: Type.Optional(Type.String()),
          owner: Type.Optional(Type.String()),
          status: Type.Optional(Type.String()),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
          cursor: Type.Optional(Type.String()),
        }, { additionalProperties: false }),
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref(StoredResourceSchema)), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request) => registry.list(request.params.kind as ResourceKind, request.query),
  );

  app.get(
    '/:kind/:name',
    {
      preHandler: app.requireScope('read'),
      schema: {
        operationId: 'getResource',
        tags: ['registry'],
        summary: 'A resource with all its variants, newest (the default) first',
        params: Type.Object({ kind: KindParam, name: NameParam }),
        response: {
          200: Type.Object({ kind: KindParam, name: Type.String(), defaultVariant: Type.String(), variants: Type.Array(Type.Ref(StoredResourceSchema)) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { kind, name } = request.params;
      const variants = await registry.variants(kind as ResourceKind, name);
      return { kind, name, defaultVariant: variants[0]!.variant, variants };
    },
  );

  app.get(
    '/:kind/:name/:variant',
    {
      preHandler: app.requireScope('read'),
      schema: {
        operationId: 'getResourceVariant',
        tags: ['registry'],
        summary: 'One variant with its direct lineage',
        params: Type.Object({ kind: KindParam, name: NameParam, variant: NameParam }),
        response: {
          200: Type.Object({
            resource: Type.Ref(StoredResourceSchema),
            upstream: Type.Array(ResourceIdSchema),
            downstream: Type.Array(ResourceIdSchema),
          }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { kind, name, variant } = request.params;
      const resource = await registry.get(kind as ResourceKind, name, variant);
      const id = { kind: kind as ResourceKind, name, variant };
      const [upstream, downstream] = await Promise.all([registry.upstream(id), registry.downstream(id)]);
      return { resource, upstream, downstream };
    },
  );

  app.delete(
    '/:kind/:name/:variant',
    {
      preHandler: app.requireScope('write'),
      schema: {
        operationId: 'deleteResourceVariant',
        tags: ['registry'],
        summary: 'Delete a variant; refused with 409 while other resources depend on it',
        params: Type.Object({ kind: KindParam, name: NameParam, variant: NameParam }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { kind, name, variant } = request.params;
      requireName(request.principal, name);
      await registry.delete({ kind: kind as ResourceKind, name, variant }, actorOf(request.principal));
      return reply.status(204).send(null);
    },
  );
};

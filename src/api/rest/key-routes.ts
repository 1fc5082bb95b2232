import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { scopes, type ApiKeyStore } from '../../auth/api-keys.js';
import { errorResponses } from './rest-schemas.js';

const KeyInfo = Type.Object(
  {
    keyId: Type.String(),
    name: Type.String(),
    scopes: Type.Array(Type.String()),
    patterns: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'ApiKeyInfo', title: 'ApiKeyInfo' },
);

/** API key administration (admin scope). The key itself is returned once, at creation. */
export const keyRoutes: FastifyPluginAsyncTypebox<{ keys: ApiKeyStore }> = async (app, { keys }) => {
  app.post(
    '/keys',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        operationId: 'createApiKey',
        tags: ['keys'],
        summary: 'Create an API key; the response is the only time the key is shown',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            scopes: Type.Array(Type.Union(scopes.map((s) => Type.Literal(s))), { minItems: 1, uniqueItems: true }),
            patterns: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9_*]{1,64}$' }), { maxItems: 50 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ key: Type.String(), info: Type.Ref(KeyInfo) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => reply.status(201).send(await keys.create(request.body)),
  );

  app.get(
    '/keys',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        operationId: 'listApiKeys',
        tags: ['keys'],
        summary: 'List API keys (never their secrets)',
        response: { 200: Type.Object({ items: Type.Array(Type.Ref(KeyInfo)) }), ...errorResponses(401, 403) },
      },
    },
    async () => ({ items: await keys.list() }),
  );

  app.delete(
    '/keys/:id',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        operationId: 'revokeApiKey',
        tags: ['keys'],
        summary: 'Revoke an API key',
        params: Type.Object({ id: Type.String({ pattern: '^[a-z0-9]{8}$' }) }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await keys.revoke(request.params.id);
      return reply.status(204).send(null);
    },
  );
};

export { KeyInfo };

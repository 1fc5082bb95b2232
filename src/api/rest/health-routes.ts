import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type client from 'prom-client';
import type { RegistryDatabase } from '../../registry/registry-database.js';
import { TrellisError } from '../../errors/trellis-error.js';
import { errorResponses } from './rest-schemas.js';

/** Liveness, readiness (the registry answers) and Prometheus metrics; these need no API key. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ db: RegistryDatabase; metrics: client.Registry }> = async (app, { db, metrics }) => {
  app.get(
    '/healthz',
    { schema: { operationId: 'healthz', tags: ['health'], summary: 'The process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'readyz',
        tags: ['health'],
        summary: 'The registry database answers',
        response: { 200: Type.Object({ status: Type.Literal('ready'), registry: Type.String() }), ...errorResponses(503) },
      },
    },
    async () => {
      try {
        await db.query('select 1');
      } catch (error) {
        throw new TrellisError('TRELLIS_ERR_NOT_READY', { reason: `registry: ${(error as Error).message}` }, { cause: error });
      }
      return { status: 'ready' as const, registry: db.flavour };
    },
  );
  app.get(
    '/metrics',
    { schema: { operationId: 'metrics', tags: ['health'], summary: 'Prometheus metrics', produces: ['text/plain'], response: { 200: Type.String() } } },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()),
  );
};

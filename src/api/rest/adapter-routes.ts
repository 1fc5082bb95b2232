import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AdapterCatalogue } from '../../spi/adapter-registration.js';
import { errorResponses } from './rest-schemas.js';

export const AdapterInfo = Type.Object(
  {
    id: Type.String({ description: 'The provider type that names this adapter' }),
    roles: Type.Array(Type.Union([Type.Literal('offline'), Type.Literal('online'), Type.Literal('stream')])),
    origin: Type.String({ description: '"trellis built-ins", or the plugin module it was loaded from (config adapters)' }),
    keepsStreamTiles: Type.Boolean({ description: 'Stream features may name a provider of this type as their onlineProvider' }),
    checksConfig: Type.Boolean({ description: 'Apply checks a provider config of this type key by key' }),
  },
  { $id: 'AdapterInfo', title: 'AdapterInfo', additionalProperties: false },
);

/** The provider types this instance can build: the built-in adapters and the plugins it loaded. */
export const adapterRoutes: FastifyPluginAsyncTypebox<{ adapters: AdapterCatalogue }> = async (app, { adapters }) => {
  app.get(
    '/adapters',
    {
      preHandler: app.requireScope('read'),
      schema: {
        operationId: 'listAdapters',
        tags: ['registry'],
        summary: 'Provider types this instance can build (built-in adapters and loaded plugins)',
        response: { 200: Type.Object({ items: Type.Array(Type.Ref(AdapterInfo)) }), ...errorResponses(401, 403) },
      },
    },
    async () => ({ items: adapters.list() }),
  );
};

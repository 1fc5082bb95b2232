import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import { REF_PATTERN } from '../../registry/resource-schemas.js';
import type { OnlineReader } from '../../serving/online-reader.js';
import { errorResponses } from './rest-schemas.js';

const FeatureRef = Type.String({ pattern: REF_PATTERN, maxLength: 127 });

export const OnlineReadBody = Type.Object(
  {
    features: Type.Optional(Type.Array(FeatureRef, { minItems: 1, maxItems: 1000, description: 'Feature refs: name (default variant) or name@variant' })),
    featureService: Type.Optional({ ...FeatureRef, description: 'A feature service instead of a feature list' }),
    entities: Type.Array(Type.Record(Type.String(), Type.Unknown(), { description: 'Key column values: strings, numbers or booleans as the entity declares' }), {
      minItems: 1,
      description: 'One object per entity row with its key columns, e.g. { "user_id": "u00042" }',
    }),
    context: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Request values on-demand features read as context.<name>' })),
  },
  { additionalProperties: false },
);

const OnlineReadResponse = Type.Object({
  features: Type.Array(Type.String(), { description: 'Resolved feature refs, in the order of every row’s arrays' }),
  results: Type.Array(
    Type.Object({
      values: Type.Array(Type.Unknown(), { description: 'Typed values; null unless the status is PRESENT' }),
      statuses: Type.Array(Type.Union([Type.Literal('PRESENT'), Type.Literal('NULL_VALUE'), Type.Literal('NOT_FOUND'), Type.Literal('OUTSIDE_MAX_AGE')])),
      eventTimestamps: Type.Array(Type.Union([Type.Number(), Type.Null()]), { description: 'Event time of each value, epoch ms' }),
    }),
    { description: 'One entry per requested entity row, in request order' },
  ),
});

/** Online feature reads (serve scope). */
export const servingRoutes: FastifyPluginAsyncTypebox<{ reader: OnlineReader }> = async (app, { reader }) => {
  app.post(
    '/features/online',
    {
      preHandler: app.requireScope('serve'),
      schema: {
        operationId: 'readOnlineFeatures',
        tags: ['serving'],
        summary: 'Latest feature values per entity row, with a status and event time per value',
        body: OnlineReadBody,
        response: { 200: OnlineReadResponse, ...errorResponses(400, 401, 403, 404, 413, 503) },
      },
    },
    // The 200 body is written by the reader as JSON text (src/serving/online-response-json.ts; the response schema
    // above documents it and the tests check it); errors still go through the schema-compiled serializers.
    async (request, reply) => {
      const json = await reader.readJson(request.body);
      // A string with a JSON content type is sent as it is (no serializer runs); the type provider only knows objects.
      return reply.header('content-type', 'application/json; charset=utf-8').send(json as unknown as Static<typeof OnlineReadResponse>);
    },
  );
};

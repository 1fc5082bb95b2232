import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { TrellisError, isTrellisError } from '../../errors/trellis-error.js';
import type { Registry } from '../../registry/registry.js';
import { REF_PATTERN } from '../../registry/resource-schemas.js';
import { encodeEntityKey } from '../../spi/online-store.js';
import type { TileEvent } from '../../spi/tile-store.js';
import { encodeAvroEvents, schemaRegistryOf } from '../../streaming/avro-schema-registry.js';
import { parseStreamEvent, type ParsedStreamEvent } from '../../streaming/stream-event-parser.js';
import { resolveStreamJob, type StreamFeatureSpec, type StreamJob } from '../../streaming/stream-job.js';
import { StreamRuntime } from '../../streaming/stream-runtime.js';
import { featureTileEvent } from '../../streaming/stream-worker.js';
import { errorResponses } from './rest-schemas.js';

export const PushBody = Type.Object(
  {
    events: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      minItems: 1,
      maxItems: 10_000,
      description: "Events as JSON objects with the source's fields; the event-time field as epoch ms or ISO-8601",
    }),
  },
  { additionalProperties: false },
);

const PushResponse = Type.Object({
  accepted: Type.Integer({ description: 'Events produced to the topic, or applied to tiles' }),
  topic: Type.Union([Type.String(), Type.Null()], { description: 'Topic the events went to; null when written straight to the online store' }),
  dropped: Type.Integer({ description: 'Direct writes only: events older than now − allowedLateness, counted and dropped' }),
});

export interface PushRouteOptions {
  readonly registry: Registry;
  /** Shared streaming services (the same the read path and workers use). Default: one owned by this plugin. */
  readonly streams?: StreamRuntime;
  /** Data directory for a plugin-owned runtime (embedded tiles); `:memory:` or absent keeps tiles in memory. */
  readonly dataDir?: string;
}

let directOffset = 0;

/**
 * `POST /push/{source}` (scope `write`: pushing events changes served values, so a read/serve key may not).
 * The whole batch is checked against the source's `fields` first — a bad event fails the request with 400 at
 * `/events/<i>/<field>` and nothing is written. Then: a topic source produces every event to its topic in one
 * send (keyed by the entity key of the source's first feature, so one key stays on one partition); any other
 * source with `fields` applies the events straight to the tiles of its stream features.
 */
export const pushRoutes: FastifyPluginAsyncTypebox<PushRouteOptions> = async (app, options) => {
  const owned = options.streams === undefined;
  const streams = options.streams ?? new StreamRuntime(options.registry, { dataDir: options.dataDir && options.dataDir !== ':memory:' ? options.dataDir : null });
  if (owned) app.addHook('onClose', async () => streams.close());

  app.post(
    '/push/:source',
    {
      preHandler: app.requireScope('write'),
      schema: {
        operationId: 'pushEvents',
        tags: ['streaming'],
        summary: 'Push a batch of events into a stream source: produced to its topic, or written to its tiles',
        params: Type.Object({ source: Type.String({ pattern: REF_PATTERN, maxLength: 127, description: 'Source: name (default variant) or name@variant' }) }),
        body: PushBody,
        response: { 202: PushResponse, ...errorResponses(400, 401, 403, 404, 413, 503) },
      },
    },
    async (request, reply) => {
      const job = await resolveStreamJob(options.registry, request.params.source);
      const required = new Set(job.features.flatMap((f) => f.keyFields));
      const parsed: ParsedStreamEvent[] = request.body.events.map((raw, i) => {
        const result = parseStreamEvent(job.source, raw, required);
        if (!result.ok) {
          const pointer = `/events/${i}${result.problem.pointer}`;
          throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer, reason: result.problem.reason }, { details: { pointer } });
        }
        return result.event;
      });
      const body = job.source.topic === null ? await writeTiles(streams, job, parsed) : await produce(streams, job, parsed, request.body.events);
      return reply.code(202).send(body);
    },
  );
};

async function produce(streams: StreamRuntime, job: StreamJob, parsed: readonly ParsedStreamEvent[], raw: readonly Record<string, unknown>[]) {
  const topic = job.source.topic as string;
  const keyed = job.features[0];
  const provider = await streams.provider(job.source.provider).catch(unavailable(job.source.provider));
  let values: readonly (string | Buffer)[] = raw.map((event) => JSON.stringify(event));
  if (job.source.format === 'avro') {
    // Avro: the wire format with the latest schema of `<topic>-value`; an event that does not fit fails the batch.
    const encoded = await encodeAvroEvents(schemaRegistryOf(provider, job.source), `${topic}-value`, job.source, raw).catch(unavailable(job.source.provider));
    if (!encoded.ok) {
      const pointer = `/events/${encoded.index}${encoded.pointer}`;
      throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer, reason: encoded.reason }, { details: { pointer } });
    }
    values = encoded.values;
  }
  const producer = await provider.producer().catch(unavailable(job.source.provider));
  await producer
    .send({
      topic,
      messages: raw.map((_, i) => ({ key: keyed ? messageKey(keyed, parsed[i]!) : null, value: values[i]!, timestamp: String(parsed[i]!.eventTs) })),
    })
    .catch(unavailable(job.source.provider));
  return { accepted: raw.length, topic, dropped: 0 };
}

function messageKey(feature: StreamFeatureSpec, event: ParsedStreamEvent): string | null {
  const event0 = featureTileEvent(feature, event, -1, 0);
  return event0 ? encodeEntityKey(event0.key) : null;
}

async function writeTiles(streams: StreamRuntime, job: StreamJob, parsed: readonly ParsedStreamEvent[]) {
  const now = Date.now();
  const kept = parsed.filter((e) => e.eventTs >= now - job.source.allowedLatenessMs);
  const dropped = parsed.length - kept.length;
  streams.metrics.dropped.inc({ source: job.source.id }, dropped);
  await Promise.all(
    job.features.map(async (feature) => {
      const events = kept.map((e) => featureTileEvent(feature, e, -1, directOffset++)).filter((e): e is TileEvent => e !== null);
      if (events.length === 0) return;
      const store = await streams.tileStore(feature.onlineProvider).catch(unavailable(feature.onlineProvider));
      await store.applyEvents(feature, events);
    }),
  );
  return { accepted: kept.length, topic: null, dropped };
}

const unavailable = (provider: string) => (error: unknown): never => {
  if (isTrellisError(error)) throw error;
  throw new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider, reason: (error as Error).message }, { cause: error });
};

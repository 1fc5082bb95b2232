import { Readable } from 'node:stream';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CompileInputs, trainingSetTable } from '../../coordinator/tasks/compile-inputs.js';
import { TrellisError } from '../../errors/trellis-error.js';
import type { Registry } from '../../registry/registry.js';
import type { TrainingSetDefinition } from '../../registry/resource-schemas.js';
import type { ProviderPool } from '../../serving/provider-pool.js';
import type { OfflineRow, OfflineStore, OfflineValue } from '../../spi/offline-store.js';
import { requireName } from '../plugins/auth.js';
import { NameParam, errorResponses } from './rest-schemas.js';

export interface TrainingSetRoutesOptions {
  readonly registry: Registry;
  /** Shared adapter instances (embedded warehouses lock their files: never open a second one). */
  readonly providers?: ProviderPool | undefined;
}

const BATCH_ROWS = 5_000;

/** Built training sets, streamed from the label's warehouse. */
export const trainingSetRoutes: FastifyPluginAsyncTypebox<TrainingSetRoutesOptions> = async (app, options) => {
  app.get(
    '/training_set/:name/:variant/data',
    {
      preHandler: app.requireScope('read'),
      schema: {
        operationId: 'readTrainingSetData',
        tags: ['training sets'],
        summary: 'Stream the rows of a built training set as NDJSON or CSV',
        description:
          'Rows of the table the latest READY training_set run built (`trellis_ts__<name>__<variant>` in the label\'s provider), streamed ' +
          'in batches from the warehouse without buffering. Columns: entity keys, the label timestamp, one `<feature>__<variant>` per feature ' +
          'and `<label>__<variant>`. Timestamps are ISO-8601 UTC. 404 TRELLIS_ERR_NOT_FOUND when the set is unknown or not built yet ' +
          '(trigger `POST /v1/training_set/{name}/{variant}/runs`).',
        params: Type.Object({ name: NameParam, variant: NameParam }),
        querystring: Type.Object(
          { format: Type.Optional(Type.Union([Type.Literal('ndjson'), Type.Literal('csv')], { default: 'ndjson', description: 'ndjson (default) or csv (RFC 4180, with a header row)' })) },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The rows, streamed',
            content: {
              'application/x-ndjson': { schema: Type.String({ description: 'One JSON object per line' }) },
              'text/csv': { schema: Type.String({ description: 'A header row, then one line per row' }) },
            },
          },
          ...errorResponses(400, 401, 403, 404, 503),
        },
      },
    },
    async (request, reply) => {
      const { name, variant } = request.params;
      requireName(request.principal, name);
      const stored = await options.registry.get('training_set', name, variant);
      if (!options.providers) throw new TrellisError('TRELLIS_ERR_NOT_READY', { reason: 'training-set data needs the provider pool (AppDeps.providers)' });
      const { provider: providerRef } = await new CompileInputs(options.registry).label((stored.definition as TrainingSetDefinition).label);
      const store = await options.providers.offline(providerRef);
      const table = trainingSetTable(stored.name, stored.variant);
      const columns = await store.introspector.columns(table);
      if (columns === undefined) {
        throw new TrellisError(
          'TRELLIS_ERR_NOT_FOUND',
          { kind: 'built training set', ref: `${stored.name}@${stored.variant} (no READY build yet: POST /v1/training_set/${stored.name}/${stored.variant}/runs)` },
          { details: { table: table.name, provider: providerRef } },
        );
      }
      const format = request.query.format ?? 'ndjson';
      const controller = new AbortController();
      reply.raw.once('close', () => controller.abort(new Error('client went away')));
      const names = columns.map((c) => c.name);
      const body = Readable.from(encodeRows(store, table, names, format, controller.signal), { objectMode: false });
      return reply
        .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
        .header('content-disposition', `attachment; filename="${stored.name}@${stored.variant}.${format}"`)
        .header('cache-control', 'no-store')
        // The schema documents the streamed text; Fastify pipes the stream without serializing it.
        .send(body as unknown as string);
    },
  );
};

async function* encodeRows(store: OfflineStore, table: { name: string }, names: readonly string[], format: 'ndjson' | 'csv', signal: AbortSignal): AsyncGenerator<string> {
  if (format === 'csv') yield `${names.map(csvField).join(',')}\r\n`;
  const query = store.compiler.compileSelectAll(table);
  for await (const batch of store.executor.stream<OfflineRow>(query, { batchSize: BATCH_ROWS, signal })) {
    let chunk = '';
    if (format === 'csv') {
      for (const row of batch) chunk += `${names.map((n) => csvField(row[n] ?? null)).join(',')}\r\n`;
    } else {
      for (const row of batch) chunk += `${JSON.stringify(row)}\n`;
    }
    yield chunk;
  }
}

/** One CSV field (RFC 4180): null → empty, Date → ISO-8601, lists → JSON; quoted when needed. */
function csvField(value: OfflineValue): string {
  if (value === null) return '';
  let text: string;
  if (value instanceof Date) text = value.toISOString();
  else if (typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RunStore } from '../../coordinator/run-store.js';
import { RunTriggers } from '../../coordinator/run-triggers.js';
import { runStatuses, runnableKinds, taskKinds, type RunnableKind } from '../../coordinator/run-types.js';
import { notFound } from '../../errors/trellis-error.js';
import type { Registry } from '../../registry/registry.js';
import { requireName } from '../plugins/auth.js';
import { NameParam, errorResponses } from './rest-schemas.js';

/** The run queue and its triggers; built over the registry's database when not given. */
export interface RunServices {
  readonly store: RunStore;
  readonly triggers: RunTriggers;
}

export interface RunRoutesOptions {
  readonly registry: Registry;
  readonly runs?: RunServices | undefined;
}

const RunnableKindParam = Type.Union(runnableKinds.map((k) => Type.Literal(k)), {
  description: 'transformation (runs its SQL), feature (materializes into its online provider) or training_set (builds it)',
});
const TaskParam = Type.Union(taskKinds.map((t) => Type.Literal(t)));
const StatusParam = Type.Union(runStatuses.map((s) => Type.Literal(s)));
const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
const NullableCount = Type.Union([Type.Integer(), Type.Null()]);

const runProperties = {
  id: Type.Integer(),
  kind: Type.String({ description: 'Resource kind' }),
  name: Type.String(),
  variant: Type.String(),
  task: TaskParam,
  status: Type.Union(runStatuses.map((s) => Type.Literal(s)), { description: 'CREATED (waiting for upstream runs) → PENDING (queued) → RUNNING → READY | FAILED | CANCELLED' }),
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  notBefore: Timestamp,
  leaseOwner: Type.Union([Type.String(), Type.Null()]),
  leaseExpiresAt: NullableTimestamp,
  dependsOn: Type.Array(Type.Integer(), { description: 'Upstream runs that must be READY first' }),
  params: Type.Object({}, { additionalProperties: true }),
  rowsRead: NullableCount,
  rowsWritten: NullableCount,
  watermark: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()], { description: 'Last error, or why the run was cancelled' }),
  cancelRequested: Type.Boolean(),
  triggeredBy: Type.String({ description: 'api, apply, schedule or manual' }),
  createdAt: Timestamp,
  startedAt: NullableTimestamp,
  finishedAt: NullableTimestamp,
};
const RunSchema = Type.Object(runProperties, { title: 'Run' });
const RunWithLogsSchema = Type.Object(
  {
    ...runProperties,
    logs: Type.Array(
      Type.Object({
        at: Timestamp,
        level: Type.String(),
        message: Type.String(),
        attempt: Type.Optional(Type.Integer()),
        worker: Type.Optional(Type.String()),
      }),
    ),
  },
  { title: 'RunWithLogs' },
);

const actorOf = (principal: { keyId: string } | null) => (principal ? `key:${principal.keyId}` : 'anonymous');

/** Trigger, list, inspect and cancel runs. */
export const runRoutes: FastifyPluginAsyncTypebox<RunRoutesOptions> = async (app, options) => {
  const store = options.runs?.store ?? new RunStore(options.registry.database);
  const triggers = options.runs?.triggers ?? new RunTriggers(options.registry, store);

  app.post(
    '/:kind/:name/:variant/runs',
    {
      preHandler: app.requireScope('write'),
      schema: {
        operationId: 'triggerRun',
        tags: ['runs'],
        summary: 'Queue a run of a transformation, feature materialization or training set',
        description:
          'The run waits for unfinished runs of the transformations the resource reads. A trigger joins an equivalent run that is ' +
          'queued but not started (same params); while a run is RUNNING a new one queues behind it: one run per resource and task executes at a time.',
        params: Type.Object({ kind: RunnableKindParam, name: NameParam, variant: NameParam }),
        // No body at all is fine (Fastify validates a missing body as null).
        body: Type.Union([
          Type.Object(
            {
              params: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'Task parameters; runs with different params never coalesce' })),
              maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, description: 'Attempts, retries included (default 3)' })),
            },
            { additionalProperties: false },
          ),
          Type.Null(),
        ]),
        response: {
          202: Type.Object({ run: RunSchema, coalesced: Type.Boolean({ description: 'True when the trigger joined a queued run' }) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const { kind, name, variant } = request.params;
      requireName(request.principal, name);
      const body = request.body ?? {};
      const result = await triggers.trigger(
        { kind: kind as RunnableKind, name, variant },
        { params: body.params ?? {}, triggeredBy: 'api', ...(body.maxAttempts !== undefined ? { maxAttempts: body.maxAttempts } : {}) },
      );
      return reply.status(202).send(result);
    },
  );

  app.get(
    '/runs',
    {
      preHandler: app.requireScope('read'),
      schema: {
        operationId: 'listRuns',
        tags: ['runs'],
        summary: 'List runs, newest first, paged; filter by resource, task and status',
        querystring: Type.Object(
          {
            kind: Type.Optional(RunnableKindParam),
            name: Type.Optional(NameParam),
            variant: Type.Optional(NameParam),
            task: Type.Optional(TaskParam),
            status: Type.Optional(StatusParam),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(RunSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request) => store.list(request.query),
  );

  app.get(
    '/runs/:id',
    {
      preHandler: app.requireScope('read'),
      schema: {
        operationId: 'getRun',
        tags: ['runs'],
        summary: 'One run with its logs',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: RunWithLogsSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const run = await store.get(request.params.id);
      if (!run) throw notFound('run', String(request.params.id));
      return run;
    },
  );

  app.post(
    '/runs/:id/cancel',
    {
      preHandler: app.requireScope('write'),
      schema: {
        operationId: 'cancelRun',
        tags: ['runs'],
        summary: 'Cancel a run and the runs waiting on it',
        description:
          'A CREATED or PENDING run is CANCELLED at once, with every run that waits on it. A RUNNING run gets cancelRequested and becomes ' +
          'CANCELLED when its worker stops (within a heartbeat). Cancelling a finished run changes nothing.',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        body: Type.Union([Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }), Type.Null()]),
        response: { 200: RunWithLogsSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const existing = await store.get(request.params.id);
      if (!existing) throw notFound('run', String(request.params.id));
      requireName(request.principal, existing.name);
      const reason = `cancelled by ${actorOf(request.principal)}${request.body?.reason ? `: ${request.body.reason}` : ''}`;
      const run = await store.cancel(request.params.id, reason);
      if (!run) throw notFound('run', String(request.params.id));
      return run;
    },
  );
};

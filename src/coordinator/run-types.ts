import type { ResourceKind } from '../registry/resource-schemas.js';

/** What a run executes. Streaming jobs join later. */
export const taskKinds = ['transformation', 'materialization', 'training_set'] as const;
export type TaskKind = (typeof taskKinds)[number];

/**
 * Run statuses. `CREATED` waits for its upstream runs; `PENDING` is queued (runnable once `not_before` has
 * passed); `RUNNING` is leased by one worker; the last three are terminal. The legal transitions are
 * enforced by a trigger in the registry database (migration 3):
 *
 * - CREATED → PENDING (every upstream run READY) | CANCELLED
 * - PENDING → RUNNING (claimed) | CANCELLED
 * - RUNNING → READY | FAILED | CANCELLED | PENDING (a retry after a transient error, or a lease released on stop)
 * - RUNNING → RUNNING with a new lease owner (an expired lease taken over)
 */
export const runStatuses = ['CREATED', 'PENDING', 'RUNNING', 'READY', 'FAILED', 'CANCELLED'] as const;
export type RunStatus = (typeof runStatuses)[number];
export const terminalStatuses = ['READY', 'FAILED', 'CANCELLED'] as const satisfies readonly RunStatus[];
export const openStatuses = ['CREATED', 'PENDING', 'RUNNING'] as const satisfies readonly RunStatus[];

/** The resource kinds that have a run, and the task each one runs. */
export const taskOfKind = {
  transformation: 'transformation',
  feature: 'materialization',
  training_set: 'training_set',
} as const satisfies Partial<Record<ResourceKind, TaskKind>>;
export type RunnableKind = keyof typeof taskOfKind;
export const runnableKinds = Object.keys(taskOfKind) as RunnableKind[];

/** Who asked for a run. */
export type RunTrigger = 'api' | 'apply' | 'schedule' | 'manual';

/** The unit of mutual exclusion: at most one run per key is RUNNING at any time. */
export interface RunKey {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly variant: string;
  readonly task: TaskKind;
}

export interface Run extends RunKey {
  readonly id: number;
  readonly status: RunStatus;
  /** Attempts started so far (a lease released on a graceful stop does not count). */
  readonly attempts: number;
  readonly maxAttempts: number;
  /** A PENDING run is not claimed before this time (retry backoff). */
  readonly notBefore: string;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: string | null;
  /** Upstream runs that must be READY before this one starts. */
  readonly dependsOn: number[];
  readonly params: Readonly<Record<string, unknown>>;
  readonly rowsRead: number | null;
  readonly rowsWritten: number | null;
  /** Opaque progress marker returned by the task (e.g. the max event time materialized). */
  readonly watermark: string | null;
  /** The last error, or the reason a run was cancelled. */
  readonly error: string | null;
  /** A cancel was asked for while the run was RUNNING; its worker stops it. */
  readonly cancelRequested: boolean;
  readonly triggeredBy: RunTrigger;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export interface RunLogEntry {
  readonly at: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly attempt?: number;
  readonly worker?: string;
}

export interface RunWithLogs extends Run {
  readonly logs: RunLogEntry[];
}

export const isTerminal = (status: RunStatus): boolean => (terminalStatuses as readonly RunStatus[]).includes(status);
export const formatRunKey = (key: RunKey): string => `${key.task} of ${key.kind} ${key.name}@${key.variant}`;

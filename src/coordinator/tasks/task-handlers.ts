import type { Registry } from '../../registry/registry.js';
import type { ProviderPool } from '../../serving/provider-pool.js';
import type { TaskHandlers } from '../coordinator.js';
import { materializationTask, type MaterializationTaskOptions } from './materialization-task.js';
import { trainingSetTask } from './training-set-task.js';
import { transformationTask } from './transformation-task.js';

export interface TaskHandlerDeps {
  readonly registry: Registry;
  readonly providers: ProviderPool;
  readonly materialization?: MaterializationTaskOptions;
}

/**
 * The task bodies this build can run: materialization (materialization-task.ts), transformation
 * (transformation-task.ts) and training set (training-set-task.ts). The run store mirrors each run's outcome onto
 * its resource's status.
 */
export function createTaskHandlers(deps: TaskHandlerDeps): Partial<TaskHandlers> {
  return {
    materialization: materializationTask(deps.registry, deps.providers, deps.materialization),
    transformation: transformationTask(deps.registry, deps.providers),
    training_set: trainingSetTask(deps.registry, deps.providers),
  };
}

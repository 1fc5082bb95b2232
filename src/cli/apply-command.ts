import { isTrellisError } from '../errors/trellis-error.js';
import { readDefinitionFiles } from '../registry/definition-files.js';
import type { ApplyPlan } from '../registry/registry.js';
import { formatPlan } from './plan-printer.js';
import { UnreachableError, callTrellis, type RemoteOptions } from './rest-client.js';

/** `verify: false` (`--no-verify`) skips the apply-time check of sources and columns in their warehouses. */
export async function runApply(target: string, options: RemoteOptions & { dryRun: boolean; verify?: boolean }): Promise<number> {
  let resources: unknown[];
  try {
    ({ resources } = await readDefinitionFiles(target));
  } catch (error) {
    console.error(isTrellisError(error) ? error.message : `cannot read ${target}: ${(error as Error).message}`);
    return isTrellisError(error) ? 1 : 2;
  }
  try {
    const res = await callTrellis(options, 'POST', options.verify === false ? '/v1/apply?verify=false' : '/v1/apply', { resources, dryRun: options.dryRun });
    if (res.status === 200) {
      console.log(formatPlan(res.body as ApplyPlan));
      return 0;
    }
    const error = res.body?.error;
    if (res.status === 409 && error?.details?.plan) {
      console.error(formatPlan(error.details.plan as ApplyPlan));
      console.error(`refused: ${error.message}`);
      return 1;
    }
    console.error(`${error?.code ?? res.status}: ${error?.message ?? JSON.stringify(res.body)}`);
    if (error?.code === 'TRELLIS_ERR_SOURCE_UNVERIFIED') console.error('(the warehouse did not answer; retry, or skip the check with --no-verify)');
    return res.status === 400 || res.status === 409 || res.status === 413 ? 1 : 3;
  } catch (error) {
    if (error instanceof UnreachableError) {
      console.error(error.message);
      return 3;
    }
    throw error;
  }
}

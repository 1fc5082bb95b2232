import { readFileSync } from 'node:fs';
import { TrellisError } from '../errors/trellis-error.js';

/**
 * Replaces `env:NAME` and `file:/path` strings in a provider config by the secret they name. Runs only where an
 * adapter is built; resolved values are never stored, logged or returned.
 */
export function resolveSecretReferences(config: Readonly<Record<string, unknown>>, provider: string, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const resolve = (value: unknown, pointer: string): unknown => {
    if (typeof value === 'string') {
      if (value.startsWith('env:')) {
        const name = value.slice(4);
        const secret = env[name];
        if (secret === undefined) throw new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider, reason: `environment variable ${name} (referenced at ${pointer}) is not set` });
        return secret;
      }
      if (value.startsWith('file:/')) {
        try {
          return readFileSync(value.slice(5), 'utf8').trim();
        } catch (error) {
          throw new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider, reason: `cannot read secret file referenced at ${pointer}: ${(error as NodeJS.ErrnoException).code}` });
        }
      }
      return value;
    }
    if (Array.isArray(value)) return value.map((v, i) => resolve(v, `${pointer}/${i}`));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, `${pointer}/${k}`)]));
    return value;
  };
  return resolve(config, '/config') as Record<string, unknown>;
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { TrellisError } from '../../errors/trellis-error.js';
import { allowsName, hasScope, type ApiKeyStore, type Principal, type Scope } from '../../auth/api-keys.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** preHandler that requires an API key with `scope` (default deny). */
    requireScope(scope: Scope): (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

function keyFrom(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey : undefined;
}

/** Resolves the caller from the API key; a route opts in to a scope with `preHandler: app.requireScope(…)`. */
export async function authenticate(keys: ApiKeyStore, request: FastifyRequest, scope: Scope): Promise<Principal> {
  const key = keyFrom(request);
  const principal = key ? await keys.verify(key) : null;
  if (!principal) throw new TrellisError('TRELLIS_ERR_UNAUTHENTICATED');
  if (!hasScope(principal, scope)) throw new TrellisError('TRELLIS_ERR_FORBIDDEN', { scope, resource: request.routeOptions.url ?? request.url });
  return principal;
}

/** Refuses a resource name the key's patterns do not allow. */
export function requireName(principal: Principal | null, name: string): void {
  if (principal && !allowsName(principal, name)) {
    throw new TrellisError('TRELLIS_ERR_FORBIDDEN', { scope: principal.scopes.join(','), resource: name });
  }
}

export const authPlugin = fp(
  async (app: FastifyInstance, options: { keys: ApiKeyStore }) => {
    app.decorateRequest('principal', null);
    app.decorate('requireScope', (scope: Scope) => async (request: FastifyRequest) => {
      request.principal = await authenticate(options.keys, request, scope);
    });
  },
  { name: 'trellis-auth', fastify: '5.x' },
);

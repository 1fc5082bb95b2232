import type { MercuriusContext } from 'mercurius';
import type { Principal } from '../../auth/api-keys.js';
import type { Registry } from '../../registry/registry.js';
import type { DiscoveryCache } from './discovery-cache.js';
import type { RegistryBatch } from './registry-batch.js';

/** What every resolver and loader receives besides mercurius' own context. */
export interface GraphqlContext extends MercuriusContext {
  /** The caller (the `/graphql` route requires a key with the `read` scope, so never null in resolvers). */
  readonly principal: Principal | null;
  readonly registry: Registry;
  readonly batch: RegistryBatch;
  /** Search and lineage results shared across requests until the registry changes. */
  readonly cache: DiscoveryCache;
}

import { TrellisError } from '../errors/trellis-error.js';
import type { RegistryDatabase } from '../registry/registry-database.js';
import { REGISTRY_CHANNEL, type Registry } from '../registry/registry.js';
import { durationSeconds, formatRef, parseRef } from '../registry/resource-ref.js';
import type { ValueType } from '../registry/resource-schemas.js';
import { isTrellisError } from '../errors/trellis-error.js';

/** Where and how one feature variant is served. */
export interface ServedFeature {
  /** `name@variant`, the online table id. */
  readonly ref: string;
  readonly name: string;
  readonly variant: string;
  /** Pinned entity reference, `name@variant`: the online store's entity namespace. */
  readonly entity: string;
  readonly entityKeys: readonly { readonly name: string; readonly type: ValueType }[];
  readonly onlineProvider: string | null;
  readonly valueType: ValueType;
  readonly ttlSeconds: number | undefined;
}

export interface ServedService {
  readonly features: readonly string[];
  readonly onDemand: readonly { readonly name: string; readonly expression: string; readonly valueType: 'float' | 'int' | 'bool' | 'string' }[];
}

/** The online table of a feature: materialization writes it, the read path reads it. */
export const onlineTableOf = (feature: Pick<ServedFeature, 'entity' | 'ref'>) => ({ entity: feature.entity, table: feature.ref });

/**
 * In-memory cache of resolved features and feature services for the read path: no registry query per request.
 * Cleared on every registry change (Postgres LISTEN/NOTIFY; PGlite delivers the same notifications in-process).
 */
export class FeatureCatalog {
  readonly #registry: Registry;
  readonly #db: RegistryDatabase;
  readonly #features = new Map<string, Promise<ServedFeature>>();
  readonly #services = new Map<string, Promise<ServedService>>();
  #generation = 0;
  #unlisten: (() => Promise<void>) | null = null;

  constructor(registry: Registry, db: RegistryDatabase) {
    this.#registry = registry;
    this.#db = db;
  }

  /** Bumped on every invalidation; callers caching derived plans compare it. */
  get generation(): number {
    return this.#generation;
  }

  async start(): Promise<void> {
    this.#unlisten = await this.#db.listen(REGISTRY_CHANNEL, () => this.invalidate());
  }

  invalidate(): void {
    this.#features.clear();
    this.#services.clear();
    this.#generation++;
  }

  /** `name` (default variant) or `name@variant`; 404 naming it when unknown. */
  feature(ref: string): Promise<ServedFeature> {
    let cached = this.#features.get(ref);
    if (!cached) {
      cached = this.#resolveFeature(ref);
      cached.catch(() => this.#features.delete(ref));
      this.#features.set(ref, cached);
    }
    return cached;
  }

  /** A feature service's default variant (or `name@variant`): feature refs and on-demand features. */
  service(ref: string): Promise<ServedService> {
    let cached = this.#services.get(ref);
    if (!cached) {
      cached = this.#resolveService(ref);
      cached.catch(() => this.#services.delete(ref));
      this.#services.set(ref, cached);
    }
    return cached;
  }

  async #resolveService(ref: string): Promise<ServedService> {
    const { name, variant } = parseRef(ref);
    const stored = await this.#registry.get('feature_service', name, variant).catch(rethrowNotFound('feature service', ref));
    if (stored.definition.kind !== 'feature_service') throw new Error('unreachable');
    return { features: stored.definition.features, onDemand: stored.definition.onDemand ?? [] };
  }

  async #resolveFeature(ref: string): Promise<ServedFeature> {
    const { name, variant } = parseRef(ref);
    const stored = await this.#registry.get('feature', name, variant).catch(rethrowNotFound('feature', ref));
    const def = stored.definition;
    if (def.kind !== 'feature') throw new Error('unreachable');
    const entityRef = parseRef(def.entity);
    const entity = await this.#registry.get('entity', entityRef.name, entityRef.variant);
    if (entity.definition.kind !== 'entity') throw new Error('unreachable');
    return Object.freeze({
      ref: formatRef(stored.name, stored.variant),
      name: stored.name,
      variant: stored.variant,
      entity: def.entity,
      entityKeys: entity.definition.keys,
      onlineProvider: def.onlineProvider ?? null,
      valueType: def.valueType,
      ttlSeconds: def.ttl ? durationSeconds(def.ttl) : undefined,
    });
  }

  async close(): Promise<void> {
    await this.#unlisten?.();
  }
}

const rethrowNotFound = (kind: string, ref: string) => (error: unknown): never => {
  if (isTrellisError(error) && error.code === 'TRELLIS_ERR_NOT_FOUND') throw new TrellisError('TRELLIS_ERR_NOT_FOUND', { kind, ref });
  throw error;
};

import type { LineageGraph, RegistryQueries, SearchOptions, SearchPage } from '../../registry/registry-queries.js';
import type { ResourceKind } from '../../registry/resource-schemas.js';

/** Notified by triggers (migration 4) after every transaction that changed resources or lineage edges. */
export const DISCOVERY_CHANNEL = 'trellis_discovery';

type LineageRoot = Parameters<RegistryQueries['lineage']>[0];
type LineageDirection = Parameters<RegistryQueries['lineage']>[1];
type LineagePage = NonNullable<Parameters<RegistryQueries['lineage']>[3]>;

/** Longest an entry is served: bounds staleness should a change notification be lost (a dropped LISTEN connection). */
export const DISCOVERY_CACHE_MAX_AGE_MS = 30_000;
/** Whole responses kept (registry-only operations, see registry-only.ts), and the largest one kept. */
const MAX_RESPONSES = 1000;
const MAX_RESPONSE_CHARS = 256 * 1024;

interface Entry {
  readonly value: Promise<unknown>;
  /** When the load started (ms since the epoch). */
  readonly at: number;
  /** Resources held (at least 1), known once the value is in. */
  weight: number;
}

/**
 * Search and lineage results, shared by every GraphQL request until the registry changes: the registry is
 * read-mostly, and a repeated discovery query then costs no registry statement. Everything is dropped on
 * `invalidate()`, which the GraphQL plugin calls on every change notification (DISCOVERY_CHANNEL, raised by
 * triggers for applies, metadata merges, status updates and deletes, from any replica) and, for the applying
 * process itself, before `registry.apply` returns. A load that started before an invalidation is never
 * served to a request arriving after it (the map is cleared, pending loads included).
 *
 * Bounded by the number of resources held (`capacity`; least recently used first out); 0 disables the cache.
 * An entry older than `maxAgeMs` is loaded again, so a lost notification leaves results stale for a bounded time.
 * Registry statements are cached for every operation (nested fields such as runs and freshness still load per
 * request); whole serialized responses only for registry-only operations (registry-only.ts), which then skip
 * execution altogether.
 */
export class DiscoveryCache {
  readonly #queries: RegistryQueries;
  readonly #capacity: number;
  readonly #maxAgeMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #responses = new Map<string, { payload: string; at: number }>();
  #weight = 0;
  #generation = 0;

  constructor(queries: RegistryQueries, capacity: number, maxAgeMs = DISCOVERY_CACHE_MAX_AGE_MS) {
    this.#queries = queries;
    this.#capacity = capacity;
    this.#maxAgeMs = maxAgeMs;
  }

  /** Bumped by every invalidation. */
  get generation(): number {
    return this.#generation;
  }

  get enabled(): boolean {
    return this.#capacity > 0;
  }

  /** Entries currently held. */
  get size(): number {
    return this.#entries.size;
  }

  invalidate(): void {
    this.#entries.clear();
    this.#responses.clear();
    this.#weight = 0;
    this.#generation++;
  }

  /** A serialized answer of a registry-only operation (key: query, operation name, variables), if held and fresh. */
  response(key: string): string | undefined {
    const hit = this.#responses.get(key);
    if (!hit) return undefined;
    this.#responses.delete(key);
    if (Date.now() - hit.at > this.#maxAgeMs) return undefined;
    this.#responses.set(key, hit);
    return hit.payload;
  }

  /** Keeps an answer computed since `generation` was read; dropped if the registry changed meanwhile. */
  keepResponse(key: string, payload: string, generation: number): void {
    if (this.#capacity === 0 || generation !== this.#generation || payload.length > MAX_RESPONSE_CHARS) return;
    this.#responses.delete(key);
    this.#responses.set(key, { payload, at: Date.now() });
    for (const oldest of this.#responses.keys()) {
      if (this.#responses.size <= MAX_RESPONSES) break;
      this.#responses.delete(oldest);
    }
  }

  search(options: SearchOptions): Promise<SearchPage> {
    const key = ['search', options.query ?? null, options.kinds ?? null, options.tags ?? null, options.owner ?? null, !!options.allVariants, options.first, options.after ?? null, !!options.withTotal];
    return this.#cached(key, () => this.#queries.search(options), (page) => page.hits.length);
  }

  searchCount(options: Omit<SearchOptions, 'first' | 'after'>): Promise<number> {
    const key = ['count', options.query ?? null, options.kinds ?? null, options.tags ?? null, options.owner ?? null, !!options.allVariants];
    return this.#cached(key, () => this.#queries.searchCount(options), () => 0);
  }

  lineage(root: LineageRoot, direction: LineageDirection, depth: number, page: LineagePage): Promise<LineageGraph | null> {
    const key = ['lineage', root.kind satisfies ResourceKind, root.name, root.variant, direction.upstream, direction.downstream, depth, page.first, page.after ?? null];
    return this.#cached(key, () => this.#queries.lineage(root, direction, depth, page), (graph) => graph?.nodes.length ?? 0);
  }

  #cached<T>(keyParts: unknown[], load: () => Promise<T>, weigh: (value: T) => number): Promise<T> {
    if (this.#capacity === 0) return load();
    const key = JSON.stringify(keyParts);
    const hit = this.#entries.get(key);
    if (hit && Date.now() - hit.at > this.#maxAgeMs) {
      this.#entries.delete(key);
      this.#weight -= hit.weight;
    } else if (hit) {
      // Most recently used last.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.value as Promise<T>;
    }
    const value = load();
    const entry: Entry = { value, at: Date.now(), weight: 1 };
    this.#entries.set(key, entry);
    this.#weight += 1;
    value.then(
      (result) => {
        if (this.#entries.get(key) !== entry) return;
        const weight = Math.max(1, weigh(result));
        this.#weight += weight - entry.weight;
        entry.weight = weight;
        this.#evict();
      },
      () => {
        if (this.#entries.get(key) !== entry) return;
        this.#entries.delete(key);
        this.#weight -= entry.weight;
      },
    );
    this.#evict();
    return value;
  }

  #evict(): void {
    for (const [key, entry] of this.#entries) {
      if (this.#weight <= this.#capacity || this.#entries.size <= 1) break;
      this.#entries.delete(key);
      this.#weight -= entry.weight;
    }
  }
}

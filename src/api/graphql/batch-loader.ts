/**
 * Coalesces the loads of one request into one call of `fetch` per tick and caches the answers for the rest of
 * the request. mercurius loaders batch per field; this batches across fields and types (`Feature.upstream`
 * and `Source.upstream` in one search result become one query).
 */
export class BatchLoader<K, V> {
  readonly #key: (key: K) => string;
  readonly #fetch: (keys: K[]) => Promise<Map<string, V>>;
  readonly #missing: V;
  readonly #cache = new Map<string, Promise<V>>();
  #pending: { key: K; resolve: (value: V) => void; reject: (error: unknown) => void; cacheKey: string }[] = [];

  /**
   * @param key  a string identity for a key (equal keys are fetched once)
   * @param fetch answers many keys at once, keyed by `key(k)`; keys it leaves out get `missing`
   */
  constructor(key: (key: K) => string, fetch: (keys: K[]) => Promise<Map<string, V>>, missing: V) {
    this.#key = key;
    this.#fetch = fetch;
    this.#missing = missing;
  }

  load(key: K): Promise<V> {
    const cacheKey = this.#key(key);
    const cached = this.#cache.get(cacheKey);
    if (cached) return cached;
    const promise = new Promise<V>((resolve, reject) => {
      if (this.#pending.length === 0) process.nextTick(() => this.#flush());
      this.#pending.push({ key, resolve, reject, cacheKey });
    });
    this.#cache.set(cacheKey, promise);
    return promise;
  }

  loadMany(keys: readonly K[]): Promise<V[]> {
    return Promise.all(keys.map((k) => this.load(k)));
  }

  /** Seeds the cache with a value fetched by another query. */
  prime(key: K, value: V): void {
    const cacheKey = this.#key(key);
    if (!this.#cache.has(cacheKey)) this.#cache.set(cacheKey, Promise.resolve(value));
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#fetch(batch.map((p) => p.key)).then(
      (values) => {
        for (const p of batch) p.resolve(values.has(p.cacheKey) ? values.get(p.cacheKey)! : this.#missing);
      },
      (error: unknown) => {
        for (const p of batch) {
          this.#cache.delete(p.cacheKey);
          p.reject(error);
        }
      },
    );
  }
}

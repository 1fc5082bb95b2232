import type { RegistryQueries, ResourceRecord, RunPage, RunPageOptions, RunSummary } from '../../registry/registry-queries.js';
import { nameKey } from '../../registry/registry-queries.js';
import { idKey, type ResourceId } from '../../registry/resource-ref.js';
import type { ResourceKind } from '../../registry/resource-schemas.js';
import { BatchLoader } from './batch-loader.js';
import { toNode, type ResourceNode } from './resource-node.js';

const asId = (r: ResourceId): ResourceId => ({ kind: r.kind, name: r.name, variant: r.variant });
const NO_RUNS: RunSummary = { lastSuccess: null, lastRun: null, lastFailure: null };

/**
 * The registry as one GraphQL request sees it: every lookup is batched with the other lookups of the same tick
 * and cached until the request ends. Records fetched by one query (variants, neighbours, search hits) prime the
 * by-id cache so that resolving a reference to them costs nothing.
 */
export class RegistryBatch {
  readonly queries: RegistryQueries;
  readonly #resources: BatchLoader<ResourceId, ResourceNode | null>;
  readonly #variants: BatchLoader<{ kind: ResourceKind; name: string }, ResourceNode[]>;
  readonly #upstream: BatchLoader<ResourceId, ResourceNode[]>;
  readonly #downstream: BatchLoader<ResourceId, ResourceNode[]>;
  readonly #runSummaries: BatchLoader<ResourceId, RunSummary>;
  readonly #runPages: BatchLoader<{ id: ResourceId; options: RunPageOptions }, RunPage>;

  constructor(queries: RegistryQueries) {
    this.queries = queries;
    this.#resources = new BatchLoader(
      idKey,
      async (ids) => new Map([...(await queries.resourcesByIds(ids))].map(([key, record]) => [key, toNode(record)])),
      null,
    );
    this.#variants = new BatchLoader(
      (n) => nameKey(n.kind, n.name),
      async (names) => this.#primeAll(await queries.variantsOf(names)),
      [],
    );
    this.#upstream = new BatchLoader(idKey, async (ids) => this.#primeAll(await queries.neighbours(ids, 'upstream')), []);
    this.#downstream = new BatchLoader(idKey, async (ids) => this.#primeAll(await queries.neighbours(ids, 'downstream')), []);
    this.#runSummaries = new BatchLoader(idKey, (ids) => queries.runSummaries(ids), NO_RUNS);
    this.#runPages = new BatchLoader(
      (k) => `${idKey(k.id)}\u0001${JSON.stringify(k.options)}`,
      async (keys) => {
        // One statement per distinct page option set (usually one for the whole batch).
        const byOptions = new Map<string, { options: RunPageOptions; ids: ResourceId[] }>();
        for (const k of keys) {
          const o = JSON.stringify(k.options);
          const group = byOptions.get(o) ?? { options: k.options, ids: [] };
          group.ids.push(k.id);
          byOptions.set(o, group);
        }
        const out = new Map<string, RunPage>();
        for (const [o, group] of byOptions) {
          const pages = await queries.runPages(group.ids, group.options);
          for (const [key, page] of pages) out.set(`${key}\u0001${o}`, page);
        }
        return out;
      },
      { runs: [], hasNextPage: false },
    );
  }

  resource(id: ResourceId): Promise<ResourceNode | null> {
    return this.#resources.load(asId(id));
  }

  variants(kind: ResourceKind, name: string): Promise<ResourceNode[]> {
    return this.#variants.load({ kind, name });
  }

  upstream(id: ResourceId): Promise<ResourceNode[]> {
    return this.#upstream.load(asId(id));
  }

  downstream(id: ResourceId): Promise<ResourceNode[]> {
    return this.#downstream.load(asId(id));
  }

  runSummary(id: ResourceId): Promise<RunSummary> {
    return this.#runSummaries.load(asId(id));
  }

  runPage(id: ResourceId, options: RunPageOptions): Promise<RunPage> {
    return this.#runPages.load({ id: asId(id), options });
  }

  /** Turns records fetched elsewhere (search hits, lineage nodes) into nodes, resolvable by id without another query. */
  adopt(record: ResourceRecord): ResourceNode {
    const node = toNode(record);
    this.#resources.prime(asId(node), node);
    return node;
  }

  #primeAll(groups: Map<string, ResourceRecord[]>): Map<string, ResourceNode[]> {
    return new Map([...groups].map(([key, records]) => [key, records.map((r) => this.adopt(r))]));
  }
}

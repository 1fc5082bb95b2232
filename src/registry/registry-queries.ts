import { TrellisError } from '../errors/trellis-error.js';
import type { StoredResource } from './registry.js';
import type { SqlSession } from './registry-database.js';
import { idKey, type ResourceId } from './resource-ref.js';
import type { ResourceDefinition, ResourceKind } from './resource-schemas.js';

/**
 * A stored variant plus what discovery needs: its insertion order and whether it is the default variant
 * (not `resources.superseded`, kept by triggers since migration 2).
 */
export interface ResourceRecord extends StoredResource {
  readonly seq: number;
  /** The latest created variant of its name: unversioned references resolve to it. */
  readonly isDefault: boolean;
}

export type RunStatus = 'CREATED' | 'PENDING' | 'RUNNING' | 'READY' | 'FAILED' | 'CANCELLED';

export interface RunRecord {
  readonly id: string;
  readonly kind: ResourceKind;
  readonly name: string;
  readonly variant: string;
  readonly task: string;
  readonly status: RunStatus;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly rowsRead: number | null;
  readonly rowsWritten: number | null;
  readonly error: string | null;
  /** Progress marker of the task (e.g. the latest event time materialized), when the coordinator records one. */
  readonly watermark: string | null;
  readonly params: unknown;
  readonly logs: unknown;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** The runs that say how fresh a resource is. */
export interface RunSummary {
  /** Latest READY run (by finish time). */
  readonly lastSuccess: RunRecord | null;
  /** Latest run of any status. */
  readonly lastRun: RunRecord | null;
  /** Latest FAILED run. */
  readonly lastFailure: RunRecord | null;
}

export interface SearchOptions {
  /** Free text; every word must match as a prefix or by its English stem. Null or blank: no text filter. */
  readonly query?: string | null | undefined;
  readonly kinds?: readonly ResourceKind[] | null | undefined;
  /** Every tag must be present. */
  readonly tags?: readonly string[] | null | undefined;
  readonly owner?: string | null | undefined;
  /** Include non-default variants (default: only the default variant of each name). */
  readonly allVariants?: boolean | null | undefined;
  readonly first: number;
  readonly after?: string | null | undefined;
  /** Also count every match (cursor and page size ignored), in the same statement. */
  readonly withTotal?: boolean | undefined;
}

export interface SearchHit {
  readonly record: ResourceRecord;
  readonly rank: number;
  readonly cursor: string;
}

export interface SearchPage {
  readonly hits: SearchHit[];
  readonly hasNextPage: boolean;
  /** All matches, when asked for with `withTotal`. */
  readonly totalCount: number | null;
}

export type LineageSide = 'ROOT' | 'UPSTREAM' | 'DOWNSTREAM';

export interface LineageNodeRecord {
  readonly record: ResourceRecord;
  /** Hops from the root (0 for the root). */
  readonly distance: number;
  readonly side: LineageSide;
}

/** One page of a lineage graph. */
export interface LineageGraph {
  readonly nodes: LineageNodeRecord[];
  /** The edges whose later end (in node order) is on this page; `from` is upstream of `to`. */
  readonly edges: { from: ResourceId; to: ResourceId }[];
  /** Resources in the whole graph (every page). */
  readonly total: number;
  readonly hasNextPage: boolean;
  /** The last node's cursor; null on an empty page. */
  readonly endCursor: string | null;
}

export interface ImpactSeed {
  readonly id: ResourceId;
  /** What the seed stands for (e.g. a planned change); reported back with each resource reached. */
  readonly cause: string;
}

export interface DownstreamHit {
  readonly record: ResourceRecord;
  readonly cause: string;
  readonly distance: number;
}

export interface RunPageOptions {
  readonly first: number;
  readonly after?: string | null | undefined;
  readonly statuses?: readonly RunStatus[] | null | undefined;
}

export interface RunPage {
  readonly runs: { run: RunRecord; cursor: string }[];
  readonly hasNextPage: boolean;
}

/** Traversals stop here even when asked for more: the registry holds no cycles, but edges could be edited by hand. */
export const MAX_TRAVERSAL_DEPTH = 64;
const MAX_SEARCH_TERMS = 16;
/** The default (and usual largest) lineage page. */
export const MAX_LINEAGE_PAGE = 100;

const RECORD_COLUMNS = `r.kind, r.name, r.variant, r.definition, r.owner, r.description, r.tags, r.properties, r.status, r.status_message,
  r.created_at, r.updated_at, r.seq, not r.superseded as is_default`;

type Row = Record<string, unknown>;

function toRecord(row: Row): ResourceRecord {
  return {
    kind: row.kind as ResourceKind,
    name: row.name as string,
    variant: row.variant as string,
    definition: row.definition as ResourceDefinition,
    owner: row.owner as string,
    description: row.description as string,
    tags: row.tags as string[],
    properties: row.properties as Record<string, string>,
    status: row.status as string,
    statusMessage: (row.status_message as string | null) ?? null,
    createdAt: new Date(row.created_at as string).toISOString(),
    updatedAt: new Date(row.updated_at as string).toISOString(),
    seq: Number(row.seq),
    isDefault: row.is_default === true,
  };
}

const isoOrNull = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string).toISOString());
const numberOrNull = (value: unknown) => (value === null || value === undefined ? null : Number(value));

function toRun(row: Row): RunRecord {
  return {
    id: String(row.id),
    kind: row.kind as ResourceKind,
    name: row.name as string,
    variant: row.variant as string,
    task: row.task as string,
    status: row.status as RunStatus,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    rowsRead: numberOrNull(row.rows_read),
    rowsWritten: numberOrNull(row.rows_written),
    error: (row.error as string | null) ?? null,
    watermark: (row.watermark as string | null | undefined) ?? null,
    params: row.params ?? {},
    logs: row.logs ?? [],
    createdAt: new Date(row.created_at as string).toISOString(),
    startedAt: isoOrNull(row.started_at),
    finishedAt: isoOrNull(row.finished_at),
  };
}

function pushTo<T>(groups: Map<string, T[]>, key: string, value: T): void {
  const group = groups.get(key);
  if (group) group.push(value);
  else groups.set(key, [value]);
}

const columnsOf = (ids: readonly ResourceId[]) => [ids.map((i) => i.kind), ids.map((i) => i.name), ids.map((i) => i.variant)];

const encodeCursor = (value: Record<string, number | string>) => Buffer.from(JSON.stringify(value)).toString('base64url');

function decodeCursor<T extends Record<string, unknown>>(cursor: string, pointer: string, valid: (value: Record<string, unknown>) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    value = null;
  }
  if (!value || typeof value !== 'object' || !valid(value as Record<string, unknown>)) {
    throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer, reason: 'malformed cursor' }, { details: { pointer } });
  }
  return value as T;
}

const isSearchCursor = (v: Record<string, unknown>): v is { r: number; s: number } => typeof v.r === 'number' && Number.isFinite(v.r) && Number.isSafeInteger(v.s);
const isLineageCursor = (v: Record<string, unknown>): v is { d: number; p: string; k: string; n: string; v: string } =>
  Number.isSafeInteger(v.d) && typeof v.p === 'string' && typeof v.k === 'string' && typeof v.n === 'string' && typeof v.v === 'string';
const isRunCursor = (v: Record<string, unknown>): v is { i: string } => typeof v.i === 'string' && /^[0-9]{1,19}$/.test(v.i);

/** Lower-cased words of a free-text query (letters and digits; `user_amount-7d` → user, amount, 7d). */
export function searchTerms(query: string): string[] {
  return query
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t.length > 0)
    .slice(0, MAX_SEARCH_TERMS);
}

/**
 * Read-only queries behind discovery (GraphQL): batch lookups for loaders, ranked full-text search, lineage
 * traversal and runs. Every method issues a fixed number of statements whatever the number of ids it is given,
 * and runs the same SQL on Postgres and PGlite.
 */
export class RegistryQueries {
  readonly #db: SqlSession;
  /** Search word → its tsquery text ('' for a stop word). */
  readonly #termQueries = new Map<string, string>();

  constructor(db: SqlSession) {
    this.#db = db;
  }

  /** Stored variants by id; missing ids are absent from the map (keyed by `idKey`). */
  async resourcesByIds(ids: readonly ResourceId[]): Promise<Map<string, ResourceRecord>> {
    const out = new Map<string, ResourceRecord>();
    if (ids.length === 0) return out;
    const { rows } = await this.#db.query(
      `select ${RECORD_COLUMNS}
       from unnest($1::text[], $2::text[], $3::text[]) as ids(kind, name, variant)
       join resources r on r.kind = ids.kind and r.name = ids.name and r.variant = ids.variant`,
      columnsOf(ids),
    );
    for (const row of rows) {
      const record = toRecord(row);
      out.set(idKey(record), record);
    }
    return out;
  }

  /** All variants of each (kind, name), newest (the default) first; keyed by `kind\0name`. */
  async variantsOf(names: readonly { kind: ResourceKind; name: string }[]): Promise<Map<string, ResourceRecord[]>> {
    const out = new Map<string, ResourceRecord[]>();
    if (names.length === 0) return out;
    const { rows } = await this.#db.query(
      `select ${RECORD_COLUMNS}
       from unnest($1::text[], $2::text[]) as ids(kind, name)
       join resources r on r.kind = ids.kind and r.name = ids.name
       order by r.seq desc`,
      [names.map((n) => n.kind), names.map((n) => n.name)],
    );
    for (const row of rows) {
      const record = toRecord(row);
      pushTo(out, nameKey(record.kind, record.name), record);
    }
    return out;
  }

  /** Direct neighbours of each id (`upstream`: what it references; `downstream`: what references it), by kind, name, variant. */
  async neighbours(ids: readonly ResourceId[], direction: 'upstream' | 'downstream'): Promise<Map<string, ResourceRecord[]>> {
    const out = new Map<string, ResourceRecord[]>();
    if (ids.length === 0) return out;
    const [self, other] = direction === 'upstream' ? ['to', 'from'] : ['from', 'to'];
    const { rows } = await this.#db.query(
      `select ids.kind as at_kind, ids.name as at_name, ids.variant as at_variant, ${RECORD_COLUMNS}
       from unnest($1::text[], $2::text[], $3::text[]) as ids(kind, name, variant)
       join lineage_edges e on e.${self}_kind = ids.kind and e.${self}_name = ids.name and e.${self}_variant = ids.variant
       join resources r on r.kind = e.${other}_kind and r.name = e.${other}_name and r.variant = e.${other}_variant
       order by r.kind, r.name, r.variant`,
      columnsOf(ids),
    );
    for (const row of rows) {
      pushTo(out, idKey({ kind: row.at_kind as ResourceKind, name: row.at_name as string, variant: row.at_variant as string }), toRecord(row));
    }
    return out;
  }

  /**
   * Full-text search ranked with `ts_rank` over the weighted `resources.search` vector (name A, description B,
   * tags C, owner and kind D), best first, ties by insertion order. The cursor is keyset (rank, seq), so pages
   * stay stable while resources are added.
   */
  async search(options: SearchOptions): Promise<SearchPage> {
    const { where, params } = await this.#searchFilter(options);
    if (where === null) return { hits: [], hasNextPage: false, totalCount: options.withTotal ? 0 : null };
    let cursorClause = '';
    if (options.after) {
      const c = decodeCursor(options.after, '/search/after', isSearchCursor);
      params.push(c.r, c.s);
      const r = `$${params.length - 1}::real`;
      const s = `$${params.length}::bigint`;
      cursorClause = `where hit.rank < ${r} or (hit.rank = ${r} and hit.seq > ${s})`;
    }
    params.push(options.first + 1);
    // Rank (and count) every match on (seq, rank) alone and cut the page; only the page's rows are read in full.
    const { rows } = await this.#db.query(
      `select ${RECORD_COLUMNS}, hit.rank, hit.total
       from (
         select hit.seq, hit.rank, hit.total from (
           select r.seq, ${where.rank} as rank, ${options.withTotal ? 'count(*) over ()' : 'null::bigint'} as total
           from resources r where ${where.condition}
         ) hit
         ${cursorClause}
         order by hit.rank desc, hit.seq asc
         limit $${params.length}
       ) hit
       join resources r on r.seq = hit.seq
       order by hit.rank desc, hit.seq asc`,
      params,
    );
    const hits = rows.slice(0, options.first).map((row) => {
      const record = toRecord(row);
      const rank = Number(row.rank);
      return { record, rank, cursor: encodeCursor({ r: rank, s: record.seq }) };
    });
    let totalCount: number | null = null;
    if (options.withTotal) totalCount = rows[0] ? Number(rows[0].total) : await this.searchCount(options);
    return { hits, hasNextPage: rows.length > options.first, totalCount };
  }

  /** How many resources match the search filters (cursor and page size ignored). */
  async searchCount(options: Omit<SearchOptions, 'first' | 'after'>): Promise<number> {
    const { where, params } = await this.#searchFilter({ ...options, first: 0 });
    if (where === null) return 0;
    const { rows } = await this.#db.query<{ n: number | string }>(`select count(*) as n from resources r where ${where.condition}`, params);
    return Number(rows[0]?.n ?? 0);
  }

  async #searchFilter(options: SearchOptions): Promise<{ where: { condition: string; rank: string } | null; params: unknown[] }> {
    const params: unknown[] = [];
    const conditions: string[] = [];
    let rank = '0::real';
    if (options.query !== null && options.query !== undefined && options.query.trim() !== '') {
      const tsquery = await this.#tsquery(searchTerms(options.query));
      if (tsquery === null) return { where: null, params };
      params.push(tsquery);
      conditions.push(`r.search @@ $1::tsquery`);
      rank = `ts_rank(r.search, $1::tsquery)`;
    }
    if (options.kinds && options.kinds.length > 0) {
      params.push(options.kinds);
      conditions.push(`r.kind = any($${params.length}::text[])`);
    }
    if (options.tags && options.tags.length > 0) {
      params.push(options.tags);
      conditions.push(`r.tags @> $${params.length}::text[]`);
    }
    if (options.owner !== null && options.owner !== undefined) {
      params.push(options.owner);
      conditions.push(`r.owner = $${params.length}`);
    }
    if (!options.allVariants) {
      conditions.push('not r.superseded');
    }
    return { where: { condition: conditions.length > 0 ? conditions.join(' and ') : 'true', rank }, params };
  }

  /**
   * The tsquery for the words of a search: each word as a prefix as written (`simple`) or of its English stem,
   * all words required, English stop words dropped. Null when no word is left. Each word's part is worked out
   * by Postgres once and cached, so a search runs with one constant tsquery (cheap to plan, ranked once).
   */
  async #tsquery(terms: readonly string[]): Promise<string | null> {
    const missing = [...new Set(terms.filter((t) => !this.#termQueries.has(t)))];
    if (missing.length > 0) {
      const { rows } = await this.#db.query<{ term: string; query: string }>(
        `select term, case when numnode(to_tsquery('english', term || ':*')) = 0 then ''
                else (to_tsquery('simple', term || ':*') || to_tsquery('english', term || ':*'))::text end as query
         from unnest($1::text[]) as term`,
        [missing],
      );
      if (this.#termQueries.size > 10_000) this.#termQueries.clear();
      for (const row of rows) this.#termQueries.set(row.term, row.query);
    }
    const parts = terms.map((t) => this.#termQueries.get(t) ?? '').filter((q) => q !== '');
    return parts.length === 0 ? null : parts.map((q) => `(${q})`).join(' & ');
  }

  /**
   * One page of the lineage graph around a root (its default variant when `variant` is null) up to `depth` hops,
   * upstream, downstream or both, in one statement of recursive CTEs; null when the root does not exist. `union`
   * keeps one row per (resource, distance) and the distance bound ends every walk, so a cycle (which apply
   * refuses, but a hand-edited table could hold) cannot make it loop. Each resource appears once, at its shortest
   * distance, ordered by (distance, side, kind, name, variant); the cursor is keyset on that order. An edge
   * between two walked resources belongs to the page of its later end in that order, so the pages' edges
   * partition the graph's edges and each connects resources of its own or an earlier page.
   *
   * Applies only add resources that reference existing ones (definitions are immutable), so they never shorten
   * a walked resource's distance: pages stay stable while the registry grows (a resource added before the
   * cursor is simply not on a later page).
   */
  async lineage(
    root: { kind: ResourceKind; name: string; variant: string | null },
    direction: { upstream: boolean; downstream: boolean },
    depth: number,
    page: { first: number; after?: string | null | undefined } = { first: MAX_LINEAGE_PAGE },
  ): Promise<LineageGraph | null> {
    const bounded = Math.min(Math.max(Math.trunc(depth), 0), MAX_TRAVERSAL_DEPTH);
    const after = page.after ? decodeCursor(page.after, '/lineage/after', isLineageCursor) : null;
    const { rows } = await this.#db.query(
      `with recursive
       root as (
         select kind, name, variant from resources
         where kind = $1 and name = $2 and (variant = $3 or ($3::text is null and not superseded))
       ),
       down(kind, name, variant, distance) as (
         select kind, name, variant, 0 from root where $5::boolean
         union
         select e.to_kind, e.to_name, e.to_variant, d.distance + 1
         from down d join lineage_edges e on e.from_kind = d.kind and e.from_name = d.name and e.from_variant = d.variant
         where d.distance < $4
       ),
       up(kind, name, variant, distance) as (
         select kind, name, variant, 0 from root where $6::boolean
         union
         select e.from_kind, e.from_name, e.from_variant, u.distance + 1
         from up u join lineage_edges e on e.to_kind = u.kind and e.to_name = u.name and e.to_variant = u.variant
         where u.distance < $4
       ),
       walked as (
         select kind, name, variant, distance, 'DOWNSTREAM' as side from down where distance > 0
         union all
         select kind, name, variant, distance, 'UPSTREAM' as side from up where distance > 0
         union all
         select kind, name, variant, 0, 'ROOT' from root
       ),
       nodes as (
         select n.*, row_number() over (order by n.distance, n.side, n.kind, n.name, n.variant) as ord
         from (
           select distinct on (kind, name, variant) kind, name, variant, distance, side
           from walked
           order by kind, name, variant, distance, side
         ) n
       ),
       start as (
         select count(*) as skipped from nodes n
         where $7::integer is not null and (n.distance, n.side, n.kind, n.name, n.variant) <= ($7::integer, $8::text, $9::text, $10::text, $11::text)
       )
       select n.kind as node_kind, n.name as node_name, n.variant as node_variant, n.distance, n.side, n.ord, s.skipped, ${RECORD_COLUMNS},
         (select coalesce(jsonb_agg(jsonb_build_array(e.from_kind, e.from_name, e.from_variant)), '[]'::jsonb)
          from lineage_edges e where e.to_kind = n.kind and e.to_name = n.name and e.to_variant = n.variant) as inputs
       from nodes n cross join start s
       left join resources r on n.ord > s.skipped and n.ord <= s.skipped + $12 and r.kind = n.kind and r.name = n.name and r.variant = n.variant
       order by n.ord`,
      [root.kind, root.name, root.variant, bounded, direction.downstream, direction.upstream, after?.d ?? null, after?.p ?? null, after?.k ?? null, after?.n ?? null, after?.v ?? null, page.first],
    );
    if (rows.length === 0) return null;
    // Every walked resource comes back (keys only) with the resources it references; those on the page carry
    // their record. Edges are found from their downstream end (in-degrees are small, while providers and
    // entities have thousands of outgoing edges) and kept when both ends were walked.
    const skipped = Number(rows[0]!.skipped);
    const last = skipped + page.first;
    const nodeId = (row: Row): ResourceId => ({ kind: row.node_kind as ResourceKind, name: row.node_name as string, variant: row.node_variant as string });
    const ordOf = new Map(rows.map((row) => [idKey(nodeId(row)), Number(row.ord)]));
    const onPage = (ord: number) => ord > skipped && ord <= last;
    const nodes: LineageNodeRecord[] = [];
    const edges: { from: ResourceId; to: ResourceId }[] = [];
    for (const row of rows) {
      const to = nodeId(row);
      const toOrd = Number(row.ord);
      if (onPage(toOrd) && row.seq !== null) nodes.push({ record: toRecord(row), distance: Number(row.distance), side: row.side as LineageSide });
      for (const [kind, name, variant] of row.inputs as [ResourceKind, string, string][]) {
        const from = { kind, name, variant };
        const fromOrd = ordOf.get(idKey(from));
        if (fromOrd !== undefined && onPage(Math.max(fromOrd, toOrd))) edges.push({ from, to });
      }
    }
    edges.sort((a, b) => compareIds(a.from, b.from) || compareIds(a.to, b.to));
    const lastNode = nodes.at(-1);
    return {
      nodes,
      edges,
      total: rows.length,
      hasNextPage: rows.length > last,
      endCursor: lastNode ? encodeCursor({ d: lastNode.distance, p: lastNode.side, k: lastNode.record.kind, n: lastNode.record.name, v: lastNode.record.variant }) : null,
    };
  }

  /** Everything downstream of the seeds, any depth, once per (resource, cause) at its shortest distance. */
  async downstreamOf(seeds: readonly ImpactSeed[]): Promise<DownstreamHit[]> {
    if (seeds.length === 0) return [];
    const { rows } = await this.#db.query(
      `with recursive walk(kind, name, variant, cause, distance) as (
         select kind, name, variant, cause, 0 from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as s(kind, name, variant, cause)
         union
         select e.to_kind, e.to_name, e.to_variant, w.cause, w.distance + 1
         from walk w join lineage_edges e on e.from_kind = w.kind and e.from_name = w.name and e.from_variant = w.variant
         where w.distance < $5
       ),
       reached as (
         select kind, name, variant, cause, min(distance) as distance from walk where distance > 0 group by kind, name, variant, cause
       )
       select ${RECORD_COLUMNS}, x.cause, x.distance
       from reached x join resources r on r.kind = x.kind and r.name = x.name and r.variant = x.variant
       order by x.distance, r.kind, r.name, r.variant, x.cause`,
      [...columnsOf(seeds.map((s) => s.id)), seeds.map((s) => s.cause), MAX_TRAVERSAL_DEPTH],
    );
    return rows.map((row) => ({ record: toRecord(row), cause: row.cause as string, distance: Number(row.distance) }));
  }

  /** Latest successful, latest and latest failed run of each id (one statement for all). */
  async runSummaries(ids: readonly ResourceId[]): Promise<Map<string, RunSummary>> {
    const out = new Map<string, RunSummary>();
    if (ids.length === 0) return out;
    const { rows } = await this.#db.query(
      `select ids.kind, ids.name, ids.variant, to_jsonb(ok) as last_success, to_jsonb(latest) as last_run, to_jsonb(failed) as last_failure
       from unnest($1::text[], $2::text[], $3::text[]) as ids(kind, name, variant)
       left join lateral (
         select * from runs x where x.kind = ids.kind and x.name = ids.name and x.variant = ids.variant and x.status = 'READY'
         order by x.finished_at desc nulls last, x.id desc limit 1
       ) ok on true
       left join lateral (
         select * from runs x where x.kind = ids.kind and x.name = ids.name and x.variant = ids.variant
         order by x.created_at desc, x.id desc limit 1
       ) latest on true
       left join lateral (
         select * from runs x where x.kind = ids.kind and x.name = ids.name and x.variant = ids.variant and x.status = 'FAILED'
         order by x.finished_at desc nulls last, x.id desc limit 1
       ) failed on true`,
      columnsOf(ids),
    );
    const run = (value: unknown) => (value ? toRun(value as Row) : null);
    for (const row of rows) {
      out.set(idKey({ kind: row.kind as ResourceKind, name: row.name as string, variant: row.variant as string }), {
        lastSuccess: run(row.last_success),
        lastRun: run(row.last_run),
        lastFailure: run(row.last_failure),
      });
    }
    return out;
  }

  /** One page of runs per id, newest first (keyset on the run id), for ids sharing the same page options. */
  async runPages(ids: readonly ResourceId[], options: RunPageOptions): Promise<Map<string, RunPage>> {
    const out = new Map<string, RunPage>();
    if (ids.length === 0) return out;
    const after = options.after ? decodeCursor(options.after, '/runs/after', isRunCursor).i : null;
    const { rows } = await this.#db.query(
      `select x.*
       from unnest($1::text[], $2::text[], $3::text[]) as ids(kind, name, variant)
       cross join lateral (
         select * from runs x
         where x.kind = ids.kind and x.name = ids.name and x.variant = ids.variant
           and ($4::bigint is null or x.id < $4::bigint)
           and ($5::text[] is null or x.status = any($5::text[]))
         order by x.id desc limit $6
       ) x
       order by x.id desc`,
      [...columnsOf(ids), after, options.statuses && options.statuses.length > 0 ? options.statuses : null, options.first + 1],
    );
    const grouped = new Map<string, RunRecord[]>();
    for (const row of rows) {
      const run = toRun(row);
      pushTo(grouped, idKey(run), run);
    }
    for (const id of ids) {
      const runs = grouped.get(idKey(id)) ?? [];
      out.set(idKey(id), {
        runs: runs.slice(0, options.first).map((run) => ({ run, cursor: encodeCursor({ i: run.id }) })),
        hasNextPage: runs.length > options.first,
      });
    }
    return out;
  }
}

export const nameKey = (kind: ResourceKind, name: string) => `${kind}\u0000${name}`;

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const compareIds = (a: ResourceId, b: ResourceId) => compareText(a.kind, b.kind) || compareText(a.name, b.name) || compareText(a.variant, b.variant);

import { TrellisError, invalidDefinition, notFound } from '../errors/trellis-error.js';
import { definitionHash, diffDefinitions, type FieldDiff } from './definition-hash.js';
import { validateDefinition } from './definition-validator.js';
import type { RegistryDatabase, SqlSession } from './registry-database.js';
import { definitionReferences, pinReferences } from './resource-references.js';
import { DEFAULT_VARIANT, formatId, formatRef, idKey, parseRef, type ResourceId } from './resource-ref.js';
import type { EntityDefinition, ProviderDefinition, ResourceDefinition, ResourceKind, SourceDefinition } from './resource-schemas.js';
import { parseTableName, type CheckedColumn, type SourceCheck, type SourceVerifier } from './source-verifier.js';

export type ProviderRole = 'offline' | 'online' | 'stream';

export interface StoredResource {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly variant: string;
  readonly definition: ResourceDefinition;
  readonly owner: string;
  readonly description: string;
  readonly tags: string[];
  readonly properties: Readonly<Record<string, string>>;
  readonly status: string;
  readonly statusMessage: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type PlanActionKind = 'create' | 'unchanged' | 'conflict';

export interface PlanAction extends ResourceId {
  readonly action: PlanActionKind;
  readonly diff?: FieldDiff[];
}

export interface LineageEdge {
  readonly from: ResourceId;
  readonly to: ResourceId;
}

export interface ApplyPlan {
  readonly dryRun: boolean;
  readonly applied: boolean;
  readonly actions: PlanAction[];
  readonly edges: LineageEdge[];
}

export interface ListOptions {
  readonly tag?: string | undefined;
  readonly owner?: string | undefined;
  readonly status?: string | undefined;
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
}

export interface RegistryOptions {
  /** Provider types with their adapters' roles; an unknown type is refused at apply. */
  readonly providerTypes: ReadonlyMap<string, readonly ProviderRole[]>;
  /** The adapter's check of a provider config as written (AdapterCatalogue.checkConfig); a problem is a 400 at its key. */
  /** Online provider types that can keep stream tiles; a stream feature served elsewhere is refused at apply. */
  readonly tileStoreTypes?: readonly string[];
  readonly checkProviderConfig?: (type: string, config: Readonly<Record<string, unknown>>) => { readonly path: string; readonly reason: string } | undefined;
  /**
   * Checks new sources, features and labels against their offline provider before the apply transaction (see
   * source-verifier.ts). Without one, nothing is introspected.
   */
  readonly verifier?: SourceVerifier;
}

export interface ApplyOptions {
  readonly dryRun?: boolean;
  readonly actor: string;
  readonly pointer?: string;
  /** Check sources and columns in their providers (default true; only with a {@link RegistryOptions.verifier}). */
  readonly verify?: boolean;
}

export const REGISTRY_CHANNEL = 'trellis_registry';

const RESOURCE_COLUMNS = `kind, name, variant, definition, owner, description, tags, properties, status, status_message, created_at, updated_at`;

interface ResourceRow {
  kind: ResourceKind;
  name: string;
  variant: string;
  definition: ResourceDefinition;
  owner: string;
  description: string;
  tags: string[];
  properties: Record<string, string>;
  status: string;
  status_message: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  definition_hash?: string;
  seq?: string | number;
  [key: string]: unknown;
}

function toStored(row: ResourceRow): StoredResource {
  return {
    kind: row.kind,
    name: row.name,
    variant: row.variant,
    definition: row.definition,
    owner: row.owner,
    description: row.description,
    tags: row.tags,
    properties: row.properties,
    status: row.status,
    statusMessage: row.status_message,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** Status a new variant starts in: resources that need a run start CREATED, pure metadata is READY. */
function initialStatus(def: ResourceDefinition): string {
  if (def.kind === 'transformation' || def.kind === 'training_set') return 'CREATED';
  if (def.kind === 'feature' && def.onlineProvider) return 'CREATED';
  return 'READY';
}

interface Candidate {
  readonly id: ResourceId;
  readonly pointer: string;
  readonly raw: ResourceDefinition;
  pinned?: ResourceDefinition;
}

/**
 * The resource registry: one code path over Postgres and PGlite. Variants are immutable; `apply` is
 * all-or-nothing in one transaction, serialised by an advisory lock so concurrent applies of the same
 * new resource create it exactly once.
 */
export class Registry {
  readonly #db: RegistryDatabase;
  readonly #options: RegistryOptions;
  readonly #appliedListeners: ((plan: ApplyPlan) => Promise<void>)[] = [];

  constructor(db: RegistryDatabase, options: RegistryOptions) {
    this.#db = db;
    this.#options = options;
  }

  get database(): RegistryDatabase {
    return this.#db;
  }

  /**
   * Calls `listener` after every committed apply that created something (e.g. to create the initial runs).
   * A listener's failure is reported to the caller of `apply`; the apply itself stays committed.
   */
  onApplied(listener: (plan: ApplyPlan) => Promise<void>): void {
    this.#appliedListeners.push(listener);
  }

  async apply(resources: readonly unknown[], options: ApplyOptions): Promise<ApplyPlan> {
    const plan = await this.#apply(resources, options);
    if (plan.applied && plan.actions.some((a) => a.action === 'create')) {
      for (const listener of this.#appliedListeners) await listener(plan);
    }
    return plan;
  }

  async #apply(resources: readonly unknown[], options: ApplyOptions): Promise<ApplyPlan> {
    const base = options.pointer ?? '/resources';
    const candidates: Candidate[] = [];
    const byKey = new Map<string, Candidate>();
    resources.forEach((raw, i) => {
      const pointer = `${base}/${i}`;
      const def = validateDefinition(raw, pointer);
      const id: ResourceId = { kind: def.kind, name: def.name, variant: def.variant ?? DEFAULT_VARIANT };
      const existing = byKey.get(idKey(id));
      if (existing) {
        if (definitionHash(existing.raw) !== definitionHash(def)) {
          throw invalidDefinition(pointer, `${formatId(id)} appears twice in this apply with different definitions (first at ${existing.pointer})`);
        }
        return;
      }
      const candidate: Candidate = { id, pointer, raw: def };
      byKey.set(idKey(id), candidate);
      candidates.push(candidate);
    });

    // Warehouses are asked before the transaction: no registry connection (PGlite has only one) or advisory
    // lock is held while a provider answers. A parent's default variant could change in between; the
    // transaction resolves it again, and the window is the length of the checks.
    if (this.#options.verifier && options.verify !== false) {
      const checks = await this.#sourceChecks(candidates.map((c) => ({ id: c.id, pointer: c.pointer, raw: c.raw })));
      if (checks.length > 0) await this.#options.verifier.verify(checks);
    }

    return this.#db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(7310002)');
      const lookup = new RegistryLookup(tx, candidates);
      await lookup.prefetch();
      const edges = await resolveReferences(lookup, candidates);
      detectCycles(candidates, edges);
      for (const c of candidates) await this.#checkSemantics(c, lookup);

      const actions: PlanAction[] = [];
      for (const c of candidates) {
        const existing = await lookup.stored(c.id);
        if (!existing) actions.push({ ...c.id, action: 'create' });
        else if (existing.definition_hash === definitionHash(c.pinned!)) actions.push({ ...c.id, action: 'unchanged' });
        else actions.push({ ...c.id, action: 'conflict', diff: diffDefinitions(existing.definition, c.pinned!) });
      }
      const newEdges = edges.filter((e) => actions.find((a) => a.kind === e.to.kind && a.name === e.to.name && a.variant === e.to.variant)?.action === 'create');
      const plan: ApplyPlan = { dryRun: options.dryRun === true, applied: false, actions, edges: dedupeEdges(newEdges) };
      const conflicts = actions.filter((a) => a.action === 'conflict');
      if (conflicts.length > 0) {
        const first = conflicts[0]!;
        throw new TrellisError('TRELLIS_ERR_CONFLICT', { kind: first.kind, ref: formatRef(first.name, first.variant) }, { details: { plan } });
      }
      if (options.dryRun) return plan;

      await this.#insert(tx, candidates.filter((_, i) => actions[i]!.action === 'create'), options.actor);
      await this.#mergeMetadata(tx, candidates.filter((c, i) => actions[i]!.action === 'unchanged' && hasMetadata(c.raw)));
      if (plan.edges.length > 0) {
        await tx.query(
          `insert into lineage_edges
           select from_kind, from_name, from_variant, to_kind, to_name, to_variant
           from jsonb_to_recordset($1::jsonb) as e(from_kind text, from_name text, from_variant text, to_kind text, to_name text, to_variant text)
           on conflict do nothing`,
          [JSON.stringify(plan.edges.map((e) => ({ from_kind: e.from.kind, from_name: e.from.name, from_variant: e.from.variant, to_kind: e.to.kind, to_name: e.to.name, to_variant: e.to.variant })))],
        );
      }
      const created = actions.filter((a) => a.action === 'create');
      if (created.length > 0) {
        await tx.query(`select pg_notify($1, $2)`, [REGISTRY_CHANNEL, JSON.stringify({ op: 'apply', count: created.length })]);
      }
      return { ...plan, applied: true };
    });
  }

  /** What the new sources, features and labels of a batch read, per offline provider (outside any transaction). */
  async #sourceChecks(candidates: Candidate[]): Promise<SourceCheck[]> {
    if (!candidates.some((c) => c.raw.kind === 'source' || c.raw.kind === 'feature' || c.raw.kind === 'label')) return [];
    const lookup = new RegistryLookup(this.#db, candidates);
    await lookup.prefetch();
    await resolveReferences(lookup, candidates);
    const checks: SourceCheck[] = [];
    const offlineProvider = async (ref: string) => {
      const def = (await lookup.definition(ref, 'provider')) as ProviderDefinition;
      if (def.kind !== 'provider' || !def.roles.includes('offline')) return undefined;
      const { name, variant } = parseRef(ref);
      const stored = await lookup.stored({ kind: 'provider', name, variant: variant ?? DEFAULT_VARIANT });
      return { provider: ref, providerDefinition: def, providerRegistered: stored?.definition_hash === definitionHash(def) };
    };
    /** A source's relation, or undefined for a stream source or a malformed table name (refused by the semantic checks). */
    const relationOf = (source: SourceDefinition, sourceRef: string) => {
      if (source.table !== undefined) {
        const table = parseTableName(source.table);
        return table && { relation: table, label: source.table };
      }
      return source.query !== undefined ? { relation: { sql: source.query }, label: `the query of source ${sourceRef}` } : undefined;
    };
    for (const c of candidates) {
      if (await lookup.stored(c.id)) continue; // unchanged or a conflict: nothing new reads the warehouse
      const def = c.pinned!;
      const at = (p: string) => `${c.pointer}${p}`;
      if (def.kind === 'source') {
        if (def.topic !== undefined) {
          // A topic's offline copy must hold the `last` tie-break columns (its own columns were checked when it was applied).
          const copy = def.offlineCopy && (await lookup.definition(def.offlineCopy.source, 'source'));
          const provider = copy?.kind === 'source' ? await offlineProvider(copy.provider) : undefined;
          const relation = provider && copy?.kind === 'source' && relationOf(copy, def.offlineCopy!.source);
          const order = def.offlineCopy?.orderColumns ?? [];
          if (provider && relation && order.length > 0) {
            checks.push({ ...provider, ...relation, pointer: at('/offlineCopy/source'), columns: order.map((name, i) => ({ name, pointer: at(`/offlineCopy/orderColumns/${i}`) })) });
          }
          continue;
        }
        const provider = await offlineProvider(def.provider);
        const relation = provider && relationOf(def, formatRef(c.id.name, c.id.variant));
        if (!provider || !relation) continue;
        const columns: CheckedColumn[] = [{ name: def.timestampColumn, pointer: at('/timestampColumn') }];
        if (def.createdTimestampColumn !== undefined) columns.push({ name: def.createdTimestampColumn, pointer: at('/createdTimestampColumn') });
        checks.push({ ...provider, ...relation, pointer: at(def.table !== undefined ? '/table' : '/query'), columns });
      } else if (def.kind === 'feature' || def.kind === 'label') {
        const read = await lookup.definition(def.source, 'source').catch(() => undefined); // a transformation: not checked
        if (read?.kind !== 'source') continue;
        // A stream feature reads its topic's offline copy in training sets: the copy holds the same field names.
        const stream = read.topic !== undefined;
        if (stream && def.kind !== 'feature') continue;
        const source = stream ? read.offlineCopy && (await lookup.definition(read.offlineCopy.source, 'source')) : read;
        if (source?.kind !== 'source' || source.topic !== undefined) continue;
        const provider = await offlineProvider(source.provider);
        const relation = provider && relationOf(source, stream ? read.offlineCopy!.source : def.source);
        const entity = (await lookup.definition(def.entity, 'entity')) as EntityDefinition;
        if (!provider || !relation || entity.kind !== 'entity') continue;
        const columns: CheckedColumn[] = def.keyColumns
          ? def.keyColumns.map((name, i) => ({ name, pointer: at(`/keyColumns/${i}`) }))
          : entity.keys.map((k) => ({ name: k.name, pointer: at('/entity') }));
        if (def.column !== undefined) columns.push({ name: def.column, pointer: at('/column') });
        if (def.kind === 'feature' && def.aggregation?.column !== undefined) columns.push({ name: def.aggregation.column, pointer: at('/aggregation/column') });
        if (!stream) {
          columns.push(def.timestampColumn !== undefined ? { name: def.timestampColumn, pointer: at('/timestampColumn') } : { name: source.timestampColumn, pointer: at('/source') });
          if (source.createdTimestampColumn !== undefined) columns.push({ name: source.createdTimestampColumn, pointer: at('/source') });
        }
        checks.push({ ...provider, ...relation, pointer: at('/source'), columns });
      }
    }
    return checks;
  }

  async #checkSemantics(c: Candidate, lookup: RegistryLookup): Promise<void> {
    const def = c.pinned!;
    const at = (p: string) => `${c.pointer}${p}`;
    const provider = async (ref: string) => (await lookup.definition(ref, 'provider')) as ProviderDefinition;
    const requireRole = async (ref: string, roles: readonly ProviderRole[], pointer: string) => {
      const p = await provider(ref);
      if (!p.roles.some((r) => roles.includes(r))) throw invalidDefinition(at(pointer), `provider ${ref} has roles ${p.roles.join(', ')}; needs ${roles.join(' or ')}`);
      return p;
    };
    switch (def.kind) {
      case 'provider': {
        const known = this.#options.providerTypes.get(def.type);
        if (!known) throw invalidDefinition(at('/type'), `unknown provider type ${def.type}; registered: ${[...this.#options.providerTypes.keys()].join(', ')}`);
        const unsupported = def.roles.filter((r) => !known.includes(r));
        if (unsupported.length) throw invalidDefinition(at('/roles'), `provider type ${def.type} does not support role ${unsupported.join(', ')}`);
        const problem = this.#options.checkProviderConfig?.(def.type, def.config ?? {});
        if (problem) throw invalidDefinition(at(`/config${problem.path}`), `${def.type} provider config: ${problem.reason}`);
        break;
      }
      case 'source': {
        const p = await requireRole(def.provider, def.topic !== undefined ? ['stream'] : ['offline'], '/provider');
        if (def.format === 'avro' && p.type === 'kafka' && p.config?.schemaRegistry === undefined) {
          throw invalidDefinition(at('/format'), `format avro reads schemas from the kafka provider's schemaRegistry, and provider ${def.provider} has none (config.schemaRegistry.url)`);
        }
        await lookup.refuseNameClash(c.id, 'transformation', c.pointer);
        if (def.offlineCopy) {
          const copy = await lookup.definition(def.offlineCopy.source, 'source');
          if (copy.kind === 'source' && (copy.topic !== undefined || copy.fields !== undefined)) {
            throw invalidDefinition(at('/offlineCopy/source'), `${def.offlineCopy.source} is a stream source; an offline copy is a table or query source in an offline provider`);
          }
        }
        break;
      }
      case 'transformation': {
        await requireRole(def.provider, ['offline'], '/provider');
        await lookup.refuseNameClash(c.id, 'source', c.pointer);
        for (const reference of definitionReferences(def).filter((r) => r.pointer === '/sql')) {
          const upstream = await lookup.offlineProviderOf(reference.ref);
          if (upstream !== def.provider) throw invalidDefinition(at('/sql'), `${reference.ref} lives in provider ${upstream}, not ${def.provider}`);
        }
        break;
      }
      case 'feature':
      case 'label': {
        const entity = await lookup.definition(def.entity, 'entity');
        if (entity.kind !== 'entity') break;
        const keyColumns = def.keyColumns ?? entity.keys.map((k) => k.name);
        if (keyColumns.length !== entity.keys.length) {
          throw invalidDefinition(at('/keyColumns'), `entity ${def.entity} has ${entity.keys.length} key column(s); got ${keyColumns.length}`);
        }
        if (def.kind !== 'feature') break;
        const online = def.onlineProvider ? await requireRole(def.onlineProvider, ['online'], '/onlineProvider') : undefined;
        const source = await lookup.definition(def.source, 'source').catch(() => undefined);
        const stream = source?.kind === 'source' && source.fields !== undefined;
        if (stream && online && this.#options.tileStoreTypes && !this.#options.tileStoreTypes.includes(online.type)) {
          throw invalidDefinition(at('/onlineProvider'), `a stream feature keeps its tiles in its online provider; ${def.onlineProvider} is of type ${online.type}, and tiles are kept by ${this.#options.tileStoreTypes.join(' or ')}`);
        }
        if (stream && def.ttl !== undefined && def.aggregation && def.aggregation.fn !== 'last') {
          throw invalidDefinition(at('/ttl'), 'a stream aggregation is bounded by its window; ttl applies to last values only');
        }
        break;
      }
      case 'training_set': {
        const labelProvider = await lookup.offlineProviderOf(def.label, 'label');
        const joined = new Map<string, number>();
        for (const [i, f] of def.features.entries()) {
          const ref = typeof f === 'string' ? f : f.feature;
          const first = joined.get(ref);
          if (first !== undefined) {
            throw invalidDefinition(at(`/features/${i}`), `feature ${ref} is already joined at /features/${first}; a feature is one column of a training set (register a second variant to join it with another lag)`);
          }
          joined.set(ref, i);
          const fp = await lookup.trainingProviderOf(ref, at(`/features/${i}`));
          if (fp !== labelProvider) {
            throw invalidDefinition(at(`/features/${i}`), `feature ${ref} lives in provider ${fp} but the label in ${labelProvider}; a training set joins within one provider`);
          }
        }
        break;
      }
      default:
        break;
    }
  }

  /** Inserts new variants in one statement (applies of thousands of resources stay fast). */
  async #insert(tx: SqlSession, created: readonly Candidate[], actor: string): Promise<void> {
    if (created.length === 0) return;
    const rows = created.map((c) => {
      const def = c.pinned!;
      return {
        kind: c.id.kind, name: c.id.name, variant: c.id.variant, definition: def, definition_hash: definitionHash(def),
        owner: def.owner ?? '', description: def.description ?? '', tags: def.tags ?? [], properties: def.properties ?? {}, status: initialStatus(def),
      };
    });
    await tx.query(
      `insert into resources (kind, name, variant, definition, definition_hash, owner, description, tags, properties, status, search)
       select r.kind, r.name, r.variant, r.definition, r.definition_hash, r.owner, r.description,
              array(select jsonb_array_elements_text(r.tags)), r.properties, r.status,
              setweight(to_tsvector('simple', r.name || ' ' || replace(r.name, '_', ' ')), 'A') ||
              setweight(to_tsvector('english', r.description), 'B') ||
              setweight(to_tsvector('simple', array_to_string(array(select jsonb_array_elements_text(r.tags)), ' ')), 'C') ||
              setweight(to_tsvector('simple', r.owner || ' ' || r.kind), 'D')
       from jsonb_to_recordset($1::jsonb) as r(kind text, name text, variant text, definition jsonb, definition_hash text,
            owner text, description text, tags jsonb, properties jsonb, status text)`,
      [JSON.stringify(rows)],
    );
    await tx.query(
      `insert into audit_log (actor, action, kind, name, variant, before_hash, after_hash)
       select $1, 'create', r.kind, r.name, r.variant, null, r.definition_hash
       from jsonb_to_recordset($2::jsonb) as r(kind text, name text, variant text, definition_hash text)`,
      [actor, JSON.stringify(rows.map(({ kind, name, variant, definition_hash }) => ({ kind, name, variant, definition_hash })))],
    );
  }

  /** Equivalent re-apply: tags union, properties merge, a given owner/description replaces the stored one. */
  async #mergeMetadata(tx: SqlSession, unchanged: readonly Candidate[]): Promise<void> {
    if (unchanged.length === 0) return;
    const rows = unchanged.map(({ id, raw }) => ({ ...id, tags: raw.tags ?? [], properties: raw.properties ?? {}, owner: raw.owner ?? '', description: raw.description ?? '' }));
    await tx.query(
      `update resources r set
         tags = array(select distinct t from unnest(r.tags || array(select jsonb_array_elements_text(m.tags))) as t order by t),
         properties = r.properties || m.properties,
         owner = case when m.owner = '' then r.owner else m.owner end,
         description = case when m.description = '' then r.description else m.description end,
         updated_at = now()
       from jsonb_to_recordset($1::jsonb) as m(kind text, name text, variant text, tags jsonb, properties jsonb, owner text, description text)
       where r.kind = m.kind and r.name = m.name and r.variant = m.variant`,
      [JSON.stringify(rows)],
    );
  }

  async get(kind: ResourceKind, name: string, variant?: string): Promise<StoredResource> {
    const rows = variant
      ? (await this.#db.query<ResourceRow>(`select ${RESOURCE_COLUMNS} from resources where kind = $1 and name = $2 and variant = $3`, [kind, name, variant])).rows
      : (await this.#db.query<ResourceRow>(`select ${RESOURCE_COLUMNS} from resources where kind = $1 and name = $2 order by seq desc limit 1`, [kind, name])).rows;
    if (!rows[0]) throw notFound(kind, variant ? formatRef(name, variant) : name);
    return toStored(rows[0]);
  }

  /** All variants of one resource, newest first; the first is the default variant. */
  async variants(kind: ResourceKind, name: string): Promise<StoredResource[]> {
    const { rows } = await this.#db.query<ResourceRow>(`select ${RESOURCE_COLUMNS} from resources where kind = $1 and name = $2 order by seq desc`, [kind, name]);
    if (rows.length === 0) throw notFound(kind, name);
    return rows.map(toStored);
  }

  async list(kind: ResourceKind, options: ListOptions = {}): Promise<{ items: StoredResource[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
    const after = options.cursor ? decodeCursor(options.cursor) : 0;
    const { rows } = await this.#db.query<ResourceRow>(
      `select ${RESOURCE_COLUMNS}, seq from resources
       where kind = $1 and seq > $2
         and ($3::text is null or $3 = any(tags))
         and ($4::text is null or owner = $4)
         and ($5::text is null or status = $5)
       order by seq limit $6`,
      [kind, after, options.tag ?? null, options.owner ?? null, options.status ?? null, limit + 1],
    );
    const page = rows.slice(0, limit);
    const nextCursor = rows.length > limit ? encodeCursor(Number(page[page.length - 1]!.seq)) : null;
    return { items: page.map(toStored), nextCursor };
  }

  async upstream(id: ResourceId): Promise<ResourceId[]> {
    const { rows } = await this.#db.query<{ kind: ResourceKind; name: string; variant: string }>(
      `select from_kind as kind, from_name as name, from_variant as variant from lineage_edges where to_kind = $1 and to_name = $2 and to_variant = $3 order by 1, 2, 3`,
      [id.kind, id.name, id.variant],
    );
    return rows;
  }

  async downstream(id: ResourceId): Promise<ResourceId[]> {
    return downstreamOf(this.#db, id);
  }

  async delete(id: ResourceId, actor: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(7310002)');
      const { rows } = await tx.query<{ definition_hash: string }>(`select definition_hash from resources where kind = $1 and name = $2 and variant = $3`, [id.kind, id.name, id.variant]);
      if (!rows[0]) throw notFound(id.kind, formatRef(id.name, id.variant));
      const dependents = await downstreamOf(tx, id);
      if (dependents.length > 0) {
        throw new TrellisError('TRELLIS_ERR_HAS_DEPENDENTS', { kind: id.kind, ref: formatRef(id.name, id.variant) }, { details: { dependents } });
      }
      await tx.query(`delete from lineage_edges where to_kind = $1 and to_name = $2 and to_variant = $3`, [id.kind, id.name, id.variant]);
      await tx.query(`delete from resources where kind = $1 and name = $2 and variant = $3`, [id.kind, id.name, id.variant]);
      await audit(tx, actor, 'delete', id, rows[0].definition_hash, null);
      await tx.query(`select pg_notify($1, $2)`, [REGISTRY_CHANNEL, JSON.stringify({ op: 'delete', ...id })]);
    });
  }

  async setStatus(id: ResourceId, status: string, message: string | null = null): Promise<void> {
    await this.#db.query(`update resources set status = $4, status_message = $5, updated_at = now() where kind = $1 and name = $2 and variant = $3`, [id.kind, id.name, id.variant, status, message]);
  }
}

async function downstreamOf(db: SqlSession, id: ResourceId): Promise<ResourceId[]> {
  const { rows } = await db.query<{ kind: ResourceKind; name: string; variant: string }>(
    `select to_kind as kind, to_name as name, to_variant as variant from lineage_edges where from_kind = $1 and from_name = $2 and from_variant = $3 order by 1, 2, 3`,
    [id.kind, id.name, id.variant],
  );
  return rows;
}

async function audit(tx: SqlSession, actor: string, action: string, id: ResourceId, before: string | null, after: string | null) {
  await tx.query(`insert into audit_log (actor, action, kind, name, variant, before_hash, after_hash) values ($1, $2, $3, $4, $5, $6, $7)`, [actor, action, id.kind, id.name, id.variant, before, after]);
}

const encodeCursor = (seq: number) => Buffer.from(`s:${seq}`).toString('base64url');
function decodeCursor(cursor: string): number {
  const match = /^s:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/cursor', reason: 'malformed cursor' }, { details: { pointer: '/cursor' } });
  return Number(match[1]);
}

const hasMetadata = (def: ResourceDefinition) =>
  (def.tags?.length ?? 0) > 0 || Object.keys(def.properties ?? {}).length > 0 || Boolean(def.owner) || Boolean(def.description);

function dedupeEdges(edges: LineageEdge[]): LineageEdge[] {
  const seen = new Set<string>();
  return edges.filter((e) => {
    const key = `${idKey(e.from)}\u0001${idKey(e.to)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Resolves every reference of the batch and pins it (`c.pinned`); returns the lineage edges. */
async function resolveReferences(lookup: RegistryLookup, candidates: readonly Candidate[]): Promise<LineageEdge[]> {
  const edges: LineageEdge[] = [];
  for (const c of candidates) {
    const resolved = new Map<string, ResourceId>();
    for (const reference of definitionReferences(c.raw)) {
      const target = await lookup.resolve(reference.ref, reference.kinds, `${c.pointer}${reference.pointer}`);
      resolved.set(`${reference.pointer}\u0000${reference.ref}`, target);
      edges.push({ from: target, to: c.id });
    }
    c.pinned = pinReferences(c.raw, (ref, pointer) => {
      const target = resolved.get(`${pointer}\u0000${ref}`)!;
      return formatRef(target.name, target.variant);
    });
  }
  return edges;
}

function detectCycles(candidates: readonly Candidate[], edges: readonly LineageEdge[]): void {
  const inBatch = new Map(candidates.map((c) => [idKey(c.id), c]));
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!inBatch.has(idKey(e.from))) continue;
    next.set(idKey(e.from), [...(next.get(idKey(e.from)) ?? []), idKey(e.to)]);
  }
  const state = new Map<string, 1 | 2>();
  const visit = (key: string, trail: string[]) => {
    if (state.get(key) === 2) return;
    if (state.get(key) === 1) {
      const c = inBatch.get(key)!;
      throw invalidDefinition(c.pointer, `reference cycle: ${[...trail.slice(trail.indexOf(key)), key].map((k) => formatId(inBatch.get(k)!.id)).join(' → ')}`);
    }
    state.set(key, 1);
    for (const n of next.get(key) ?? []) visit(n, [...trail, key]);
    state.set(key, 2);
  };
  for (const c of candidates) visit(idKey(c.id), []);
}

/** Resolves references against the apply batch first, then the registry, inside the apply transaction. */
class RegistryLookup {
  readonly #tx: SqlSession;
  readonly #batch: readonly Candidate[];
  readonly #rows = new Map<string, ResourceRow | null>();
  readonly #defaults = new Map<string, string | null>();

  constructor(tx: SqlSession, batch: readonly Candidate[]) {
    this.#tx = tx;
    this.#batch = batch;
  }

  async stored(id: ResourceId): Promise<ResourceRow | null> {
    const key = idKey(id);
    if (!this.#rows.has(key)) {
      const { rows } = await this.#tx.query<ResourceRow>(`select ${RESOURCE_COLUMNS}, definition_hash from resources where kind = $1 and name = $2 and variant = $3`, [id.kind, id.name, id.variant]);
      this.#rows.set(key, rows[0] ?? null);
    }
    return this.#rows.get(key)!;
  }

  /** Loads the stored rows of every resource in the batch in one query. */
  async prefetch(): Promise<void> {
    const ids = this.#batch.map((c) => c.id);
    for (const id of ids) this.#rows.set(idKey(id), null);
    const { rows } = await this.#tx.query<ResourceRow>(
      `select ${RESOURCE_COLUMNS}, definition_hash from resources
       where (kind, name, variant) in (select * from jsonb_to_recordset($1::jsonb) as i(kind text, name text, variant text))`,
      [JSON.stringify(ids)],
    );
    for (const row of rows) this.#rows.set(idKey(row), row);
  }

  async #defaultVariant(kind: ResourceKind, name: string): Promise<string | null> {
    const key = `${kind}\u0000${name}`;
    if (!this.#defaults.has(key)) {
      const { rows } = await this.#tx.query<{ variant: string }>(`select variant from resources where kind = $1 and name = $2 order by seq desc limit 1`, [kind, name]);
      this.#defaults.set(key, rows[0]?.variant ?? null);
    }
    return this.#defaults.get(key)!;
  }

  async #find(kind: ResourceKind, name: string, variant: string | undefined): Promise<ResourceId | null> {
    const inBatch = this.#batch.filter((c) => c.id.kind === kind && c.id.name === name && (variant === undefined || c.id.variant === variant));
    if (inBatch.length > 0) return inBatch[inBatch.length - 1]!.id;
    if (variant !== undefined) return (await this.stored({ kind, name, variant })) ? { kind, name, variant } : null;
    const fallback = await this.#defaultVariant(kind, name);
    return fallback === null ? null : { kind, name, variant: fallback };
  }

  async resolve(ref: string, kinds: readonly ResourceKind[], pointer: string): Promise<ResourceId> {
    const { name, variant } = parseRef(ref);
    const found: ResourceId[] = [];
    for (const kind of kinds) {
      const id = await this.#find(kind, name, variant);
      if (id) found.push(id);
    }
    if (found.length === 0) {
      throw new TrellisError('TRELLIS_ERR_UNKNOWN_REFERENCE', { kind: kinds.join(' or '), ref, pointer }, { details: { pointer, ref } });
    }
    if (found.length > 1) throw invalidDefinition(pointer, `${ref} is ambiguous: it names both a ${found.map((f) => f.kind).join(' and a ')}`);
    return found[0]!;
  }

  /** The pinned definition behind a `name@variant` reference resolved earlier in this apply. */
  async definition(pinnedRef: string, kind: ResourceKind): Promise<ResourceDefinition> {
    const { name, variant } = parseRef(pinnedRef);
    const id = { kind, name, variant: variant ?? DEFAULT_VARIANT };
    const inBatch = this.#batch.find((c) => idKey(c.id) === idKey(id));
    if (inBatch) return inBatch.pinned ?? inBatch.raw;
    const row = await this.stored(id);
    if (!row) throw notFound(kind, pinnedRef);
    return row.definition;
  }

  /** The offline provider (`name@variant`) that holds a source, transformation, feature or label. */
  async offlineProviderOf(pinnedRef: string, kind?: ResourceKind): Promise<string> {
    const kinds: ResourceKind[] = kind ? [kind] : ['source', 'transformation'];
    for (const k of kinds) {
      const { name, variant } = parseRef(pinnedRef);
      const id = await this.#find(k, name, variant);
      if (!id) continue;
      const def = await this.definition(formatRef(id.name, id.variant), k);
      if (def.kind === 'source' || def.kind === 'transformation') return def.provider;
      if (def.kind === 'feature' || def.kind === 'label') return this.offlineProviderOf(def.source);
    }
    throw notFound(kind ?? 'source', pinnedRef);
  }

  /**
   * The offline provider a training set reads a feature in: its source's (or transformation's), or for a stream
   * feature the provider of its topic's offline copy (400 at `pointer` when the topic names none).
   */
  async trainingProviderOf(featureRef: string, pointer: string): Promise<string> {
    const feature = await this.definition(featureRef, 'feature');
    if (feature.kind === 'feature') {
      const source = await this.definition(feature.source, 'source').catch(() => undefined);
      if (source?.kind === 'source' && source.topic !== undefined) {
        if (!source.offlineCopy) {
          throw invalidDefinition(pointer, `feature ${featureRef} reads topic source ${feature.source}, which names no offlineCopy; a training set reads a topic's events from their copy in a warehouse`);
        }
        return this.offlineProviderOf(source.offlineCopy.source, 'source');
      }
    }
    return this.offlineProviderOf(featureRef, 'feature');
  }

  async refuseNameClash(id: ResourceId, otherKind: ResourceKind, pointer: string): Promise<void> {
    const clash = this.#batch.some((c) => c.id.kind === otherKind && c.id.name === id.name) || (await this.#defaultVariant(otherKind, id.name)) !== null;
    if (clash) throw invalidDefinition(`${pointer}/name`, `${id.name} is already the name of a ${otherKind}; sources and transformations share one namespace`);
  }
}

import type { FragmentDefinitionNode, GraphQLResolveInfo, SelectionSetNode } from 'graphql';
import type { IResolvers } from 'mercurius';
import { TrellisError, notFound } from '../../errors/trellis-error.js';
import type { RunRecord, SearchOptions } from '../../registry/registry-queries.js';
import { formatRef, idKey, type ResourceId } from '../../registry/resource-ref.js';
import type { ResourceKind } from '../../registry/resource-schemas.js';
import { fieldPath } from '../../streaming/stream-job.js';
import type { GraphqlContext } from './graphql-context.js';
import { scalarResolvers } from './graphql-scalars.js';
import { affectedOfKinds, resolveImpact, type Impact } from './impact-resolver.js';
import { pageSize } from './page-size.js';
import { findResource } from './resource-links.js';
import { globalId, kindFromEnum, kindToEnum, typeNames, type ResourceNode } from './resource-node.js';

/** The deepest lineage query accepted. */
export const MAX_LINEAGE_DEPTH = 25;

interface SearchArgs {
  query?: string | null;
  kinds?: string[] | null;
  tags?: string[] | null;
  owner?: string | null;
  allVariants: boolean;
  first: number;
  after?: string | null;
}

interface LineageArgs {
  kind: string;
  name: string;
  variant?: string | null;
  direction: 'UPSTREAM' | 'DOWNSTREAM' | 'BOTH';
  depth: number;
  first: number;
  after?: string | null;
}

interface SearchConnection {
  readonly options: Omit<SearchOptions, 'first' | 'after'>;
  /** Counted with the page when the operation selects it. */
  readonly totalCount: number | null;
}

/** Whether a selection set (through its fragments) selects the field `name`. */
function selects(set: SelectionSetNode | undefined, name: string, fragments: Record<string, FragmentDefinitionNode>): boolean {
  return (set?.selections ?? []).some((s) => {
    if (s.kind === 'Field') return s.name.value === name;
    if (s.kind === 'InlineFragment') return selects(s.selectionSet, name, fragments);
    return selects(fragments[s.name.value]?.selectionSet, name, fragments);
  });
}

const actorOf = (ctx: GraphqlContext) => (ctx.principal ? `key:${ctx.principal.keyId}` : 'anonymous');

/** A field read from the definition (`table` of a source, `ttl` of a feature); absent fields are null. */
const fromDefinition = (field: string) => (node: ResourceNode) => (node.definition as unknown as Record<string, unknown>)[field] ?? null;
const fieldsFromDefinition = (...fields: string[]) => Object.fromEntries(fields.map((f) => [f, fromDefinition(f)]));

const resourceFields = {
  id: (node: ResourceNode) => globalId(node),
  kind: (node: ResourceNode) => kindToEnum(node.kind),
  isDefaultVariant: (node: ResourceNode) => node.isDefault,
};

const def = <T>(node: ResourceNode) => node.definition as unknown as T;

const query = {
  resource: (_root: unknown, args: { kind: string; name: string; variant?: string | null }, ctx: GraphqlContext) =>
    findResource(ctx.batch, kindFromEnum(args.kind), args.name, args.variant),

  search: async (_root: unknown, args: SearchArgs, ctx: GraphqlContext, info: GraphQLResolveInfo) => {
    const options = {
      query: args.query ?? null,
      kinds: args.kinds ? args.kinds.map(kindFromEnum) : null,
      tags: args.tags ?? null,
      owner: args.owner ?? null,
      allVariants: args.allVariants,
    };
    const withTotal = info.fieldNodes.some((node) => selects(node.selectionSet, 'totalCount', info.fragments));
    const page = await ctx.cache.search({ ...options, first: pageSize(args.first, '/search/first'), after: args.after ?? null, withTotal });
    const edges = page.hits.map((hit) => ({ cursor: hit.cursor, rank: hit.rank, node: ctx.batch.adopt(hit.record) }));
    return {
      options,
      totalCount: page.totalCount,
      edges,
      nodes: edges.map((e) => e.node),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    };
  },

  lineage: async (_root: unknown, args: LineageArgs, ctx: GraphqlContext) => {
    if (!Number.isInteger(args.depth) || args.depth < 1 || args.depth > MAX_LINEAGE_DEPTH) {
      throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/lineage/depth', reason: `must be between 1 and ${MAX_LINEAGE_DEPTH}` }, { details: { pointer: '/lineage/depth' } });
    }
    const kind = kindFromEnum(args.kind);
    const page = { first: pageSize(args.first, '/lineage/first'), after: args.after ?? null };
    const root = { kind, name: args.name, variant: args.variant ?? null };
    const graph = await ctx.cache.lineage(root, { upstream: args.direction !== 'DOWNSTREAM', downstream: args.direction !== 'UPSTREAM' }, args.depth, page);
    if (!graph) throw notFound(kind, args.variant ? formatRef(args.name, args.variant) : args.name);
    const nodes = graph.nodes.map((n) => ({ resource: ctx.batch.adopt(n.record), distance: n.distance, position: n.side }));
    const rootNode = nodes.find((n) => n.position === 'ROOT')?.resource;
    // Edge ends on earlier pages (and the root, after the first page) are loaded in one batch.
    const byKey = new Map(nodes.map((n) => [idKey(n.resource), n.resource]));
    const resource = (id: ResourceId) => byKey.get(idKey(id)) ?? ctx.batch.resource(id);
    return {
      root: rootNode ?? findResource(ctx.batch, kind, args.name, args.variant),
      nodes,
      edges: graph.edges.map((e) => ({ from: resource(e.from), to: resource(e.to) })),
      pageInfo: { hasNextPage: graph.hasNextPage, endCursor: graph.endCursor },
      totalCount: graph.total,
    };
  },

  impact: (_root: unknown, args: { resources: unknown[] }, ctx: GraphqlContext) => resolveImpact(ctx.registry, ctx.batch, args.resources, actorOf(ctx)),
};

/** Resolvers (besides the loaders in graphql-loaders.ts) for the schema in graphql-type-defs.ts. */
export const graphqlResolvers = {
  ...scalarResolvers,
  Query: query,
  Resource: { resolveType: (node: ResourceNode) => typeNames[node.kind] },
  [typeNames.provider]: {
    ...resourceFields,
    type: (node: ResourceNode) => def<{ type: string }>(node).type,
    roles: (node: ResourceNode) => def<{ roles: string[] }>(node).roles.map((r) => r.toUpperCase()),
    config: (node: ResourceNode) => def<{ config?: unknown }>(node).config ?? {},
  },
  [typeNames.entity]: {
    ...resourceFields,
    keys: (node: ResourceNode) => def<{ keys: { name: string; type: string }[] }>(node).keys.map((k) => ({ name: k.name, valueType: k.type })),
  },
  [typeNames.source]: {
    ...resourceFields,
    ...fieldsFromDefinition('table', 'query', 'topic', 'timestampColumn', 'createdTimestampColumn', 'allowedLateness'),
    fields: (node: ResourceNode) =>
      node.definition.kind === 'source' && node.definition.fields
        ? node.definition.fields.map((f) => ({ name: f.name, type: f.type, path: fieldPath(f) }))
        : null,
    offlineCopyOrderColumns: (node: ResourceNode) => (node.definition.kind === 'source' ? (node.definition.offlineCopy?.orderColumns ?? null) : null),
  },
  [typeNames.transformation]: {
    ...resourceFields,
    ...fieldsFromDefinition('sql', 'timestampColumn', 'createdTimestampColumn', 'schedule'),
    watermarkColumn: (node: ResourceNode) => def<{ incremental?: { watermarkColumn: string } }>(node).incremental?.watermarkColumn ?? null,
  },
  [typeNames.feature]: {
    ...resourceFields,
    ...fieldsFromDefinition('keyColumns', 'column', 'valueType', 'timestampColumn', 'ttl', 'schedule'),
    aggregation: (node: ResourceNode) => {
      const a = def<{ aggregation?: { fn: string; column?: string; window: string } }>(node).aggregation;
      return a ? { function: a.fn, column: a.column ?? null, window: a.window } : null;
    },
  },
  [typeNames.label]: { ...resourceFields, ...fieldsFromDefinition('keyColumns', 'column', 'valueType', 'timestampColumn') },
  [typeNames.training_set]: { ...resourceFields },
  [typeNames.feature_service]: { ...resourceFields },
  SearchConnection: {
    totalCount: (connection: SearchConnection, _args: unknown, ctx: GraphqlContext) => connection.totalCount ?? ctx.cache.searchCount(connection.options),
  },
  Impact: {
    affected: (impact: Impact, args: { kinds?: string[] | null }) => affectedOfKinds(impact, args.kinds?.map(kindFromEnum) as ResourceKind[] | undefined),
  },
  Run: {
    durationSeconds: (run: RunRecord) => (run.startedAt && run.finishedAt ? (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000 : null),
  },
} satisfies IResolvers<any, GraphqlContext>;

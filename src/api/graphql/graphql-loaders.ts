import type { MercuriusLoaders } from 'mercurius';
import type { RunStatus } from '../../registry/registry-queries.js';
import type { ResourceKind } from '../../registry/resource-schemas.js';
import type { GraphqlContext } from './graphql-context.js';
import { pageSize } from './page-size.js';
import { dataSource, freshness, location, referenced } from './resource-links.js';
import { typeNames, type ResourceNode } from './resource-node.js';

type ItemResolver<P> = (node: ResourceNode, params: P, ctx: GraphqlContext) => unknown;
type Loaders = MercuriusLoaders<GraphqlContext>[string];

/**
 * A mercurius loader from a per-node resolver: mercurius collects the field's calls of one tick, and every
 * lookup inside goes through the request's RegistryBatch, which coalesces them across fields and types. So a
 * field costs one registry query per level of a result, not one per node.
 */
const perNode =
  <P = Record<string, never>>(resolve: ItemResolver<P>) =>
  (queries: { obj: ResourceNode; params: P }[], ctx: GraphqlContext) =>
    Promise.all(queries.map((q) => resolve(q.obj, q.params, ctx)));

const ofKind = (kinds: readonly ResourceKind[]) => (nodes: ResourceNode[]) => nodes.filter((n) => kinds.includes(n.kind));
const downstreamOfKind = (...kinds: ResourceKind[]) => perNode((node, _p, ctx) => ctx.batch.downstream(node).then(ofKind(kinds)));

interface RunsArgs {
  first: number;
  after?: string | null;
  status?: RunStatus[] | null;
}

const runnable: Loaders = {
  runs: perNode<RunsArgs>(async (node, args, ctx) => {
    const page = await ctx.batch.runPage(node, { first: pageSize(args.first, '/runs/first'), after: args.after ?? null, statuses: args.status ?? null });
    const edges = page.runs.map((r) => ({ cursor: r.cursor, node: r.run }));
    return { edges, nodes: edges.map((e) => e.node), pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
  }),
  freshness: perNode(async (node, _p, ctx) => freshness(await ctx.batch.runSummary(node))),
};

const common: Loaders = {
  variants: perNode((node, _p, ctx) => ctx.batch.variants(node.kind, node.name)),
  provider: perNode((node, _p, ctx) => location(ctx.batch, node)),
  upstream: perNode((node, _p, ctx) => ctx.batch.upstream(node)),
  downstream: perNode((node, _p, ctx) => ctx.batch.downstream(node)),
};

/** mercurius loaders for every field that reaches beyond the node itself. */
export const graphqlLoaders: MercuriusLoaders<GraphqlContext> = {
  [typeNames.provider]: { ...common },
  [typeNames.entity]: {
    ...common,
    features: downstreamOfKind('feature'),
    labels: downstreamOfKind('label'),
  },
  [typeNames.source]: {
    ...common,
    features: downstreamOfKind('feature'),
    offlineCopy: perNode((node, _p, ctx) => (node.definition.kind === 'source' && node.definition.offlineCopy ? referenced(ctx.batch, 'source', node.definition.offlineCopy.source) : null)),
  },
  [typeNames.transformation]: {
    ...common,
    ...runnable,
    inputs: perNode((node, _p, ctx) => ctx.batch.upstream(node).then(ofKind(['source', 'transformation']))),
    features: downstreamOfKind('feature'),
  },
  [typeNames.feature]: {
    ...common,
    ...runnable,
    entity: perNode((node, _p, ctx) => (node.definition.kind === 'feature' ? referenced(ctx.batch, 'entity', node.definition.entity) : null)),
    source: perNode((node, _p, ctx) => (node.definition.kind === 'feature' ? dataSource(ctx.batch, node.definition.source) : null)),
    onlineProvider: perNode(async (node, _p, ctx) =>
      node.definition.kind === 'feature' && node.definition.onlineProvider ? referenced(ctx.batch, 'provider', node.definition.onlineProvider) : null,
    ),
    trainingSets: downstreamOfKind('training_set'),
    featureServices: downstreamOfKind('feature_service'),
  },
  [typeNames.label]: {
    ...common,
    entity: perNode((node, _p, ctx) => (node.definition.kind === 'label' ? referenced(ctx.batch, 'entity', node.definition.entity) : null)),
    source: perNode((node, _p, ctx) => (node.definition.kind === 'label' ? dataSource(ctx.batch, node.definition.source) : null)),
    trainingSets: downstreamOfKind('training_set'),
  },
  [typeNames.training_set]: {
    ...common,
    ...runnable,
    label: perNode((node, _p, ctx) => (node.definition.kind === 'training_set' ? referenced(ctx.batch, 'label', node.definition.label) : null)),
    features: perNode(async (node, _p, ctx) =>
      node.definition.kind === 'training_set' ? Promise.all(node.definition.features.map((f) => referenced(ctx.batch, 'feature', typeof f === 'string' ? f : f.feature))) : [],
    ),
    featureJoins: perNode(async (node, _p, ctx) => {
      if (node.definition.kind !== 'training_set') return [];
      return Promise.all(
        node.definition.features.map(async (f) =>
          typeof f === 'string'
            ? { feature: await referenced(ctx.batch, 'feature', f), lag: null }
            : { feature: await referenced(ctx.batch, 'feature', f.feature), lag: f.lag ?? null },
        ),
      );
    }),
  },
  [typeNames.feature_service]: {
    ...common,
    features: perNode(async (node, _p, ctx) =>
      node.definition.kind === 'feature_service' ? Promise.all(node.definition.features.map((f) => referenced(ctx.batch, 'feature', f))) : [],
    ),
  },
};

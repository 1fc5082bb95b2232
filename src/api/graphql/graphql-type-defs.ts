/**
 * The GraphQL schema (SDL) served at `/graphql`. `openapi/schema.graphql` is this schema as printed by
 * `printGraphqlSchema()`; a test fails when the two drift.
 */

/** Fields every resource kind has; `self` is the implementing type (variants of a feature are features). */
const resourceFields = (self: string) => `
  "Global id \`kind:name@variant\`, e.g. \`feature:user_amount_sum_7d@default\`."
  id: ID!
  kind: ResourceKind!
  name: String!
  "Variants are immutable: a different definition needs a new variant."
  variant: String!
  "True for the latest created variant of this name: unversioned references resolve to it at apply time."
  isDefaultVariant: Boolean!
  owner: String!
  description: String!
  tags: [String!]!
  "Free-form string properties (JSON object of strings)."
  properties: JSON!
  "Lifecycle status: READY for metadata-only resources; CREATED until the first successful run of runnable ones."
  status: String!
  statusMessage: String
  "The definition as applied, every reference pinned to \`name@variant\`. Credentials appear only as references."
  definition: JSON!
  createdAt: DateTime!
  updatedAt: DateTime!
  "Every variant of this name, newest (the default) first."
  variants: [${self}!]!
  """
  Where the data lives: the offline or stream provider holding it (a source's or transformation's own provider,
  a feature's or label's through its source, a training set's through its label). Null for providers, entities
  and feature services.
  """
  provider: Provider
  "Resources this variant references directly (one hop upstream)."
  upstream: [Resource!]!
  "Resources that reference this variant directly (one hop downstream)."
  downstream: [Resource!]!
`;

const runnableFields = `
  "Runs of this resource (materializations, builds), newest first."
  runs(first: Int = 20, after: String, status: [RunStatus!]): RunConnection!
  "How fresh the materialized data is, from its runs."
  freshness: Freshness!
`;

export const graphqlTypeDefs = /* GraphQL */ `
"""
Discovery over the Trellis registry: every resource kind with its variants, ranked full-text search, lineage to
any depth, the impact of a planned apply, and runs and freshness. Every request needs an API key with the
\`read\` scope (\`Authorization: Bearer trl_…\`). Errors carry a \`TRELLIS_ERR_*\` code in \`extensions.code\`.
"""
schema {
  query: Query
}

"Any JSON value."
scalar JSON

"An ISO-8601 timestamp in UTC, e.g. \`2026-01-31T12:00:00.000Z\`."
scalar DateTime

"A 64-bit integer (row counts) as a JSON number; exact up to 2^53 - 1."
scalar Long

type Query {
  "One resource variant, or the default (latest created) variant when \`variant\` is omitted. Null when absent."
  resource(kind: ResourceKind!, name: String!, variant: String): Resource

  """
  Full-text search over names (weighted most), descriptions, tags, then owners and kinds, best match first
  (\`ts_rank\`), ties oldest first. Every word of \`query\` must match, as a prefix of a word or of its English
  stem. Omit \`query\` to list by the filters alone, oldest first. \`tags\` must all be present. Only default
  variants unless \`allVariants\`. \`first\` is 1 to 100; pass \`pageInfo.endCursor\` as \`after\` for the next page.
  """
  search(
    query: String
    kinds: [ResourceKind!]
    tags: [String!]
    owner: String
    allVariants: Boolean = false
    first: Int = 20
    after: String
  ): SearchConnection!

  """
  The lineage graph around one resource: every resource within \`depth\` hops (1 to 25) upstream (what it is
  built from), downstream (what is built from it) or both, and the edges between them. The default variant when
  \`variant\` is omitted. Paged by resource, nearest first: \`first\` is 1 to 100; pass \`pageInfo.endCursor\`
  as \`after\` for the next page.
  """
  lineage(
    kind: ResourceKind!
    name: String!
    variant: String
    direction: LineageDirection = BOTH
    depth: Int = 3
    first: Int = 100
    after: String
  ): LineageConnection!

  """
  What applying these definitions (the \`resources\` of \`POST /v1/apply\`) would do, without applying them: the
  plan per resource, the lineage edges it would add, and the existing resources downstream of what it changes.
  Invalid definitions answer TRELLIS_ERR_INVALID_DEFINITION (or another definition error) with a JSON pointer.
  """
  impact(resources: [JSON!]!): Impact!
}

enum ResourceKind {
  PROVIDER
  ENTITY
  SOURCE
  TRANSFORMATION
  FEATURE
  LABEL
  TRAINING_SET
  FEATURE_SERVICE
}

"A resource variant: the unit of definition in the registry."
interface Resource {
${resourceFields('Resource')}
}

enum ProviderRole {
  OFFLINE
  ONLINE
  STREAM
}

"Where data lives: an offline warehouse, an online key-value store or a stream broker."
type Provider implements Resource {
${resourceFields('Provider')}
  "Adapter id: postgres, duckdb, snowflake, bigquery, redis, embedded, kafka or a plugin id."
  type: String!
  roles: [ProviderRole!]!
  "Adapter configuration; credentials only as env:NAME or file:/path references."
  config: JSON!
}

"The thing features describe (a user, a merchant)."
type Entity implements Resource {
${resourceFields('Entity')}
  keys: [EntityKey!]!
  "Features of this entity."
  features: [Feature!]!
  "Labels of this entity."
  labels: [Label!]!
}

type EntityKey {
  name: String!
  valueType: String!
}

"A table, query or topic in a provider."
type Source implements Resource {
${resourceFields('Source')}
  table: String
  query: String
  "Kafka topic, for stream sources."
  topic: String
  "Event-time column (always set for sources; nullable so that fragments on several kinds can select it)."
  timestampColumn: String
  createdTimestampColumn: String
  "Stream sources: the fields of an event and where each is read."
  fields: [StreamField!]
  "Stream sources: how late an event may arrive and still count."
  allowedLateness: String
  "Stream sources: the table or query source holding a copy of the events (training sets read it)."
  offlineCopy: Source
  "Stream sources: the copy's tie-break columns of last (after the event time), e.g. the Kafka partition and offset."
  offlineCopyOrderColumns: [String!]
  "Features read from this source."
  features: [Feature!]!
}

"A field of a stream source's events."
type StreamField {
  name: String!
  "Value type: string, int, float, bool, timestamp or float_list."
  type: String!
  "JSON pointer to the field in an event."
  path: String!
}

"SQL over other sources, materialized as a table in the same provider."
type Transformation implements Resource {
${resourceFields('Transformation')}
  sql: String!
  "Event-time column of the output (always set for transformations)."
  timestampColumn: String
  createdTimestampColumn: String
  "Column compared with the last watermark, when incremental."
  watermarkColumn: String
  "Cron expression."
  schedule: String
  "The sources and transformations its SQL reads."
  inputs: [Resource!]!
  "Features read from this transformation."
  features: [Feature!]!
${runnableFields}
}

type Aggregation {
  "count, sum, avg, min or max."
  function: String!
  column: String
  window: String!
}

"A value per entity over time, from a source column or a window aggregation."
type Feature implements Resource {
${resourceFields('Feature')}
  entity: Entity!
  "The source or transformation holding the values."
  source: Resource!
  keyColumns: [String!]
  column: String
  aggregation: Aggregation
  valueType: String!
  "Overrides the source's event-time column."
  timestampColumn: String
  "Values older than this are neither served nor joined."
  ttl: String
  "Cron expression for materialization."
  schedule: String
  "The online store it is materialized into."
  onlineProvider: Provider
  "Training sets that join this feature."
  trainingSets: [TrainingSet!]!
  "Feature services (models) that serve this feature."
  featureServices: [FeatureService!]!
${runnableFields}
}

"A training target: the spine of a training set."
type Label implements Resource {
${resourceFields('Label')}
  entity: Entity!
  source: Resource!
  keyColumns: [String!]
  "Label column (always set for labels)."
  column: String
  valueType: String!
  "Overrides the source's event-time column."
  timestampColumn: String
  "Training sets built on this label."
  trainingSets: [TrainingSet!]!
}

"Label rows point-in-time joined with features."
type TrainingSet implements Resource {
${resourceFields('TrainingSet')}
  label: Label!
  "The features joined to the label rows, in column order."
  features: [Feature!]!
  "How each feature is joined, in column order."
  featureJoins: [FeatureJoin!]!
${runnableFields}
}

type FeatureJoin {
  feature: Feature!
  "The feature is read this long before the label time (none: at the label time)."
  lag: String
}

"A named list of features served together to a model."
type FeatureService implements Resource {
${resourceFields('FeatureService')}
  features: [Feature!]!
}

type PageInfo {
  hasNextPage: Boolean!
  "Pass as \`after\` for the next page."
  endCursor: String
}

type SearchConnection {
  edges: [SearchEdge!]!
  "The edges' nodes, for when cursors and ranks are not needed."
  nodes: [Resource!]!
  pageInfo: PageInfo!
  "All matches, whatever the page."
  totalCount: Int!
}

type SearchEdge {
  cursor: String!
  "ts_rank of the match (0 when listing without a query); higher is better."
  rank: Float!
  node: Resource!
}

enum LineageDirection {
  "What the resource is built from."
  UPSTREAM
  "What is built from the resource."
  DOWNSTREAM
  BOTH
}

enum LineagePosition {
  ROOT
  UPSTREAM
  DOWNSTREAM
}

"""
One page of a lineage graph. Resources are ordered by distance, position, kind, name and variant; the cursor
keeps that order, so pages neither repeat nor skip a resource while other resources are applied (new ones
sorting before the cursor are not shown).
"""
type LineageConnection {
  root: Resource!
  "This page's resources: every resource within the depth appears once, on one page, nearest first."
  nodes: [LineageNode!]!
  """
  Edges whose later end (in the order of \`nodes\`) is on this page: together the pages list every edge between
  two resources of the graph once, and each edge joins resources of this page or an earlier one.
  """
  edges: [LineageEdge!]!
  pageInfo: PageInfo!
  "Resources in the whole graph, over every page."
  totalCount: Int!
}

type LineageNode {
  resource: Resource!
  "Hops from the root (0 for the root)."
  distance: Int!
  position: LineagePosition!
}

"\`from\` is upstream of \`to\`: \`to\` references \`from\`."
type LineageEdge {
  from: Resource!
  to: Resource!
}

"Identifies a resource variant that may not exist yet."
type ResourceKey {
  id: ID!
  kind: ResourceKind!
  name: String!
  variant: String!
}

enum PlanAction {
  "A new variant would be created."
  CREATE
  "An equivalent variant exists: nothing changes but tags (union), properties (merge), owner and description."
  UNCHANGED
  "A different definition exists under this name and variant: the apply would be refused (409); use a new variant."
  CONFLICT
}

type FieldDiff {
  "JSON pointer into the definition, e.g. \`/aggregation/window\`."
  field: String!
  existing: JSON
  proposed: JSON
}

type PlannedChange {
  key: ResourceKey!
  action: PlanAction!
  "Fields that differ from the stored variant (CONFLICT only)."
  diff: [FieldDiff!]!
  "The stored variant with this name and variant (UNCHANGED and CONFLICT)."
  existing: Resource
  "For a CREATE of a new variant of an existing name: today's default variant, which it would replace as default."
  replacesDefault: Resource
}

type PlannedEdge {
  from: ResourceKey!
  to: ResourceKey!
}

enum ImpactReason {
  "The change conflicts with the stored variant these resources are built on."
  CONFLICT
  "A new variant becomes the default; these resources stay pinned to the variant they were applied against."
  NEW_DEFAULT_VARIANT
}

type ImpactCause {
  change: ResourceKey!
  reason: ImpactReason!
}

type AffectedResource {
  resource: Resource!
  "Hops from the nearest changed resource."
  distance: Int!
  causes: [ImpactCause!]!
}

type Impact {
  "False when the apply would be refused (a CONFLICT)."
  applicable: Boolean!
  actions: [PlannedChange!]!
  "Lineage edges the apply would add."
  newEdges: [PlannedEdge!]!
  "Existing resources downstream of conflicting or re-defaulted resources, any depth, nearest first; all kinds unless \`kinds\` is given."
  affected(kinds: [ResourceKind!]): [AffectedResource!]!
}

enum RunStatus {
  CREATED
  PENDING
  RUNNING
  READY
  FAILED
  CANCELLED
}

"One execution of a task (materialization, transformation, training-set build, stream job)."
type Run {
  id: ID!
  task: String!
  status: RunStatus!
  attempts: Int!
  maxAttempts: Int!
  rowsRead: Long
  rowsWritten: Long
  error: String
  "Progress marker recorded by the task, e.g. the latest event time materialized."
  watermark: String
  params: JSON!
  logs: JSON!
  createdAt: DateTime!
  startedAt: DateTime
  finishedAt: DateTime
  durationSeconds: Float
}

type RunEdge {
  cursor: String!
  node: Run!
}

type RunConnection {
  edges: [RunEdge!]!
  nodes: [Run!]!
  pageInfo: PageInfo!
}

enum FreshnessStatus {
  "No run has succeeded yet."
  NEVER_SUCCEEDED
  "The latest finished run succeeded."
  SUCCEEDED
  "The latest finished run failed; the data is that of the last success."
  FAILING
}

type Freshness {
  status: FreshnessStatus!
  "The latest READY run."
  lastSuccess: Run
  "When the latest READY run finished."
  lastSuccessAt: DateTime
  "Seconds since the latest READY run finished."
  lagSeconds: Float
  "Rows read by the latest READY run."
  rowsRead: Long
  "Rows written by the latest READY run."
  rowsWritten: Long
  "The latest run of any status."
  lastRun: Run
  "The latest FAILED run."
  lastFailure: Run
  "The error of the latest FAILED run."
  lastError: String
}
`;

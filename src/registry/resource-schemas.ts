import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** Resource names and variants: lower snake case, no `__` (reserved as a separator), at most 63 characters. */
export const NAME_PATTERN = '^(?!.*__)[a-z][a-z0-9_]{0,62}$';
/** A reference: `name` (the parent's default variant at apply time) or `name@variant`. */
export const REF_PATTERN = '^(?!.*__)[a-z][a-z0-9_]{0,62}(@(?!.*__)[a-z][a-z0-9_]{0,62})?$';
export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d|w)$';

export const resourceKinds = [
  'provider',
  'entity',
  'source',
  'transformation',
  'feature',
  'label',
  'training_set',
  'feature_service',
] as const;
export type ResourceKind = (typeof resourceKinds)[number];

const Name = Type.String({ pattern: NAME_PATTERN, maxLength: 63, description: 'Lower snake case, no "__", ≤ 63 chars' });
const Ref = (description: string) => Type.String({ pattern: REF_PATTERN, maxLength: 127, description });
const Duration = (description: string) => Type.String({ pattern: DURATION_PATTERN, description });
/** Column and table identifiers of the customer's warehouse: free text, always quoted by the compiler. */
const Identifier = (description: string) => Type.String({ minLength: 1, maxLength: 255, description });

export const ValueType = Type.Union(
  [Type.Literal('string'), Type.Literal('int'), Type.Literal('float'), Type.Literal('bool'), Type.Literal('timestamp'), Type.Literal('float_list')],
  { description: 'Value type of a feature, label or entity key' },
);
export type ValueType = Static<typeof ValueType>;

const common = {
  name: Name,
  variant: Type.Optional({ ...Name, description: 'Variant name; defaults to "default"' }),
  owner: Type.Optional(Type.String({ maxLength: 200 })),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  tags: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:/-]{1,64}$' }), { maxItems: 64, uniqueItems: true })),
  properties: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.:/-]{1,64}$' }), Type.String({ maxLength: 1000 }))),
};

function resource<K extends ResourceKind, P extends Record<string, TSchema>>(kind: K, props: P, description: string) {
  return Type.Object({ kind: Type.Literal(kind), ...common, ...props }, { additionalProperties: false, title: kind, description });
}

export const ProviderDefinition = resource(
  'provider',
  {
    type: Type.String({ pattern: '^[a-z][a-z0-9]*(-[a-z0-9]+)*$', description: 'Adapter id: postgres, duckdb, snowflake, bigquery, redis, embedded, kafka or a plugin id' }),
    roles: Type.Array(Type.Union([Type.Literal('offline'), Type.Literal('online'), Type.Literal('stream')]), { minItems: 1, uniqueItems: true }),
    config: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Adapter configuration; credentials only as env:NAME or file:/path references' })),
  },
  'Where data lives: an offline warehouse, an online KV store or a stream broker',
);

export const EntityDefinition = resource(
  'entity',
  {
    keys: Type.Array(Type.Object({ name: Identifier('Key column name'), type: ValueType }, { additionalProperties: false }), { minItems: 1, maxItems: 8 }),
  },
  'The thing features describe (a user, a merchant); one or more key columns',
);

export const SourceDefinition = resource(
  'source',
  {
    provider: Ref('Offline or stream provider holding the data'),
    table: Type.Optional(Identifier('Table or view, optionally schema-qualified as schema.table')),
    query: Type.Optional(Type.String({ minLength: 1, maxLength: 100000, description: 'A SELECT evaluated in the provider' })),
    topic: Type.Optional(Identifier('Kafka topic (stream sources)')),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('avro')], { description: "Message values: json (default), or avro in the schema registry wire format (the kafka provider's schemaRegistry)" })),
    fields: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Identifier('Field'),
            type: ValueType,
            path: Type.Optional(
              Type.String({
                pattern: '^(/([^~/]|~[01])*)+$',
                maxLength: 1000,
                description: 'Stream sources: where the field is in each event, as a JSON pointer (e.g. /user/id); default /<name>',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 1000 },
      ),
    ),
    timestampColumn: Identifier('Event-time column'),
    createdTimestampColumn: Type.Optional(Identifier('Created-time column; tie-break between rows with equal event time')),
    allowedLateness: Type.Optional(Duration('Stream sources: how late an event may arrive and still count')),
    offlineCopy: Type.Optional(
      Type.Object(
        {
          source: Ref('A table or query source in an offline provider holding the same events, under the same field names (its own timestampColumn is the event time)'),
          orderColumns: Type.Optional(
            Type.Array(Identifier('Copy column'), {
              minItems: 1,
              maxItems: 4,
              description: 'Tie-break of `last` after the event time, in the order the stream applies events: usually the Kafka partition and offset columns',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  'A table, query or topic in a provider',
);

export const TransformationDefinition = resource(
  'transformation',
  {
    provider: Ref('Offline provider that runs the SQL'),
    sql: Type.String({ minLength: 1, maxLength: 200000, description: 'SELECT with {{ name }} or {{ name.variant }} references to sources/transformations' }),
    timestampColumn: Identifier('Event-time column of the output'),
    createdTimestampColumn: Type.Optional(Identifier('Created-time column of the output')),
    incremental: Type.Optional(Type.Object({ watermarkColumn: Identifier('Column compared with the last watermark') }, { additionalProperties: false })),
    schedule: Type.Optional(Type.String({ minLength: 9, maxLength: 120, description: 'Cron expression' })),
  },
  'SQL over other sources, materialized as a table in the same provider',
);

const Aggregation = Type.Object(
  {
    fn: Type.Union([Type.Literal('count'), Type.Literal('sum'), Type.Literal('avg'), Type.Literal('min'), Type.Literal('max'), Type.Literal('last')], {
      description: 'last: the value with the greatest event time in the window (stream features only)',
    }),
    column: Type.Optional(Identifier('Aggregated column (not needed for count)')),
    window: Duration('Window length, e.g. 7d'),
    slide: Type.Optional(Duration('Stream features: slide of a sliding window (= tile size; the window must be a multiple). Default: the window (tumbling)')),
  },
  { additionalProperties: false },
);

export const FeatureDefinition = resource(
  'feature',
  {
    entity: Ref('Entity the feature describes'),
    source: Ref('Source or transformation holding the values'),
    keyColumns: Type.Optional(Type.Array(Identifier('Source column'), { minItems: 1, description: 'Source columns matching the entity keys, in order; default: the entity key names' })),
    column: Type.Optional(Identifier('Value column (omit when aggregation is given)')),
    aggregation: Type.Optional(Aggregation),
    valueType: ValueType,
    timestampColumn: Type.Optional(Identifier('Overrides the source event-time column')),
    ttl: Type.Optional(Duration('Values older than this are not served / joined')),
    onlineProvider: Type.Optional(Ref('Online provider to materialize into')),
    schedule: Type.Optional(Type.String({ minLength: 9, maxLength: 120, description: 'Cron expression for materialization' })),
  },
  'A value per entity over time, taken from a source column or a window aggregation',
);

export const LabelDefinition = resource(
  'label',
  {
    entity: Ref('Entity the label describes'),
    source: Ref('Source or transformation holding the labels'),
    keyColumns: Type.Optional(Type.Array(Identifier('Source column'), { minItems: 1 })),
    column: Identifier('Label column'),
    valueType: ValueType,
    timestampColumn: Type.Optional(Identifier('Overrides the source event-time column')),
  },
  'A training target: the spine of a training set',
);

export const TrainingSetDefinition = resource(
  'training_set',
  {
    label: Ref('Label giving the spine'),
    features: Type.Array(
      Type.Union([
        Ref('Feature'),
        Type.Object({ feature: Ref('Feature'), lag: Type.Optional(Duration('Look this far before the label time')) }, { additionalProperties: false }),
      ]),
      { minItems: 1, maxItems: 500 },
    ),
  },
  'Label rows point-in-time joined with features',
);

export const FeatureServiceDefinition = resource(
  'feature_service',
  {
    features: Type.Array(Ref('Feature'), { minItems: 1, maxItems: 1000 }),
    onDemand: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Name,
            expression: Type.String({ minLength: 1, maxLength: 2000, description: 'Over the service\'s features and context.<name> values, e.g. amount / max(avg_amount, 1)' }),
            valueType: Type.Union([Type.Literal('float'), Type.Literal('int'), Type.Literal('bool'), Type.Literal('string')]),
          },
          { additionalProperties: false },
        ),
        { maxItems: 100, description: 'Features computed at read time from fetched features and request context' },
      ),
    ),
  },
  'A named list of features served together to a model',
);

export const definitionSchemas = {
  provider: ProviderDefinition,
  entity: EntityDefinition,
  source: SourceDefinition,
  transformation: TransformationDefinition,
  feature: FeatureDefinition,
  label: LabelDefinition,
  training_set: TrainingSetDefinition,
  feature_service: FeatureServiceDefinition,
} as const satisfies Record<ResourceKind, TSchema>;

export type ProviderDefinition = Static<typeof ProviderDefinition>;
export type EntityDefinition = Static<typeof EntityDefinition>;
export type SourceDefinition = Static<typeof SourceDefinition>;
export type TransformationDefinition = Static<typeof TransformationDefinition>;
export type FeatureDefinition = Static<typeof FeatureDefinition>;
export type LabelDefinition = Static<typeof LabelDefinition>;
export type TrainingSetDefinition = Static<typeof TrainingSetDefinition>;
export type FeatureServiceDefinition = Static<typeof FeatureServiceDefinition>;
export type ResourceDefinition =
  | ProviderDefinition
  | EntityDefinition
  | SourceDefinition
  | TransformationDefinition
  | FeatureDefinition
  | LabelDefinition
  | TrainingSetDefinition
  | FeatureServiceDefinition;

/** Fields that describe a variant but are not part of its identity: re-applying may change them. */
export const metadataFields = ['kind', 'name', 'variant', 'owner', 'description', 'tags', 'properties'] as const;

/** The file format of definitions/: one document with a list of resources (JSON or YAML). */
export const DefinitionsFile = Type.Object(
  {
    resources: Type.Array(Type.Union(resourceKinds.map((k) => definitionSchemas[k])), { maxItems: 10000 }),
  },
  { additionalProperties: false },
);

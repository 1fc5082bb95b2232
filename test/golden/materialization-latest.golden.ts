/** Golden SQL for the `materialization-latest` plan of golden-specs.ts. Regenerate only after reviewing the change. */
import type { Dialect } from '../../src/compiler/sql/dialect.js';
import type { CompiledParameter } from '../../src/compiler/sql/compiled-query.js';

export const sql = {
  postgres: `SELECT DISTINCT ON ("r"."user_id", "r"."region") "r"."user_id" AS "user_id",
  "r"."region" AS "region",
  "r"."clicks" AS "clicks__v1",
  "r"."event_ts" AS "__trellis_event_ts",
  "r"."loaded_at" AS "__trellis_created_ts"
FROM "raw"."events" AS "r"
WHERE "r"."event_ts" <= $1 AND "r"."event_ts" > $2 AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
ORDER BY "r"."user_id", "r"."region", "r"."event_ts" DESC, "r"."loaded_at" DESC NULLS LAST, "r"."clicks" DESC NULLS LAST`,
  duckdb: `SELECT "w"."__trellis_k0" AS "user_id",
  "w"."__trellis_k1" AS "region",
  "w"."latest"['v'] AS "clicks__v1",
  "w"."latest"['t'] AS "__trellis_event_ts",
  "w"."latest"['c'] AS "__trellis_created_ts"
FROM (
  SELECT "r"."user_id" AS "__trellis_k0", "r"."region" AS "__trellis_k1", max({'t': "r"."event_ts", 'cn': "r"."loaded_at" IS NOT NULL, 'c': "r"."loaded_at", 'vn': "r"."clicks" IS NOT NULL, 'v': "r"."clicks"}) AS "latest"
  FROM "raw"."events" AS "r"
  WHERE "r"."event_ts" <= $1 AND "r"."event_ts" > $2 AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
  GROUP BY "r"."user_id", "r"."region"
) AS "w"`,
  snowflake: `SELECT "ranked"."__trellis_k0" AS "user_id",
  "ranked"."__trellis_k1" AS "region",
  "ranked"."__trellis_value" AS "clicks__v1",
  "ranked"."__trellis_ts" AS "__trellis_event_ts",
  "ranked"."__trellis_created" AS "__trellis_created_ts"
FROM (
  SELECT "r"."user_id" AS "__trellis_k0",
    "r"."region" AS "__trellis_k1",
    "r"."clicks" AS "__trellis_value",
    "r"."event_ts" AS "__trellis_ts",
    "r"."loaded_at" AS "__trellis_created",
    ROW_NUMBER() OVER (PARTITION BY "r"."user_id", "r"."region" ORDER BY "r"."event_ts" DESC, "r"."loaded_at" DESC NULLS LAST, "r"."clicks" DESC NULLS LAST) AS "__trellis_rank"
  FROM "raw"."events" AS "r"
  WHERE "r"."event_ts" <= ? AND "r"."event_ts" > ? AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
) AS "ranked"
WHERE "ranked"."__trellis_rank" = 1`,
  bigquery: `SELECT \`ranked\`.\`__trellis_k0\` AS \`user_id\`,
  \`ranked\`.\`__trellis_k1\` AS \`region\`,
  \`ranked\`.\`__trellis_value\` AS \`clicks__v1\`,
  \`ranked\`.\`__trellis_ts\` AS \`__trellis_event_ts\`,
  \`ranked\`.\`__trellis_created\` AS \`__trellis_created_ts\`
FROM (
  SELECT \`r\`.\`user_id\` AS \`__trellis_k0\`,
    \`r\`.\`region\` AS \`__trellis_k1\`,
    \`r\`.\`clicks\` AS \`__trellis_value\`,
    \`r\`.\`event_ts\` AS \`__trellis_ts\`,
    \`r\`.\`loaded_at\` AS \`__trellis_created\`,
    ROW_NUMBER() OVER (PARTITION BY \`r\`.\`user_id\`, \`r\`.\`region\` ORDER BY \`r\`.\`event_ts\` DESC, \`r\`.\`loaded_at\` DESC NULLS LAST, \`r\`.\`clicks\` DESC NULLS LAST) AS \`__trellis_rank\`
  FROM \`raw\`.\`events\` AS \`r\`
  WHERE \`r\`.\`event_ts\` <= @p1 AND \`r\`.\`event_ts\` > @p2 AND \`r\`.\`user_id\` IS NOT NULL AND \`r\`.\`region\` IS NOT NULL
) AS \`ranked\`
WHERE \`ranked\`.\`__trellis_rank\` = 1`,
} satisfies Record<Dialect, string>;

export const parameters = {
  postgres: [new Date('2024-06-01T00:00:00.000Z'), new Date('2024-05-31T00:00:00.000Z')],
  duckdb: [new Date('2024-06-01T00:00:00.000Z'), new Date('2024-05-31T00:00:00.000Z')],
  snowflake: [new Date('2024-06-01T00:00:00.000Z'), new Date('2024-05-31T00:00:00.000Z')],
  bigquery: [new Date('2024-06-01T00:00:00.000Z'), new Date('2024-05-31T00:00:00.000Z')],
} satisfies Record<Dialect, readonly CompiledParameter[]>;

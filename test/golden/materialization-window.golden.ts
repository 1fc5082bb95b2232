/** Golden SQL for the `materialization-window` plan of golden-specs.ts. Regenerate only after reviewing the change. */
import type { Dialect } from '../../src/compiler/sql/dialect.js';
import type { CompiledParameter } from '../../src/compiler/sql/compiled-query.js';

export const sql = {
  postgres: `SELECT "r"."user_id" AS "user_id",
  "r"."region" AS "region",
  CAST(AVG(CASE WHEN "r"."paid_at" > $1 THEN "r"."amount" END) AS double precision) AS "avg_amount_1h__default",
  MAX(CASE WHEN "r"."paid_at" > $1 THEN "r"."paid_at" END) AS "__trellis_event_ts",
  CAST(NULL AS timestamp) AS "__trellis_created_ts"
FROM (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
WHERE "r"."paid_at" <= $2 AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
GROUP BY "r"."user_id", "r"."region"`,
  duckdb: `SELECT "r"."user_id" AS "user_id",
  "r"."region" AS "region",
  CAST(AVG(CASE WHEN "r"."paid_at" > $1 THEN "r"."amount" END) AS DOUBLE) AS "avg_amount_1h__default",
  MAX(CASE WHEN "r"."paid_at" > $1 THEN "r"."paid_at" END) AS "__trellis_event_ts",
  CAST(NULL AS TIMESTAMP) AS "__trellis_created_ts"
FROM (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
WHERE "r"."paid_at" <= $2 AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
GROUP BY "r"."user_id", "r"."region"`,
  snowflake: `SELECT "r"."user_id" AS "user_id",
  "r"."region" AS "region",
  CAST(AVG(CASE WHEN "r"."paid_at" > ? THEN "r"."amount" END) AS DOUBLE) AS "avg_amount_1h__default",
  MAX(CASE WHEN "r"."paid_at" > ? THEN "r"."paid_at" END) AS "__trellis_event_ts",
  CAST(NULL AS TIMESTAMP_NTZ) AS "__trellis_created_ts"
FROM (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
WHERE "r"."paid_at" <= ? AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
GROUP BY "r"."user_id", "r"."region"`,
  bigquery: `SELECT \`r\`.\`user_id\` AS \`user_id\`,
  \`r\`.\`region\` AS \`region\`,
  CAST(AVG(CASE WHEN \`r\`.\`paid_at\` > @p1 THEN \`r\`.\`amount\` END) AS FLOAT64) AS \`avg_amount_1h__default\`,
  MAX(CASE WHEN \`r\`.\`paid_at\` > @p1 THEN \`r\`.\`paid_at\` END) AS \`__trellis_event_ts\`,
  CAST(NULL AS DATETIME) AS \`__trellis_created_ts\`
FROM (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS \`r\`
WHERE \`r\`.\`paid_at\` <= @p2 AND \`r\`.\`user_id\` IS NOT NULL AND \`r\`.\`region\` IS NOT NULL
GROUP BY \`r\`.\`user_id\`, \`r\`.\`region\``,
} satisfies Record<Dialect, string>;

export const parameters = {
  postgres: [new Date('2024-05-31T23:00:00.000Z'), new Date('2024-06-01T00:00:00.000Z')],
  duckdb: [new Date('2024-05-31T23:00:00.000Z'), new Date('2024-06-01T00:00:00.000Z')],
  snowflake: [new Date('2024-05-31T23:00:00.000Z'), new Date('2024-05-31T23:00:00.000Z'), new Date('2024-06-01T00:00:00.000Z')],
  bigquery: [new Date('2024-05-31T23:00:00.000Z'), new Date('2024-06-01T00:00:00.000Z')],
} satisfies Record<Dialect, readonly CompiledParameter[]>;

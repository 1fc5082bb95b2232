/** Golden SQL for the `training-set-stream` plan of golden-specs.ts. Regenerate only after reviewing the change. */
import type { Dialect } from '../../src/compiler/sql/dialect.js';
import type { CompiledParameter } from '../../src/compiler/sql/compiled-query.js';

export const sql = {
  postgres: `WITH "__trellis_spine" AS (
  SELECT "l"."user_id" AS "__trellis_k0", "l"."region" AS "__trellis_k1", "l"."label_ts" AS "__trellis_ts", (EXTRACT(EPOCH FROM "l"."label_ts") * 1000) AS "__trellis_ms", "l"."churned" AS "__trellis_label"
  FROM "ml"."labels" AS "l"
),
"__trellis_f1" AS (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", COUNT(*) AS "__trellis_value"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND (EXTRACT(EPOCH FROM "r"."event_ts") * 1000) > (FLOOR("s"."__trellis_ms" / 60000) * 60000) - 3600000
    AND (EXTRACT(EPOCH FROM "r"."event_ts") * 1000) <= (FLOOR("s"."__trellis_ms" / 60000) * 60000)
  GROUP BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms"
),
"__trellis_f2" AS (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", CAST(AVG("r"."amount") AS DOUBLE PRECISION) AS "__trellis_value"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND (EXTRACT(EPOCH FROM "r"."event_ts") * 1000) > (FLOOR(("s"."__trellis_ms" - 30000) / 600000) * 600000) - 600000
    AND (EXTRACT(EPOCH FROM "r"."event_ts") * 1000) <= (FLOOR(("s"."__trellis_ms" - 30000) / 600000) * 600000)
  GROUP BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms"
),
"__trellis_f3" AS (
  SELECT "__trellis_k0", "__trellis_k1", "__trellis_ms", "__trellis_value" FROM (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", "r"."amount" AS "__trellis_value", ROW_NUMBER() OVER (PARTITION BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms" ORDER BY "r"."event_ts" DESC, "r"."kafka_partition" DESC, "r"."kafka_offset" DESC) AS "__rank"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND (EXTRACT(EPOCH FROM "r"."event_ts") * 1000) <= "s"."__trellis_ms"
    AND (EXTRACT(EPOCH FROM "r"."event_ts") * 1000) >= "s"."__trellis_ms" - 86400000
  ) AS "x" WHERE "__rank" = 1
)
SELECT "s"."__trellis_k0" AS "user_id",
  "s"."__trellis_k1" AS "region",
  "s"."__trellis_ts" AS "label_ts",
  "f0"."__trellis_value" AS "clicks__v1",
  COALESCE("f1"."__trellis_value", 0) AS "clicks_1h__v1",
  "f2"."__trellis_value" AS "amount_avg_10m__v1",
  "f3"."__trellis_value" AS "last_amount__v1",
  "s"."__trellis_label" AS "churn__v1"
FROM "__trellis_spine" AS "s"
LEFT JOIN LATERAL (
  SELECT "r"."clicks" AS "__trellis_value"
  FROM "raw"."events" AS "r"
  WHERE "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."event_ts" <= ("s"."__trellis_ts" - INTERVAL '60 seconds')
    AND "r"."event_ts" >= ("s"."__trellis_ts" - INTERVAL '86460 seconds')
  ORDER BY "r"."event_ts" DESC, "r"."loaded_at" DESC NULLS LAST, "r"."clicks" DESC NULLS LAST
  LIMIT 1
) AS "f0" ON TRUE
LEFT JOIN "__trellis_f1" AS "f1" ON "f1"."__trellis_k0" = "s"."__trellis_k0" AND "f1"."__trellis_k1" = "s"."__trellis_k1" AND "f1"."__trellis_ms" = "s"."__trellis_ms"
LEFT JOIN "__trellis_f2" AS "f2" ON "f2"."__trellis_k0" = "s"."__trellis_k0" AND "f2"."__trellis_k1" = "s"."__trellis_k1" AND "f2"."__trellis_ms" = "s"."__trellis_ms"
LEFT JOIN "__trellis_f3" AS "f3" ON "f3"."__trellis_k0" = "s"."__trellis_k0" AND "f3"."__trellis_k1" = "s"."__trellis_k1" AND "f3"."__trellis_ms" = "s"."__trellis_ms"`,
  duckdb: `WITH "__trellis_spine" AS (
  SELECT "l"."user_id" AS "__trellis_k0", "l"."region" AS "__trellis_k1", "l"."label_ts" AS "__trellis_ts", epoch_ms("l"."label_ts") AS "__trellis_ms", "l"."churned" AS "__trellis_label"
  FROM "ml"."labels" AS "l"
),
"__trellis_asof" AS (
  SELECT "s".*, "g0"."__trellis_ts" AS "__trellis_g0_ts", "g0"."__trellis_created" AS "__trellis_g0_c", "g0"."__trellis_v0" AS "__trellis_g0_v0"
  FROM "__trellis_spine" AS "s"
  ASOF LEFT JOIN (
    SELECT "r"."user_id" AS "__trellis_k0", "r"."region" AS "__trellis_k1", "r"."event_ts" AS "__trellis_ts", "r"."loaded_at" AS "__trellis_created", "r"."clicks" AS "__trellis_v0"
    FROM "raw"."events" AS "r"
    WHERE "r"."event_ts" IS NOT NULL AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
  ) AS "g0"
    ON "g0"."__trellis_k0" = "s"."__trellis_k0" AND "g0"."__trellis_k1" = "s"."__trellis_k1" AND ("s"."__trellis_ts" - INTERVAL 60 SECOND) >= "g0"."__trellis_ts"
),
"__trellis_twins0" AS (
  SELECT "d"."__trellis_k0", "d"."__trellis_k1", "d"."__trellis_g0_ts"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_g0_ts" FROM "__trellis_asof" WHERE "__trellis_g0_ts" IS NOT NULL) AS "d"
  JOIN "raw"."events" AS "r"
    ON "r"."user_id" = "d"."__trellis_k0" AND "r"."region" = "d"."__trellis_k1" AND "r"."event_ts" = "d"."__trellis_g0_ts"
  GROUP BY "d"."__trellis_k0", "d"."__trellis_k1", "d"."__trellis_g0_ts"
  HAVING COUNT(*) > 1
),
"__trellis_fix0" AS (
  SELECT "t"."__trellis_k0",
    "t"."__trellis_k1",
    "t"."__trellis_g0_ts" AS "__trellis_ts",
    MAX({'cn': "r"."loaded_at" IS NOT NULL, 'c': "r"."loaded_at", 'vn': "r"."clicks" IS NOT NULL, 'v': "r"."clicks"}) AS "__trellis_v0"
  FROM "__trellis_twins0" AS "t"
  JOIN "raw"."events" AS "r"
    ON "r"."user_id" = "t"."__trellis_k0" AND "r"."region" = "t"."__trellis_k1" AND "r"."event_ts" = "t"."__trellis_g0_ts"
  GROUP BY "t"."__trellis_k0", "t"."__trellis_k1", "t"."__trellis_g0_ts"
),
"__trellis_f1" AS (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", COUNT(*) AS "__trellis_value"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND epoch_ms("r"."event_ts") > (FLOOR("s"."__trellis_ms" / 60000) * 60000) - 3600000
    AND epoch_ms("r"."event_ts") <= (FLOOR("s"."__trellis_ms" / 60000) * 60000)
  GROUP BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms"
),
"__trellis_f2" AS (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", CAST(AVG("r"."amount") AS DOUBLE) AS "__trellis_value"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND epoch_ms("r"."event_ts") > (FLOOR(("s"."__trellis_ms" - 30000) / 600000) * 600000) - 600000
    AND epoch_ms("r"."event_ts") <= (FLOOR(("s"."__trellis_ms" - 30000) / 600000) * 600000)
  GROUP BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms"
),
"__trellis_f3" AS (
  SELECT "__trellis_k0", "__trellis_k1", "__trellis_ms", "__trellis_value" FROM (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", "r"."amount" AS "__trellis_value", ROW_NUMBER() OVER (PARTITION BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms" ORDER BY "r"."event_ts" DESC, "r"."kafka_partition" DESC, "r"."kafka_offset" DESC) AS "__rank"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND epoch_ms("r"."event_ts") <= "s"."__trellis_ms"
    AND epoch_ms("r"."event_ts") >= "s"."__trellis_ms" - 86400000
  ) AS "x" WHERE "__rank" = 1
)
SELECT "s"."__trellis_k0" AS "user_id",
  "s"."__trellis_k1" AS "region",
  "s"."__trellis_ts" AS "label_ts",
  CASE WHEN "s"."__trellis_g0_ts" >= ("s"."__trellis_ts" - INTERVAL 86460 SECOND) THEN CASE WHEN "fix0"."__trellis_v0" IS NOT NULL THEN "fix0"."__trellis_v0"['v'] ELSE "s"."__trellis_g0_v0" END END AS "clicks__v1",
  COALESCE("f1"."__trellis_value", 0) AS "clicks_1h__v1",
  "f2"."__trellis_value" AS "amount_avg_10m__v1",
  "f3"."__trellis_value" AS "last_amount__v1",
  "s"."__trellis_label" AS "churn__v1"
FROM "__trellis_asof" AS "s"
LEFT JOIN "__trellis_fix0" AS "fix0" ON "fix0"."__trellis_k0" = "s"."__trellis_k0" AND "fix0"."__trellis_k1" = "s"."__trellis_k1" AND "fix0"."__trellis_ts" = "s"."__trellis_g0_ts"
LEFT JOIN "__trellis_f1" AS "f1" ON "f1"."__trellis_k0" = "s"."__trellis_k0" AND "f1"."__trellis_k1" = "s"."__trellis_k1" AND "f1"."__trellis_ms" = "s"."__trellis_ms"
LEFT JOIN "__trellis_f2" AS "f2" ON "f2"."__trellis_k0" = "s"."__trellis_k0" AND "f2"."__trellis_k1" = "s"."__trellis_k1" AND "f2"."__trellis_ms" = "s"."__trellis_ms"
LEFT JOIN "__trellis_f3" AS "f3" ON "f3"."__trellis_k0" = "s"."__trellis_k0" AND "f3"."__trellis_k1" = "s"."__trellis_k1" AND "f3"."__trellis_ms" = "s"."__trellis_ms"`,
  snowflake: `WITH "__trellis_spine" AS (
  SELECT ROW_NUMBER() OVER (ORDER BY NULL) AS "__trellis_row_id", "l"."user_id" AS "__trellis_k0", "l"."region" AS "__trellis_k1", "l"."label_ts" AS "__trellis_ts", DATE_PART(EPOCH_MILLISECOND, "l"."label_ts") AS "__trellis_ms", "l"."churned" AS "__trellis_label"
  FROM "ml"."labels" AS "l"
),
"__trellis_f0" AS (
  SELECT "__trellis_row_id", "__trellis_value" FROM (
    SELECT "s"."__trellis_row_id", "r"."clicks" AS "__trellis_value",
      ROW_NUMBER() OVER (PARTITION BY "s"."__trellis_row_id" ORDER BY "r"."event_ts" DESC, "r"."loaded_at" DESC NULLS LAST, "r"."clicks" DESC NULLS LAST) AS "__trellis_rank"
    FROM "__trellis_spine" AS "s"
    JOIN "raw"."events" AS "r"
      ON "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
      AND "r"."event_ts" <= DATEADD(second, -60, "s"."__trellis_ts")
      AND "r"."event_ts" >= DATEADD(second, -86460, "s"."__trellis_ts")
  ) AS "ranked"
  WHERE "__trellis_rank" = 1
),
"__trellis_f1" AS (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", COUNT(*) AS "__trellis_value"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND DATE_PART(EPOCH_MILLISECOND, "r"."event_ts") > (FLOOR("s"."__trellis_ms" / 60000) * 60000) - 3600000
    AND DATE_PART(EPOCH_MILLISECOND, "r"."event_ts") <= (FLOOR("s"."__trellis_ms" / 60000) * 60000)
  GROUP BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms"
),
"__trellis_f2" AS (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", CAST(AVG("r"."amount") AS DOUBLE) AS "__trellis_value"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND DATE_PART(EPOCH_MILLISECOND, "r"."event_ts") > (FLOOR(("s"."__trellis_ms" - 30000) / 600000) * 600000) - 600000
    AND DATE_PART(EPOCH_MILLISECOND, "r"."event_ts") <= (FLOOR(("s"."__trellis_ms" - 30000) / 600000) * 600000)
  GROUP BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms"
),
"__trellis_f3" AS (
  SELECT "__trellis_k0", "__trellis_k1", "__trellis_ms", "__trellis_value" FROM (
  SELECT "s"."__trellis_k0" AS "__trellis_k0", "s"."__trellis_k1" AS "__trellis_k1", "s"."__trellis_ms" AS "__trellis_ms", "r"."amount" AS "__trellis_value", ROW_NUMBER() OVER (PARTITION BY "s"."__trellis_k0", "s"."__trellis_k1", "s"."__trellis_ms" ORDER BY "r"."event_ts" DESC, "r"."kafka_partition" DESC, "r"."kafka_offset" DESC) AS "__rank"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_ms" FROM "__trellis_spine") AS "s"
  JOIN "raw"."click_events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0"
    AND "r"."region" = "s"."__trellis_k1"
    AND DATE_PART(EPOCH_MILLISECOND, "r"."event_ts") <= "s"."__trellis_ms"
    AND DATE_PART(EPOCH_MILLISECOND, "r"."event_ts") >= "s"."__trellis_ms" - 86400000
  ) AS "x" WHERE "__rank" = 1
)
SELECT "s"."__trellis_k0" AS "user_id",
  "s"."__trellis_k1" AS "region",
  "s"."__trellis_ts" AS "label_ts",
  "f0"."__trellis_value" AS "clicks__v1",
  COALESCE("f1"."__trellis_value", 0) AS "clicks_1h__v1",
  "f2"."__trellis_value" AS "amount_avg_10m__v1",
  "f3"."__trellis_value" AS "last_amount__v1",
  "s"."__trellis_label" AS "churn__v1"
FROM "__trellis_spine" AS "s"
LEFT JOIN "__trellis_f0" AS "f0" ON "f0"."__trellis_row_id" = "s"."__trellis_row_id"
LEFT JOIN "__trellis_f1" AS "f1" ON "f1"."__trellis_k0" = "s"."__trellis_k0" AND "f1"."__trellis_k1" = "s"."__trellis_k1" AND "f1"."__trellis_ms" = "s"."__trellis_ms"
LEFT JOIN "__trellis_f2" AS "f2" ON "f2"."__trellis_k0" = "s"."__trellis_k0" AND "f2"."__trellis_k1" = "s"."__trellis_k1" AND "f2"."__trellis_ms" = "s"."__trellis_ms"
LEFT JOIN "__trellis_f3" AS "f3" ON "f3"."__trellis_k0" = "s"."__trellis_k0" AND "f3"."__trellis_k1" = "s"."__trellis_k1" AND "f3"."__trellis_ms" = "s"."__trellis_ms"`,
  bigquery: `WITH \`__trellis_spine\` AS (
  SELECT ROW_NUMBER() OVER () AS \`__trellis_row_id\`, \`l\`.\`user_id\` AS \`__trellis_k0\`, \`l\`.\`region\` AS \`__trellis_k1\`, \`l\`.\`label_ts\` AS \`__trellis_ts\`, UNIX_MILLIS(CAST(\`l\`.\`label_ts\` AS TIMESTAMP)) AS \`__trellis_ms\`, \`l\`.\`churned\` AS \`__trellis_label\`
  FROM \`ml\`.\`labels\` AS \`l\`
),
\`__trellis_f0\` AS (
  SELECT \`__trellis_row_id\`, \`__trellis_value\` FROM (
    SELECT \`s\`.\`__trellis_row_id\`, \`r\`.\`clicks\` AS \`__trellis_value\`,
      ROW_NUMBER() OVER (PARTITION BY \`s\`.\`__trellis_row_id\` ORDER BY \`r\`.\`event_ts\` DESC, \`r\`.\`loaded_at\` DESC NULLS LAST, \`r\`.\`clicks\` DESC NULLS LAST) AS \`__trellis_rank\`
    FROM \`__trellis_spine\` AS \`s\`
    JOIN \`raw\`.\`events\` AS \`r\`
      ON \`r\`.\`user_id\` = \`s\`.\`__trellis_k0\` AND \`r\`.\`region\` = \`s\`.\`__trellis_k1\`
      AND \`r\`.\`event_ts\` <= (\`s\`.\`__trellis_ts\` - INTERVAL 60 SECOND)
      AND \`r\`.\`event_ts\` >= (\`s\`.\`__trellis_ts\` - INTERVAL 86460 SECOND)
  ) AS \`ranked\`
  WHERE \`__trellis_rank\` = 1
),
\`__trellis_f1\` AS (
  SELECT \`s\`.\`__trellis_k0\` AS \`__trellis_k0\`, \`s\`.\`__trellis_k1\` AS \`__trellis_k1\`, \`s\`.\`__trellis_ms\` AS \`__trellis_ms\`, COUNT(*) AS \`__trellis_value\`
  FROM (SELECT DISTINCT \`__trellis_k0\`, \`__trellis_k1\`, \`__trellis_ms\` FROM \`__trellis_spine\`) AS \`s\`
  JOIN \`raw\`.\`click_events\` AS \`r\`
    ON \`r\`.\`user_id\` = \`s\`.\`__trellis_k0\`
    AND \`r\`.\`region\` = \`s\`.\`__trellis_k1\`
    AND UNIX_MILLIS(CAST(\`r\`.\`event_ts\` AS TIMESTAMP)) > (FLOOR(\`s\`.\`__trellis_ms\` / 60000) * 60000) - 3600000
    AND UNIX_MILLIS(CAST(\`r\`.\`event_ts\` AS TIMESTAMP)) <= (FLOOR(\`s\`.\`__trellis_ms\` / 60000) * 60000)
  GROUP BY \`s\`.\`__trellis_k0\`, \`s\`.\`__trellis_k1\`, \`s\`.\`__trellis_ms\`
),
\`__trellis_f2\` AS (
  SELECT \`s\`.\`__trellis_k0\` AS \`__trellis_k0\`, \`s\`.\`__trellis_k1\` AS \`__trellis_k1\`, \`s\`.\`__trellis_ms\` AS \`__trellis_ms\`, CAST(AVG(\`r\`.\`amount\`) AS FLOAT64) AS \`__trellis_value\`
  FROM (SELECT DISTINCT \`__trellis_k0\`, \`__trellis_k1\`, \`__trellis_ms\` FROM \`__trellis_spine\`) AS \`s\`
  JOIN \`raw\`.\`click_events\` AS \`r\`
    ON \`r\`.\`user_id\` = \`s\`.\`__trellis_k0\`
    AND \`r\`.\`region\` = \`s\`.\`__trellis_k1\`
    AND UNIX_MILLIS(CAST(\`r\`.\`event_ts\` AS TIMESTAMP)) > (FLOOR((\`s\`.\`__trellis_ms\` - 30000) / 600000) * 600000) - 600000
    AND UNIX_MILLIS(CAST(\`r\`.\`event_ts\` AS TIMESTAMP)) <= (FLOOR((\`s\`.\`__trellis_ms\` - 30000) / 600000) * 600000)
  GROUP BY \`s\`.\`__trellis_k0\`, \`s\`.\`__trellis_k1\`, \`s\`.\`__trellis_ms\`
),
\`__trellis_f3\` AS (
  SELECT \`__trellis_k0\`, \`__trellis_k1\`, \`__trellis_ms\`, \`__trellis_value\` FROM (
  SELECT \`s\`.\`__trellis_k0\` AS \`__trellis_k0\`, \`s\`.\`__trellis_k1\` AS \`__trellis_k1\`, \`s\`.\`__trellis_ms\` AS \`__trellis_ms\`, \`r\`.\`amount\` AS \`__trellis_value\`, ROW_NUMBER() OVER (PARTITION BY \`s\`.\`__trellis_k0\`, \`s\`.\`__trellis_k1\`, \`s\`.\`__trellis_ms\` ORDER BY \`r\`.\`event_ts\` DESC, \`r\`.\`kafka_partition\` DESC, \`r\`.\`kafka_offset\` DESC) AS \`__rank\`
  FROM (SELECT DISTINCT \`__trellis_k0\`, \`__trellis_k1\`, \`__trellis_ms\` FROM \`__trellis_spine\`) AS \`s\`
  JOIN \`raw\`.\`click_events\` AS \`r\`
    ON \`r\`.\`user_id\` = \`s\`.\`__trellis_k0\`
    AND \`r\`.\`region\` = \`s\`.\`__trellis_k1\`
    AND UNIX_MILLIS(CAST(\`r\`.\`event_ts\` AS TIMESTAMP)) <= \`s\`.\`__trellis_ms\`
    AND UNIX_MILLIS(CAST(\`r\`.\`event_ts\` AS TIMESTAMP)) >= \`s\`.\`__trellis_ms\` - 86400000
  ) AS \`x\` WHERE \`__rank\` = 1
)
SELECT \`s\`.\`__trellis_k0\` AS \`user_id\`,
  \`s\`.\`__trellis_k1\` AS \`region\`,
  \`s\`.\`__trellis_ts\` AS \`label_ts\`,
  \`f0\`.\`__trellis_value\` AS \`clicks__v1\`,
  COALESCE(\`f1\`.\`__trellis_value\`, 0) AS \`clicks_1h__v1\`,
  \`f2\`.\`__trellis_value\` AS \`amount_avg_10m__v1\`,
  \`f3\`.\`__trellis_value\` AS \`last_amount__v1\`,
  \`s\`.\`__trellis_label\` AS \`churn__v1\`
FROM \`__trellis_spine\` AS \`s\`
LEFT JOIN \`__trellis_f0\` AS \`f0\` ON \`f0\`.\`__trellis_row_id\` = \`s\`.\`__trellis_row_id\`
LEFT JOIN \`__trellis_f1\` AS \`f1\` ON \`f1\`.\`__trellis_k0\` = \`s\`.\`__trellis_k0\` AND \`f1\`.\`__trellis_k1\` = \`s\`.\`__trellis_k1\` AND \`f1\`.\`__trellis_ms\` = \`s\`.\`__trellis_ms\`
LEFT JOIN \`__trellis_f2\` AS \`f2\` ON \`f2\`.\`__trellis_k0\` = \`s\`.\`__trellis_k0\` AND \`f2\`.\`__trellis_k1\` = \`s\`.\`__trellis_k1\` AND \`f2\`.\`__trellis_ms\` = \`s\`.\`__trellis_ms\`
LEFT JOIN \`__trellis_f3\` AS \`f3\` ON \`f3\`.\`__trellis_k0\` = \`s\`.\`__trellis_k0\` AND \`f3\`.\`__trellis_k1\` = \`s\`.\`__trellis_k1\` AND \`f3\`.\`__trellis_ms\` = \`s\`.\`__trellis_ms\``,
} satisfies Record<Dialect, string>;

export const parameters = {
  postgres: [],
  duckdb: [],
  snowflake: [],
  bigquery: [],
} satisfies Record<Dialect, readonly CompiledParameter[]>;

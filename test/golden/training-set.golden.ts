/** Golden SQL for the `training-set` plan of golden-specs.ts. Regenerate only after reviewing the change. */
import type { Dialect } from '../../src/compiler/sql/dialect.js';
import type { CompiledParameter } from '../../src/compiler/sql/compiled-query.js';

export const sql = {
  postgres: `WITH "__trellis_spine" AS (
  SELECT "l"."user_id" AS "__trellis_k0", "l"."region" AS "__trellis_k1", "l"."label_ts" AS "__trellis_ts", "l"."churned" AS "__trellis_label"
  FROM "ml"."labels" AS "l"
)
SELECT "s"."__trellis_k0" AS "user_id",
  "s"."__trellis_k1" AS "region",
  "s"."__trellis_ts" AS "label_ts",
  "f0"."__trellis_value" AS "clicks__v1",
  "f1"."__trellis_value" AS "sessions__v1",
  "f2"."__trellis_value" AS "last_payment__default",
  COALESCE("f3"."__trellis_value", 0) AS "clicks_7d__v1",
  "f4"."__trellis_value" AS "avg_amount_1h__default",
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
LEFT JOIN LATERAL (
  SELECT "r"."sessions" AS "__trellis_value"
  FROM "raw"."events" AS "r"
  WHERE "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."event_ts" <= ("s"."__trellis_ts" - INTERVAL '60 seconds')
  ORDER BY "r"."event_ts" DESC, "r"."loaded_at" DESC NULLS LAST, "r"."sessions" DESC NULLS LAST
  LIMIT 1
) AS "f1" ON TRUE
LEFT JOIN LATERAL (
  SELECT "r"."amount" AS "__trellis_value"
  FROM (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
  WHERE "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."paid_at" <= "s"."__trellis_ts"
  ORDER BY "r"."paid_at" DESC, "r"."amount" DESC NULLS LAST
  LIMIT 1
) AS "f2" ON TRUE
LEFT JOIN LATERAL (
  SELECT COUNT(*) AS "__trellis_value"
  FROM "raw"."events" AS "r"
  WHERE "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."event_ts" > ("s"."__trellis_ts" - INTERVAL '604800 seconds')
    AND "r"."event_ts" <= "s"."__trellis_ts"
) AS "f3" ON TRUE
LEFT JOIN LATERAL (
  SELECT CAST(AVG("r"."amount") AS double precision) AS "__trellis_value"
  FROM (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
  WHERE "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."paid_at" > ("s"."__trellis_ts" - INTERVAL '3900 seconds')
    AND "r"."paid_at" <= ("s"."__trellis_ts" - INTERVAL '300 seconds')
) AS "f4" ON TRUE`,
  duckdb: `WITH "__trellis_spine" AS (
  SELECT ROW_NUMBER() OVER () AS "__trellis_row_id", "l"."user_id" AS "__trellis_k0", "l"."region" AS "__trellis_k1", "l"."label_ts" AS "__trellis_ts", "l"."churned" AS "__trellis_label"
  FROM "ml"."labels" AS "l"
),
"__trellis_asof" AS (
  SELECT "s".*, "g0"."__trellis_ts" AS "__trellis_g0_ts", "g0"."__trellis_created" AS "__trellis_g0_c", "g0"."__trellis_v0" AS "__trellis_g0_v0", "g0"."__trellis_v1" AS "__trellis_g0_v1", "g1"."__trellis_ts" AS "__trellis_g1_ts", "g1"."__trellis_v0" AS "__trellis_g1_v0"
  FROM "__trellis_spine" AS "s"
  ASOF LEFT JOIN (
    SELECT "r"."user_id" AS "__trellis_k0", "r"."region" AS "__trellis_k1", "r"."event_ts" AS "__trellis_ts", "r"."loaded_at" AS "__trellis_created", "r"."clicks" AS "__trellis_v0", "r"."sessions" AS "__trellis_v1"
    FROM "raw"."events" AS "r"
    WHERE "r"."event_ts" IS NOT NULL AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
  ) AS "g0"
    ON "g0"."__trellis_k0" = "s"."__trellis_k0" AND "g0"."__trellis_k1" = "s"."__trellis_k1" AND ("s"."__trellis_ts" - INTERVAL 60 SECOND) >= "g0"."__trellis_ts"
  ASOF LEFT JOIN (
    SELECT "r"."user_id" AS "__trellis_k0", "r"."region" AS "__trellis_k1", "r"."paid_at" AS "__trellis_ts", "r"."amount" AS "__trellis_v0"
    FROM (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
    WHERE "r"."paid_at" IS NOT NULL AND "r"."user_id" IS NOT NULL AND "r"."region" IS NOT NULL
  ) AS "g1"
    ON "g1"."__trellis_k0" = "s"."__trellis_k0" AND "g1"."__trellis_k1" = "s"."__trellis_k1" AND "s"."__trellis_ts" >= "g1"."__trellis_ts"
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
    MAX({'cn': "r"."loaded_at" IS NOT NULL, 'c': "r"."loaded_at", 'vn': "r"."clicks" IS NOT NULL, 'v': "r"."clicks"}) AS "__trellis_v0",
    MAX({'cn': "r"."loaded_at" IS NOT NULL, 'c': "r"."loaded_at", 'vn': "r"."sessions" IS NOT NULL, 'v': "r"."sessions"}) AS "__trellis_v1"
  FROM "__trellis_twins0" AS "t"
  JOIN "raw"."events" AS "r"
    ON "r"."user_id" = "t"."__trellis_k0" AND "r"."region" = "t"."__trellis_k1" AND "r"."event_ts" = "t"."__trellis_g0_ts"
  GROUP BY "t"."__trellis_k0", "t"."__trellis_k1", "t"."__trellis_g0_ts"
),
"__trellis_twins1" AS (
  SELECT "d"."__trellis_k0", "d"."__trellis_k1", "d"."__trellis_g1_ts"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_k1", "__trellis_g1_ts" FROM "__trellis_asof" WHERE "__trellis_g1_ts" IS NOT NULL) AS "d"
  JOIN (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
    ON "r"."user_id" = "d"."__trellis_k0" AND "r"."region" = "d"."__trellis_k1" AND "r"."paid_at" = "d"."__trellis_g1_ts"
  GROUP BY "d"."__trellis_k0", "d"."__trellis_k1", "d"."__trellis_g1_ts"
  HAVING COUNT(*) > 1
),
"__trellis_fix1" AS (
  SELECT "t"."__trellis_k0",
    "t"."__trellis_k1",
    "t"."__trellis_g1_ts" AS "__trellis_ts",
    MAX({'vn': "r"."amount" IS NOT NULL, 'v': "r"."amount"}) AS "__trellis_v0"
  FROM "__trellis_twins1" AS "t"
  JOIN (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
    ON "r"."user_id" = "t"."__trellis_k0" AND "r"."region" = "t"."__trellis_k1" AND "r"."paid_at" = "t"."__trellis_g1_ts"
  GROUP BY "t"."__trellis_k0", "t"."__trellis_k1", "t"."__trellis_g1_ts"
),
"__trellis_f3" AS (
  SELECT "s"."__trellis_row_id", COUNT(*) AS "__trellis_value"
  FROM "__trellis_spine" AS "s"
  JOIN "raw"."events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."event_ts" > ("s"."__trellis_ts" - INTERVAL 604800 SECOND)
    AND "r"."event_ts" <= "s"."__trellis_ts"
  GROUP BY "s"."__trellis_row_id"
),
"__trellis_f4" AS (
  SELECT "s"."__trellis_row_id", CAST(AVG("r"."amount") AS DOUBLE) AS "__trellis_value"
  FROM "__trellis_spine" AS "s"
  JOIN (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
    ON "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."paid_at" > ("s"."__trellis_ts" - INTERVAL 3900 SECOND)
    AND "r"."paid_at" <= ("s"."__trellis_ts" - INTERVAL 300 SECOND)
  GROUP BY "s"."__trellis_row_id"
)
SELECT "s"."__trellis_k0" AS "user_id",
  "s"."__trellis_k1" AS "region",
  "s"."__trellis_ts" AS "label_ts",
  CASE WHEN "s"."__trellis_g0_ts" >= ("s"."__trellis_ts" - INTERVAL 86460 SECOND) THEN CASE WHEN "fix0"."__trellis_v0" IS NOT NULL THEN "fix0"."__trellis_v0"['v'] ELSE "s"."__trellis_g0_v0" END END AS "clicks__v1",
  CASE WHEN "fix0"."__trellis_v1" IS NOT NULL THEN "fix0"."__trellis_v1"['v'] ELSE "s"."__trellis_g0_v1" END AS "sessions__v1",
  CASE WHEN "fix1"."__trellis_v0" IS NOT NULL THEN "fix1"."__trellis_v0"['v'] ELSE "s"."__trellis_g1_v0" END AS "last_payment__default",
  COALESCE("f3"."__trellis_value", 0) AS "clicks_7d__v1",
  "f4"."__trellis_value" AS "avg_amount_1h__default",
  "s"."__trellis_label" AS "churn__v1"
FROM "__trellis_asof" AS "s"
LEFT JOIN "__trellis_fix0" AS "fix0" ON "fix0"."__trellis_k0" = "s"."__trellis_k0" AND "fix0"."__trellis_k1" = "s"."__trellis_k1" AND "fix0"."__trellis_ts" = "s"."__trellis_g0_ts"
LEFT JOIN "__trellis_fix1" AS "fix1" ON "fix1"."__trellis_k0" = "s"."__trellis_k0" AND "fix1"."__trellis_k1" = "s"."__trellis_k1" AND "fix1"."__trellis_ts" = "s"."__trellis_g1_ts"
LEFT JOIN "__trellis_f3" AS "f3" ON "f3"."__trellis_row_id" = "s"."__trellis_row_id"
LEFT JOIN "__trellis_f4" AS "f4" ON "f4"."__trellis_row_id" = "s"."__trellis_row_id"`,
  snowflake: `WITH "__trellis_spine" AS (
  SELECT ROW_NUMBER() OVER (ORDER BY NULL) AS "__trellis_row_id", "l"."user_id" AS "__trellis_k0", "l"."region" AS "__trellis_k1", "l"."label_ts" AS "__trellis_ts", "l"."churned" AS "__trellis_label"
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
  SELECT "__trellis_row_id", "__trellis_value" FROM (
    SELECT "s"."__trellis_row_id", "r"."sessions" AS "__trellis_value",
      ROW_NUMBER() OVER (PARTITION BY "s"."__trellis_row_id" ORDER BY "r"."event_ts" DESC, "r"."loaded_at" DESC NULLS LAST, "r"."sessions" DESC NULLS LAST) AS "__trellis_rank"
    FROM "__trellis_spine" AS "s"
    JOIN "raw"."events" AS "r"
      ON "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
      AND "r"."event_ts" <= DATEADD(second, -60, "s"."__trellis_ts")
  ) AS "ranked"
  WHERE "__trellis_rank" = 1
),
"__trellis_f2" AS (
  SELECT "__trellis_row_id", "__trellis_value" FROM (
    SELECT "s"."__trellis_row_id", "r"."amount" AS "__trellis_value",
      ROW_NUMBER() OVER (PARTITION BY "s"."__trellis_row_id" ORDER BY "r"."paid_at" DESC, "r"."amount" DESC NULLS LAST) AS "__trellis_rank"
    FROM "__trellis_spine" AS "s"
    JOIN (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
      ON "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
      AND "r"."paid_at" <= "s"."__trellis_ts"
  ) AS "ranked"
  WHERE "__trellis_rank" = 1
),
"__trellis_f3" AS (
  SELECT "s"."__trellis_row_id", COUNT(*) AS "__trellis_value"
  FROM "__trellis_spine" AS "s"
  JOIN "raw"."events" AS "r"
    ON "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."event_ts" > DATEADD(second, -604800, "s"."__trellis_ts")
    AND "r"."event_ts" <= "s"."__trellis_ts"
  GROUP BY "s"."__trellis_row_id"
),
"__trellis_f4" AS (
  SELECT "s"."__trellis_row_id", CAST(AVG("r"."amount") AS DOUBLE) AS "__trellis_value"
  FROM "__trellis_spine" AS "s"
  JOIN (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS "r"
    ON "r"."user_id" = "s"."__trellis_k0" AND "r"."region" = "s"."__trellis_k1"
    AND "r"."paid_at" > DATEADD(second, -3900, "s"."__trellis_ts")
    AND "r"."paid_at" <= DATEADD(second, -300, "s"."__trellis_ts")
  GROUP BY "s"."__trellis_row_id"
)
SELECT "s"."__trellis_k0" AS "user_id",
  "s"."__trellis_k1" AS "region",
  "s"."__trellis_ts" AS "label_ts",
  "f0"."__trellis_value" AS "clicks__v1",
  "f1"."__trellis_value" AS "sessions__v1",
  "f2"."__trellis_value" AS "last_payment__default",
  COALESCE("f3"."__trellis_value", 0) AS "clicks_7d__v1",
  "f4"."__trellis_value" AS "avg_amount_1h__default",
  "s"."__trellis_label" AS "churn__v1"
FROM "__trellis_spine" AS "s"
LEFT JOIN "__trellis_f0" AS "f0" ON "f0"."__trellis_row_id" = "s"."__trellis_row_id"
LEFT JOIN "__trellis_f1" AS "f1" ON "f1"."__trellis_row_id" = "s"."__trellis_row_id"
LEFT JOIN "__trellis_f2" AS "f2" ON "f2"."__trellis_row_id" = "s"."__trellis_row_id"
LEFT JOIN "__trellis_f3" AS "f3" ON "f3"."__trellis_row_id" = "s"."__trellis_row_id"
LEFT JOIN "__trellis_f4" AS "f4" ON "f4"."__trellis_row_id" = "s"."__trellis_row_id"`,
  bigquery: `WITH \`__trellis_spine\` AS (
  SELECT ROW_NUMBER() OVER () AS \`__trellis_row_id\`, \`l\`.\`user_id\` AS \`__trellis_k0\`, \`l\`.\`region\` AS \`__trellis_k1\`, \`l\`.\`label_ts\` AS \`__trellis_ts\`, \`l\`.\`churned\` AS \`__trellis_label\`
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
  SELECT \`__trellis_row_id\`, \`__trellis_value\` FROM (
    SELECT \`s\`.\`__trellis_row_id\`, \`r\`.\`sessions\` AS \`__trellis_value\`,
      ROW_NUMBER() OVER (PARTITION BY \`s\`.\`__trellis_row_id\` ORDER BY \`r\`.\`event_ts\` DESC, \`r\`.\`loaded_at\` DESC NULLS LAST, \`r\`.\`sessions\` DESC NULLS LAST) AS \`__trellis_rank\`
    FROM \`__trellis_spine\` AS \`s\`
    JOIN \`raw\`.\`events\` AS \`r\`
      ON \`r\`.\`user_id\` = \`s\`.\`__trellis_k0\` AND \`r\`.\`region\` = \`s\`.\`__trellis_k1\`
      AND \`r\`.\`event_ts\` <= (\`s\`.\`__trellis_ts\` - INTERVAL 60 SECOND)
  ) AS \`ranked\`
  WHERE \`__trellis_rank\` = 1
),
\`__trellis_f2\` AS (
  SELECT \`__trellis_row_id\`, \`__trellis_value\` FROM (
    SELECT \`s\`.\`__trellis_row_id\`, \`r\`.\`amount\` AS \`__trellis_value\`,
      ROW_NUMBER() OVER (PARTITION BY \`s\`.\`__trellis_row_id\` ORDER BY \`r\`.\`paid_at\` DESC, \`r\`.\`amount\` DESC NULLS LAST) AS \`__trellis_rank\`
    FROM \`__trellis_spine\` AS \`s\`
    JOIN (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS \`r\`
      ON \`r\`.\`user_id\` = \`s\`.\`__trellis_k0\` AND \`r\`.\`region\` = \`s\`.\`__trellis_k1\`
      AND \`r\`.\`paid_at\` <= \`s\`.\`__trellis_ts\`
  ) AS \`ranked\`
  WHERE \`__trellis_rank\` = 1
),
\`__trellis_f3\` AS (
  SELECT \`s\`.\`__trellis_row_id\`, COUNT(*) AS \`__trellis_value\`
  FROM \`__trellis_spine\` AS \`s\`
  JOIN \`raw\`.\`events\` AS \`r\`
    ON \`r\`.\`user_id\` = \`s\`.\`__trellis_k0\` AND \`r\`.\`region\` = \`s\`.\`__trellis_k1\`
    AND \`r\`.\`event_ts\` > (\`s\`.\`__trellis_ts\` - INTERVAL 604800 SECOND)
    AND \`r\`.\`event_ts\` <= \`s\`.\`__trellis_ts\`
  GROUP BY \`s\`.\`__trellis_row_id\`
),
\`__trellis_f4\` AS (
  SELECT \`s\`.\`__trellis_row_id\`, CAST(AVG(\`r\`.\`amount\`) AS FLOAT64) AS \`__trellis_value\`
  FROM \`__trellis_spine\` AS \`s\`
  JOIN (
SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0
) AS \`r\`
    ON \`r\`.\`user_id\` = \`s\`.\`__trellis_k0\` AND \`r\`.\`region\` = \`s\`.\`__trellis_k1\`
    AND \`r\`.\`paid_at\` > (\`s\`.\`__trellis_ts\` - INTERVAL 3900 SECOND)
    AND \`r\`.\`paid_at\` <= (\`s\`.\`__trellis_ts\` - INTERVAL 300 SECOND)
  GROUP BY \`s\`.\`__trellis_row_id\`
)
SELECT \`s\`.\`__trellis_k0\` AS \`user_id\`,
  \`s\`.\`__trellis_k1\` AS \`region\`,
  \`s\`.\`__trellis_ts\` AS \`label_ts\`,
  \`f0\`.\`__trellis_value\` AS \`clicks__v1\`,
  \`f1\`.\`__trellis_value\` AS \`sessions__v1\`,
  \`f2\`.\`__trellis_value\` AS \`last_payment__default\`,
  COALESCE(\`f3\`.\`__trellis_value\`, 0) AS \`clicks_7d__v1\`,
  \`f4\`.\`__trellis_value\` AS \`avg_amount_1h__default\`,
  \`s\`.\`__trellis_label\` AS \`churn__v1\`
FROM \`__trellis_spine\` AS \`s\`
LEFT JOIN \`__trellis_f0\` AS \`f0\` ON \`f0\`.\`__trellis_row_id\` = \`s\`.\`__trellis_row_id\`
LEFT JOIN \`__trellis_f1\` AS \`f1\` ON \`f1\`.\`__trellis_row_id\` = \`s\`.\`__trellis_row_id\`
LEFT JOIN \`__trellis_f2\` AS \`f2\` ON \`f2\`.\`__trellis_row_id\` = \`s\`.\`__trellis_row_id\`
LEFT JOIN \`__trellis_f3\` AS \`f3\` ON \`f3\`.\`__trellis_row_id\` = \`s\`.\`__trellis_row_id\`
LEFT JOIN \`__trellis_f4\` AS \`f4\` ON \`f4\`.\`__trellis_row_id\` = \`s\`.\`__trellis_row_id\``,
} satisfies Record<Dialect, string>;

export const parameters = {
  postgres: [],
  duckdb: [],
  snowflake: [],
  bigquery: [],
} satisfies Record<Dialect, readonly CompiledParameter[]>;

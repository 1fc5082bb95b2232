/** Golden SQL for the `hostile` plan of golden-specs.ts. Regenerate only after reviewing the change. */
import type { Dialect } from '../../src/compiler/sql/dialect.js';
import type { CompiledParameter } from '../../src/compiler/sql/compiled-query.js';

export const sql = {
  postgres: `WITH "__trellis_spine" AS (
  SELECT "l"."k""e\`y" AS "__trellis_k0", "l"."t\\s" AS "__trellis_ts", "l"."y'; --" AS "__trellis_label"
  FROM "sch\`ema"."la""bels; DROP TABLE x; --" AS "l"
)
SELECT "s"."__trellis_k0" AS "k""e\`y",
  "s"."__trellis_ts" AS "t\\s",
  "f0"."__trellis_value" AS "f\`""__v--1",
  "s"."__trellis_label" AS "l""abel__v'1"
FROM "__trellis_spine" AS "s"
LEFT JOIN LATERAL (
  SELECT "r"."v\\al\`""" AS "__trellis_value"
  FROM "src\`); DELETE FROM y; --" AS "r"
  WHERE "r"."k'ey" = "s"."__trellis_k0"
    AND "r"."ts""" <= "s"."__trellis_ts"
    AND "r"."ts""" >= ("s"."__trellis_ts" - INTERVAL '10 seconds')
  ORDER BY "r"."ts""" DESC, "r"."c\`r" DESC NULLS LAST, "r"."v\\al\`""" DESC NULLS LAST
  LIMIT 1
) AS "f0" ON TRUE`,
  duckdb: `WITH "__trellis_spine" AS (
  SELECT "l"."k""e\`y" AS "__trellis_k0", "l"."t\\s" AS "__trellis_ts", "l"."y'; --" AS "__trellis_label"
  FROM "sch\`ema"."la""bels; DROP TABLE x; --" AS "l"
),
"__trellis_asof" AS (
  SELECT "s".*, "g0"."__trellis_ts" AS "__trellis_g0_ts", "g0"."__trellis_created" AS "__trellis_g0_c", "g0"."__trellis_v0" AS "__trellis_g0_v0"
  FROM "__trellis_spine" AS "s"
  ASOF LEFT JOIN (
    SELECT "r"."k'ey" AS "__trellis_k0", "r"."ts""" AS "__trellis_ts", "r"."c\`r" AS "__trellis_created", "r"."v\\al\`""" AS "__trellis_v0"
    FROM "src\`); DELETE FROM y; --" AS "r"
    WHERE "r"."ts""" IS NOT NULL AND "r"."k'ey" IS NOT NULL
  ) AS "g0"
    ON "g0"."__trellis_k0" = "s"."__trellis_k0" AND "s"."__trellis_ts" >= "g0"."__trellis_ts"
),
"__trellis_twins0" AS (
  SELECT "d"."__trellis_k0", "d"."__trellis_g0_ts"
  FROM (SELECT DISTINCT "__trellis_k0", "__trellis_g0_ts" FROM "__trellis_asof" WHERE "__trellis_g0_ts" IS NOT NULL) AS "d"
  JOIN "src\`); DELETE FROM y; --" AS "r"
    ON "r"."k'ey" = "d"."__trellis_k0" AND "r"."ts""" = "d"."__trellis_g0_ts"
  GROUP BY "d"."__trellis_k0", "d"."__trellis_g0_ts"
  HAVING COUNT(*) > 1
),
"__trellis_fix0" AS (
  SELECT "t"."__trellis_k0",
    "t"."__trellis_g0_ts" AS "__trellis_ts",
    MAX({'cn': "r"."c\`r" IS NOT NULL, 'c': "r"."c\`r", 'vn': "r"."v\\al\`""" IS NOT NULL, 'v': "r"."v\\al\`"""}) AS "__trellis_v0"
  FROM "__trellis_twins0" AS "t"
  JOIN "src\`); DELETE FROM y; --" AS "r"
    ON "r"."k'ey" = "t"."__trellis_k0" AND "r"."ts""" = "t"."__trellis_g0_ts"
  GROUP BY "t"."__trellis_k0", "t"."__trellis_g0_ts"
)
SELECT "s"."__trellis_k0" AS "k""e\`y",
  "s"."__trellis_ts" AS "t\\s",
  CASE WHEN "s"."__trellis_g0_ts" >= ("s"."__trellis_ts" - INTERVAL 10 SECOND) THEN CASE WHEN "fix0"."__trellis_v0" IS NOT NULL THEN "fix0"."__trellis_v0"['v'] ELSE "s"."__trellis_g0_v0" END END AS "f\`""__v--1",
  "s"."__trellis_label" AS "l""abel__v'1"
FROM "__trellis_asof" AS "s"
LEFT JOIN "__trellis_fix0" AS "fix0" ON "fix0"."__trellis_k0" = "s"."__trellis_k0" AND "fix0"."__trellis_ts" = "s"."__trellis_g0_ts"`,
  snowflake: `WITH "__trellis_spine" AS (
  SELECT ROW_NUMBER() OVER (ORDER BY NULL) AS "__trellis_row_id", "l"."k""e\`y" AS "__trellis_k0", "l"."t\\s" AS "__trellis_ts", "l"."y'; --" AS "__trellis_label"
  FROM "sch\`ema"."la""bels; DROP TABLE x; --" AS "l"
),
"__trellis_f0" AS (
  SELECT "__trellis_row_id", "__trellis_value" FROM (
    SELECT "s"."__trellis_row_id", "r"."v\\al\`""" AS "__trellis_value",
      ROW_NUMBER() OVER (PARTITION BY "s"."__trellis_row_id" ORDER BY "r"."ts""" DESC, "r"."c\`r" DESC NULLS LAST, "r"."v\\al\`""" DESC NULLS LAST) AS "__trellis_rank"
    FROM "__trellis_spine" AS "s"
    JOIN "src\`); DELETE FROM y; --" AS "r"
      ON "r"."k'ey" = "s"."__trellis_k0"
      AND "r"."ts""" <= "s"."__trellis_ts"
      AND "r"."ts""" >= DATEADD(second, -10, "s"."__trellis_ts")
  ) AS "ranked"
  WHERE "__trellis_rank" = 1
)
SELECT "s"."__trellis_k0" AS "k""e\`y",
  "s"."__trellis_ts" AS "t\\s",
  "f0"."__trellis_value" AS "f\`""__v--1",
  "s"."__trellis_label" AS "l""abel__v'1"
FROM "__trellis_spine" AS "s"
LEFT JOIN "__trellis_f0" AS "f0" ON "f0"."__trellis_row_id" = "s"."__trellis_row_id"`,
  bigquery: `WITH \`__trellis_spine\` AS (
  SELECT ROW_NUMBER() OVER () AS \`__trellis_row_id\`, \`l\`.\`k"e\\\`y\` AS \`__trellis_k0\`, \`l\`.\`t\\\\s\` AS \`__trellis_ts\`, \`l\`.\`y'; --\` AS \`__trellis_label\`
  FROM \`sch\\\`ema\`.\`la"bels; DROP TABLE x; --\` AS \`l\`
),
\`__trellis_f0\` AS (
  SELECT \`__trellis_row_id\`, \`__trellis_value\` FROM (
    SELECT \`s\`.\`__trellis_row_id\`, \`r\`.\`v\\\\al\\\`"\` AS \`__trellis_value\`,
      ROW_NUMBER() OVER (PARTITION BY \`s\`.\`__trellis_row_id\` ORDER BY \`r\`.\`ts"\` DESC, \`r\`.\`c\\\`r\` DESC NULLS LAST, \`r\`.\`v\\\\al\\\`"\` DESC NULLS LAST) AS \`__trellis_rank\`
    FROM \`__trellis_spine\` AS \`s\`
    JOIN \`src\\\`); DELETE FROM y; --\` AS \`r\`
      ON \`r\`.\`k'ey\` = \`s\`.\`__trellis_k0\`
      AND \`r\`.\`ts"\` <= \`s\`.\`__trellis_ts\`
      AND \`r\`.\`ts"\` >= (\`s\`.\`__trellis_ts\` - INTERVAL 10 SECOND)
  ) AS \`ranked\`
  WHERE \`__trellis_rank\` = 1
)
SELECT \`s\`.\`__trellis_k0\` AS \`k"e\\\`y\`,
  \`s\`.\`__trellis_ts\` AS \`t\\\\s\`,
  \`f0\`.\`__trellis_value\` AS \`f\\\`"__v--1\`,
  \`s\`.\`__trellis_label\` AS \`l"abel__v'1\`
FROM \`__trellis_spine\` AS \`s\`
LEFT JOIN \`__trellis_f0\` AS \`f0\` ON \`f0\`.\`__trellis_row_id\` = \`s\`.\`__trellis_row_id\``,
} satisfies Record<Dialect, string>;

export const parameters = {
  postgres: [],
  duckdb: [],
  snowflake: [],
  bigquery: [],
} satisfies Record<Dialect, readonly CompiledParameter[]>;

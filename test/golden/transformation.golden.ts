/** Golden SQL for the `transformation` plan of golden-specs.ts. Regenerate only after reviewing the change. */
import type { Dialect } from '../../src/compiler/sql/dialect.js';
import type { CompiledParameter } from '../../src/compiler/sql/compiled-query.js';

export const sql = {
  postgres: `SELECT * FROM (
SELECT e.user_id, e.region, e.event_ts, count(*) AS n
FROM "raw"."events_v1" e JOIN "raw"."users" u USING (user_id)
GROUP BY 1, 2, 3 -- daily
) AS "__trellis_t"
WHERE "__trellis_t"."event_ts" <= $1 AND "__trellis_t"."event_ts" > $2`,
  duckdb: `SELECT * FROM (
SELECT e.user_id, e.region, e.event_ts, count(*) AS n
FROM "raw"."events_v1" e JOIN "raw"."users" u USING (user_id)
GROUP BY 1, 2, 3 -- daily
) AS "__trellis_t"
WHERE "__trellis_t"."event_ts" <= $1 AND "__trellis_t"."event_ts" > $2`,
  snowflake: `SELECT * FROM (
SELECT e.user_id, e.region, e.event_ts, count(*) AS n
FROM "raw"."events_v1" e JOIN "raw"."users" u USING (user_id)
GROUP BY 1, 2, 3 -- daily
) AS "__trellis_t"
WHERE "__trellis_t"."event_ts" <= ? AND "__trellis_t"."event_ts" > ?`,
  bigquery: `SELECT * FROM (
SELECT e.user_id, e.region, e.event_ts, count(*) AS n
FROM \`raw\`.\`events_v1\` e JOIN \`raw\`.\`users\` u USING (user_id)
GROUP BY 1, 2, 3 -- daily
) AS \`__trellis_t\`
WHERE \`__trellis_t\`.\`event_ts\` <= @p1 AND \`__trellis_t\`.\`event_ts\` > @p2`,
} satisfies Record<Dialect, string>;

export const parameters = {
  postgres: [new Date('2024-06-01T00:00:00.000Z'), new Date('2024-05-31T00:00:00.000Z')],
  duckdb: [new Date('2024-06-01T00:00:00.000Z'), new Date('2024-05-31T00:00:00.000Z')],
  snowflake: [new Date('2024-06-01T00:00:00.000Z'), new Date('2024-05-31T00:00:00.000Z')],
  bigquery: [new Date('2024-06-01T00:00:00.000Z'), new Date('2024-05-31T00:00:00.000Z')],
} satisfies Record<Dialect, readonly CompiledParameter[]>;

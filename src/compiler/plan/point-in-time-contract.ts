/**
 * The point-in-time contract every dialect compiler meets exactly (ARCHITECTURE.md, "Point-in-time semantics").
 *
 * For a spine row (keys k, time t) and a value feature with TTL τ (optional) and lag λ (default 0), the value
 * comes from the source row r with `r.keys = k` (SQL equality: a null key component never matches),
 * `r.ts ≤ t − λ` and, with a TTL, `r.ts ≥ t − λ − τ` (both bounds inclusive), choosing
 *   1. the greatest `r.ts`, then
 *   2. the greatest created timestamp — a row with a created timestamp beats one without (NULL lowest), then
 *   3. the final tie-break: the greatest value — a non-null value beats NULL (NULL lowest), values compared
 *      with the engine's ordering of the value column's type.
 * Rows that still tie agree on timestamp, created timestamp and value, so the output is the same whichever
 * of them an engine picks: the result is fully deterministic without a hash or a row identity.
 * No matching row → NULL. A spine row with a null time matches nothing.
 *
 * Window aggregations at t with window w and lag λ cover `t − λ − w < r.ts ≤ t − λ` for the same keys; all
 * ties count; no rows → count 0, the other functions NULL (SQL null rules: nulls are ignored by sum/avg/min/max
 * and by `count(column)`).
 *
 * Every spine row appears exactly once (duplicates included). Where a compiled form needs row identity it
 * numbers the spine with `ROW_NUMBER()`; it never concatenates values.
 *
 * The value ordering in (3) requires an orderable value type (all scalar SQL types; not Postgres `json`).
 */
export const FINAL_TIE_BREAK =
  'event timestamp DESC, created timestamp DESC NULLS LAST, value DESC NULLS LAST' as const;

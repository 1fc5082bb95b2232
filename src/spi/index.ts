/**
 * The public adapter contract (`trellis/spi`): what an adapter plugin implements and registers. Plugins import
 * from here (or bundle their own copy: stores and registrations are recognised by their `kind` tags, not by
 * `instanceof`); the conformance suites that prove them are `trellis/testkit`.
 */
export * from './adapter-registration.js';
export * from './offline-store.js';
export * from './online-store.js';
export * from './stream-provider.js';
export * from './tile-store.js';
// An offline plugin compiles with the compiler of the dialect its warehouse speaks (a Postgres-wire warehouse: the
// Postgres compiler; subclass one to override a hook).
export { DefaultSqlCompiler, PostgresSqlCompiler, DuckDbSqlCompiler, SnowflakeSqlCompiler, BigQuerySqlCompiler } from '../compiler/index.js';

import type { RegistryDatabase } from './registry-database.js';

/**
 * One ordered list of migrations for both Postgres and PGlite. Append only; never edit an applied one.
 * Lineage edges point from the upstream resource (`from`) to the resource that references it (`to`).
 */
export const migrations: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'resource model, lineage, runs, keys, audit',
    sql: `
      create table resources (
        seq bigserial unique,
        kind text not null,
        name text not null,
        variant text not null,
        definition jsonb not null,
        definition_hash text not null,
        owner text not null default '',
        description text not null default '',
        tags text[] not null default '{}',
        properties jsonb not null default '{}',
        status text not null,
        status_message text,
        search tsvector not null default ''::tsvector,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        primary key (kind, name, variant)
      );
      create index resources_search_idx on resources using gin (search);
      create index resources_tags_idx on resources using gin (tags);
      create index resources_owner_idx on resources (owner);
      create table lineage_edges (
        from_kind text not null, from_name text not null, from_variant text not null,
        to_kind text not null, to_name text not null, to_variant text not null,
        primary key (from_kind, from_name, from_variant, to_kind, to_name, to_variant)
      );
      create index lineage_edges_to_idx on lineage_edges (to_kind, to_name, to_variant);
      create table runs (
        id bigserial primary key,
        kind text not null, name text not null, variant text not null,
        task text not null,
        status text not null,
        attempts integer not null default 0,
        max_attempts integer not null default 3,
        not_before timestamptz not null default now(),
        lease_owner text,
        lease_expires_at timestamptz,
        depends_on bigint[] not null default '{}',
        params jsonb not null default '{}',
        rows_read bigint,
        rows_written bigint,
        error text,
        logs jsonb not null default '[]',
        created_at timestamptz not null default now(),
        started_at timestamptz,
        finished_at timestamptz
      );
      create index runs_resource_idx on runs (kind, name, variant, created_at desc);
      create index runs_pending_idx on runs (status, not_before) where status in ('PENDING', 'RUNNING');
      create table api_keys (
        id text primary key,
        name text not null,
        hash text not null unique,
        scopes text[] not null,
        patterns text[] not null default '{}',
        created_at timestamptz not null default now(),
        revoked_at timestamptz
      );
      create table audit_log (
        id bigserial primary key,
        at timestamptz not null default now(),
        actor text not null,
        action text not null,
        kind text, name text, variant text,
        before_hash text, after_hash text,
        detail jsonb not null default '{}'
      );
    `,
  },
];

export async function migrate(db: RegistryDatabase): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query(`create table if not exists trellis_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`);
    // Serialise concurrent start-ups of several replicas against one database.
    await tx.query(`select pg_advisory_xact_lock(7310001)`);
    const done = new Set((await tx.query<{ version: number }>('select version from trellis_migrations')).rows.map((r) => r.version));
    let applied = 0;
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('insert into trellis_migrations (version, name) values ($1, $2)', [m.version, m.name]);
      applied++;
    }
    return applied;
  });
}

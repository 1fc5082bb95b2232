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
  {
    version: 3,
    name: 'coordinator: run status machine, one running run per task, schedule ticks',
    sql: `
      alter table runs add column watermark text;
      alter table runs add column cancel_requested boolean not null default false;
      alter table runs add column triggered_by text not null default 'manual';
      alter table runs add constraint runs_status_check
        check (status in ('CREATED', 'PENDING', 'RUNNING', 'READY', 'FAILED', 'CANCELLED'));
      alter table runs add constraint runs_attempts_check check (attempts >= 0 and max_attempts >= 1);
      -- At most one run of a (resource, task) executes at a time, whatever the number of replicas.
      create unique index runs_one_running_idx on runs (kind, name, variant, task) where status = 'RUNNING';
      create index runs_open_key_idx on runs (kind, name, variant, task, id) where status in ('CREATED', 'PENDING');
      create index runs_waiting_idx on runs (id) where status = 'CREATED';
      create index runs_depends_on_idx on runs using gin (depends_on);
      create index runs_status_id_idx on runs (status, id);
      create index runs_queue_idx on runs (not_before, id) where status = 'PENDING';
      create index runs_leases_idx on runs (lease_expires_at) where status = 'RUNNING';
      -- The legal status transitions (see src/coordinator/run-types.ts); anything else is refused here.
      create function trellis_runs_status_guard() returns trigger language plpgsql as $guard$
      begin
        if tg_op = 'INSERT' then
          if new.status not in ('CREATED', 'PENDING') then
            raise exception 'a run starts CREATED or PENDING, not %', new.status using errcode = '23514';
          end if;
          return new;
        end if;
        if new.status = old.status and old.status <> 'RUNNING' then
          return new;
        end if;
        if (old.status = 'CREATED' and new.status in ('PENDING', 'CANCELLED'))
          or (old.status = 'PENDING' and new.status in ('RUNNING', 'CANCELLED'))
          or (old.status = 'RUNNING' and new.status in ('RUNNING', 'READY', 'FAILED', 'CANCELLED', 'PENDING')) then
          return new;
        end if;
        raise exception 'illegal run status transition % -> % (run %)', old.status, new.status, old.id using errcode = '23514';
      end
      $guard$;
      create trigger runs_status_guard before insert or update of status on runs
        for each row execute function trellis_runs_status_guard();
      -- Cron ticks already fired: a replica fires a tick only if it inserts its row first.
      create table run_schedule_ticks (
        kind text not null, name text not null, variant text not null, task text not null,
        tick timestamptz not null,
        run_id bigint references runs (id) on delete set null,
        fired_by text not null,
        fired_at timestamptz not null default now(),
        primary key (kind, name, variant, task, tick)
      );
    `,
  },
  {
    version: 2,
    name: 'discovery: default-variant flag, search vector kept current on metadata changes',
    sql: `
      -- The default variant of a name is its latest created one. Search filters on it for every hit, so it is
      -- kept as a flag: superseded marks the variants that have a newer one. A new variant is never superseded (the
      -- default is right), so inserts only touch the older variants of a name, once per statement.
      alter table resources add column superseded boolean not null default false;
      update resources r set superseded = exists (select 1 from resources d where d.kind = r.kind and d.name = r.name and d.seq > r.seq);
      create function trellis_resources_supersede() returns trigger language plpgsql as $fn$
      begin
        update resources r set superseded = true
        from (select kind, name, max(seq) as latest from inserted group by kind, name) i
        where r.kind = i.kind and r.name = i.name and r.seq < i.latest and not r.superseded;
        return null;
      end
      $fn$;
      create trigger resources_supersede after insert on resources
        referencing new table as inserted for each statement execute function trellis_resources_supersede();
      create function trellis_resources_unsupersede() returns trigger language plpgsql as $fn$
      begin
        update resources r set superseded = false
        from (select kind, name from removed group by kind, name) g
        where r.kind = g.kind and r.name = g.name and r.superseded
          and r.seq = (select max(x.seq) from resources x where x.kind = g.kind and x.name = g.name);
        return null;
      end
      $fn$;
      create trigger resources_unsupersede after delete on resources
        referencing old table as removed for each statement execute function trellis_resources_unsupersede();
      -- Re-applying a variant merges owner, description and tags; the search vector (filled on insert, same
      -- weights as Registry#insert) follows them.
      create function trellis_resources_search_vector() returns trigger language plpgsql as $fn$
      begin
        new.search :=
          setweight(to_tsvector('simple', new.name || ' ' || replace(new.name, '_', ' ')), 'A') ||
          setweight(to_tsvector('english', new.description), 'B') ||
          setweight(to_tsvector('simple', array_to_string(new.tags, ' ')), 'C') ||
          setweight(to_tsvector('simple', new.owner || ' ' || new.kind), 'D');
        return new;
      end
      $fn$;
      create trigger resources_search_vector before update of owner, description, tags on resources
        for each row
        when (old.owner is distinct from new.owner or old.description is distinct from new.description or old.tags is distinct from new.tags)
        execute function trellis_resources_search_vector();
    `,
  },
  {
    version: 4,
    name: 'discovery: notify on every change to resources or lineage edges (GraphQL result cache)',
    sql: `
      -- Any statement that changes resources (applies, metadata merges, status updates, deletes) or lineage edges
      -- notifies once per transaction (identical notifications are folded at commit); discovery caches listen.
      create function trellis_discovery_changed() returns trigger language plpgsql as $fn$
      begin
        perform pg_notify('trellis_discovery', '');
        return null;
      end
      $fn$;
      create trigger resources_discovery_changed after insert or update or delete or truncate on resources
        for each statement execute function trellis_discovery_changed();
      create trigger lineage_edges_discovery_changed after insert or update or delete or truncate on lineage_edges
        for each statement execute function trellis_discovery_changed();
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

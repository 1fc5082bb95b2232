import { createHash, randomBytes } from 'node:crypto';
import { TrellisError } from '../errors/trellis-error.js';
import type { RegistryDatabase } from '../registry/registry-database.js';

export const scopes = ['read', 'write', 'serve', 'admin'] as const;
export type Scope = (typeof scopes)[number];

/** What each scope grants: `admin` implies everything, `write` implies `read`. */
const implied = {
  read: ['read'],
  write: ['write', 'read'],
  serve: ['serve'],
  admin: ['admin', 'write', 'read', 'serve'],
} as const satisfies Record<Scope, readonly Scope[]>;

export interface Principal {
  readonly keyId: string;
  readonly name: string;
  readonly scopes: Scope[];
  /** Resource-name glob patterns (`fraud_*`); empty = all names. */
  readonly patterns: string[];
}

export interface ApiKeyInfo extends Principal {
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

const KEY_PATTERN = /^trl_([a-z0-9]{8})_([A-Za-z0-9_-]{32,})$/;
const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.some((s) => (implied[s] as readonly Scope[]).includes(scope));
}

export function allowsName(principal: Principal, name: string): boolean {
  if (principal.patterns.length === 0) return true;
  return principal.patterns.some((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(name));
}

/**
 * API keys, stored as SHA-256 hashes (keys are 190-bit random, so a slow hash adds nothing). Verified keys
 * are cached briefly so the serving path does not query the registry per request.
 */
export class ApiKeyStore {
  readonly #db: RegistryDatabase;
  readonly #cache = new Map<string, { principal: Principal | null; until: number }>();
  readonly #cacheMs: number;

  constructor(db: RegistryDatabase, options: { cacheMs?: number } = {}) {
    this.#db = db;
    this.#cacheMs = options.cacheMs ?? 10_000;
  }

  static generate(): { id: string; key: string } {
    const id = randomBytes(5).toString('hex').slice(0, 8);
    return { id, key: `trl_${id}_${randomBytes(24).toString('base64url')}` };
  }

  async create(input: { name: string; scopes: readonly Scope[]; patterns?: readonly string[]; key?: string }): Promise<{ key: string; info: ApiKeyInfo }> {
    const generated = input.key ? null : ApiKeyStore.generate();
    const key = input.key ?? generated!.key;
    const match = KEY_PATTERN.exec(key);
    if (!match) throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/key', reason: 'keys look like trl_<8 chars>_<32+ chars>' }, { details: { pointer: '/key' } });
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `insert into api_keys (id, name, hash, scopes, patterns) values ($1, $2, $3, $4, $5)
       on conflict (id) do nothing returning id, name, scopes, patterns, created_at, revoked_at`,
      [match[1], input.name, hashKey(key), input.scopes, input.patterns ?? []],
    );
    if (!rows[0]) throw new TrellisError('TRELLIS_ERR_CONFLICT', { kind: 'api key', ref: match[1]! });
    return { key, info: toInfo(rows[0]) };
  }

  /** Ensures an admin key exists; returns a newly created key (to print once) or null when one exists. */
  async bootstrapAdmin(configured: string | null): Promise<string | null> {
    if (configured) {
      const { rows } = await this.#db.query('select 1 from api_keys where hash = $1', [hashKey(configured)]);
      if (rows.length > 0) return null;
      await this.create({ name: 'admin (configured)', scopes: ['admin'], key: configured });
      return null;
    }
    const { rows } = await this.#db.query(`select 1 from api_keys where 'admin' = any(scopes) and revoked_at is null limit 1`);
    if (rows.length > 0) return null;
    return (await this.create({ name: 'admin (generated)', scopes: ['admin'] })).key;
  }

  async verify(key: string): Promise<Principal | null> {
    const now = Date.now();
    const cached = this.#cache.get(key);
    if (cached && cached.until > now) return cached.principal;
    let principal: Principal | null = null;
    if (KEY_PATTERN.test(key)) {
      const { rows } = await this.#db.query<Record<string, unknown>>(
        'select id, name, scopes, patterns, created_at, revoked_at from api_keys where hash = $1 and revoked_at is null',
        [hashKey(key)],
      );
      principal = rows[0] ? toInfo(rows[0]) : null;
    }
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(key, { principal, until: now + this.#cacheMs });
    return principal;
  }

  async list(): Promise<ApiKeyInfo[]> {
    const { rows } = await this.#db.query<Record<string, unknown>>('select id, name, scopes, patterns, created_at, revoked_at from api_keys order by created_at, id');
    return rows.map(toInfo);
  }

  async revoke(id: string): Promise<void> {
    const { rows } = await this.#db.query('update api_keys set revoked_at = now() where id = $1 and revoked_at is null returning id', [id]);
    if (rows.length === 0) throw new TrellisError('TRELLIS_ERR_NOT_FOUND', { kind: 'api key', ref: id });
    this.#cache.clear();
  }
}

function toInfo(row: Record<string, unknown>): ApiKeyInfo {
  return {
    keyId: row.id as string,
    name: row.name as string,
    scopes: row.scopes as Scope[],
    patterns: row.patterns as string[],
    createdAt: new Date(row.created_at as string).toISOString(),
    revokedAt: row.revoked_at ? new Date(row.revoked_at as string).toISOString() : null,
  };
}

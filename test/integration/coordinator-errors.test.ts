import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/coordinator/retry-policy.js';
import { PermanentError, TransientError, classifyError, tagError } from '../../src/coordinator/task-errors.js';
import { TrellisError } from '../../src/errors/trellis-error.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

const withCode = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

describe('error classification', () => {
  it('honours explicit tags, also from another copy of the classes or tagged in place', () => {
    expect(classifyError(new TransientError('busy'))).toBe('transient');
    expect(classifyError(new PermanentError('bad'))).toBe('permanent');
    // A plugin bundling its own copy: same Symbol.for tag, different class.
    class ForeignPermanent extends Error {
      readonly [Symbol.for('trellis.task-error')] = 'permanent';
    }
    expect(classifyError(new ForeignPermanent('x'))).toBe('permanent');
    expect(classifyError(tagError(withCode('ECONNRESET'), 'permanent'))).toBe('permanent');
    expect(classifyError(new Error('wrapped', { cause: new PermanentError('inner') }))).toBe('permanent');
  });

  it.each([
    ['08006', 'transient'], ['08001', 'transient'], ['53300', 'transient'], ['53200', 'transient'], ['57P01', 'transient'], ['57P03', 'transient'],
    ['40001', 'transient'], ['40P01', 'transient'], ['55P03', 'transient'],
    ['42601', 'permanent'], ['42P01', 'permanent'], ['42703', 'permanent'], ['22012', 'permanent'], ['23505', 'permanent'], ['0A000', 'permanent'],
  ] as const)('classifies SQLSTATE %s as %s', (code, expected) => {
    expect(classifyError(withCode(code))).toBe(expected);
    expect(classifyError(new Error('driver failed', { cause: withCode(code) }))).toBe(expected);
  });

  it('classifies network errors, Trellis codes, retriable flags and driver messages', () => {
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE']) expect(classifyError(withCode(code))).toBe('transient');
    expect(classifyError(new AggregateError([withCode('ECONNREFUSED')], 'connect failed'))).toBe('transient');
    expect(classifyError(new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider: 'wh', reason: 'down' }))).toBe('transient');
    expect(classifyError(new TrellisError('TRELLIS_ERR_INVALID_DEFINITION', { pointer: '/', reason: 'x' }))).toBe('permanent');
    expect(classifyError(Object.assign(new Error('leader not available'), { retriable: true }))).toBe('transient');
    expect(classifyError(Object.assign(new Error('topic authorization failed'), { retriable: false }))).toBe('permanent');
    expect(classifyError(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(classifyError(new Error('Parser Error: syntax error at or near "frm"'))).toBe('permanent');
    expect(classifyError(new Error('Catalog Error: Table with name nope does not exist!'))).toBe('permanent');
    // Unknown errors are retried (at most max_attempts times).
    expect(classifyError(new Error('something odd'))).toBe('transient');
    expect(classifyError('a string')).toBe('transient');
  });

  it('computes exponential, capped, jittered backoff', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1_000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6].map((a) => retryDelayMs(a, policy))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    const jittered = { ...policy, jitter: 0.5 };
    expect(retryDelayMs(3, jittered, () => 0)).toBe(400);
    expect(retryDelayMs(3, jittered, () => 1)).toBe(200);
    for (let i = 0; i < 100; i++) {
      const d = retryDelayMs(2, jittered);
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(200);
    }
  });

  describe('real Postgres errors', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase('coord_err');
    });
    afterAll(async () => {
      await database?.drop();
    });

    it('a syntax error and a missing table are permanent; a refused connection and a terminated backend are transient', async () => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const syntax = await client.query('selec 1').catch((e: unknown) => e);
        expect(classifyError(syntax)).toBe('permanent');
        const missing = await client.query('select * from no_such_table').catch((e: unknown) => e);
        expect(classifyError(missing)).toBe('permanent');
      } finally {
        await client.end();
      }

      const refusedUrl = new URL(database.url);
      refusedUrl.port = '1';
      const refused = await new pg.Client({ connectionString: refusedUrl.toString(), connectionTimeoutMillis: 2_000 }).connect().catch((e: unknown) => e);
      expect(classifyError(refused)).toBe('transient');

      const victim = new pg.Client({ connectionString: database.url });
      victim.on('error', () => {});
      await victim.connect();
      const pid = (await victim.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const sleeping = victim.query('select pg_sleep(30)').catch((e: unknown) => e);
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        for (let i = 0; i < 100; i++) {
          const { rows } = await admin.query(`select 1 from pg_stat_activity where pid = $1 and query like '%pg_sleep%'`, [pid]);
          if (rows.length > 0) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        await admin.query('select pg_terminate_backend($1)', [pid]);
      } finally {
        await admin.end();
      }
      const terminated = await sleeping;
      expect((terminated as { code?: string }).code).toBe('57P01');
      expect(classifyError(terminated)).toBe('transient');
      const afterwards = await victim.query('select 1').catch((e: unknown) => e);
      expect(classifyError(afterwards)).toBe('transient');
      await victim.end().catch(() => {});
    });
  });
});

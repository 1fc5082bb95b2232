import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCatalogue } from '../../src/errors/error-catalogue.js';
import { TrellisError, isTrellisError } from '../../src/errors/trellis-error.js';
import { loadConfig } from '../../src/config/load-config.js';

describe('error catalogue', () => {
  const doc = readFileSync('docs/errors.md', 'utf8');

  it.each(Object.entries(errorCatalogue))('%s is documented with its HTTP status', (code, { status }) => {
    expect(doc).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\|`));
  });

  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/`(TRELLIS_ERR_[A-Z_]+)`/g)].map((m) => m[1]);
    expect(documented.filter((c) => !(c! in errorCatalogue))).toEqual([]);
  });

  it('fills message templates and is recognised without instanceof', () => {
    const error = new TrellisError('TRELLIS_ERR_NOT_FOUND', { kind: 'feature', ref: 'x@v1' });
    expect(error.message).toBe('feature x@v1 not found');
    expect(error.status).toBe(404);
    expect(isTrellisError(error)).toBe(true);
    expect(isTrellisError({ code: 'TRELLIS_ERR_NOT_FOUND', message: 'look-alike' })).toBe(false);
  });
});

describe('config', () => {
  it('applies defaults and environment variables, and freezes the result', () => {
    const config = loadConfig({}, { TRELLIS_PORT: '9999', TRELLIS_SERVING_TIMEOUT_MS: '250' });
    expect(config.port).toBe(9999);
    expect(config.serving.timeoutMs).toBe(250);
    expect(config.serving.maxEntities).toBe(1000);
    expect(Object.isFrozen(config.serving)).toBe(true);
  });

  it('fails with one coded error naming the bad key', () => {
    try {
      loadConfig({}, { TRELLIS_SERVING_TIMEOUT_MS: 'soon' });
      expect.unreachable();
    } catch (error) {
      expect(isTrellisError(error) && error.code).toBe('TRELLIS_ERR_CONFIG_INVALID');
      expect((error as TrellisError).details).toEqual({ key: 'serving.timeoutMs' });
    }
    expect(() => loadConfig({ colour: 'red' }, {})).toThrow(/colour|root/);
  });
});

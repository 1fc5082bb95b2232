import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TrellisError } from '../errors/trellis-error.js';
import type { AdapterCatalogue, AdapterRegistration } from './adapter-registration.js';

const isRegistration = (value: unknown): value is AdapterRegistration =>
  typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'trellis.adapter';

/**
 * Where a plugin specifier points: a path (`./x.js`, `/opt/x.js`, `file:` URL) is taken relative to `baseDir`; a
 * package name is resolved from `baseDir`'s node_modules first (the deployment's own packages), then from Trellis's.
 */
function moduleUrl(specifier: string, baseDir: string): string {
  if (specifier.startsWith('file:')) return specifier;
  if (specifier.startsWith('.') || path.isAbsolute(specifier)) return pathToFileURL(path.resolve(baseDir, specifier)).href;
  try {
    return pathToFileURL(createRequire(path.join(baseDir, 'package.json')).resolve(specifier)).href;
  } catch {
    return specifier; // an ESM-only package (no require condition) or one installed beside Trellis: import() resolves it
  }
}

/**
 * Imports adapter plugin modules (config `adapters`, env `TRELLIS_ADAPTERS`) and registers every
 * {@link AdapterRegistration} they export — the default export (one registration or an array) and any named export
 * tagged `kind: 'trellis.adapter'` — in `catalogue`, in order, before the registry opens. A module that cannot be
 * imported, exports no registration, or whose registration the catalogue refuses (an id already taken, a role
 * without its factory) fails the start-up with TRELLIS_ERR_CONFIG_INVALID at `adapters.<i>`.
 */
export async function loadAdapterPlugins(catalogue: AdapterCatalogue, specifiers: readonly string[], baseDir = process.cwd()): Promise<string[]> {
  const loaded: string[] = [];
  for (const [i, specifier] of specifiers.entries()) {
    const fail = (reason: string): never => {
      throw new TrellisError('TRELLIS_ERR_CONFIG_INVALID', { key: `adapters.${i}`, reason: `adapter plugin ${specifier}: ${reason}` }, { details: { key: `adapters.${i}` } });
    };
    let exported: Record<string, unknown>;
    try {
      exported = (await import(moduleUrl(specifier, baseDir))) as Record<string, unknown>;
    } catch (error) {
      return fail(`cannot be imported: ${(error as Error)?.message ?? String(error)}`);
    }
    const found = new Set<AdapterRegistration>();
    for (const value of Object.values(exported)) {
      for (const candidate of Array.isArray(value) ? value : [value]) if (isRegistration(candidate)) found.add(candidate);
    }
    if (found.size === 0) fail("exports no adapter registration (an object with kind: 'trellis.adapter', as the default export or a named one)");
    for (const registration of found) {
      try {
        catalogue.register(registration, specifier);
      } catch (error) {
        fail((error as Error).message);
      }
      loaded.push(registration.id);
    }
  }
  return loaded;
}

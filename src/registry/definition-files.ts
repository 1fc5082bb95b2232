import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { invalidDefinition } from '../errors/trellis-error.js';

/**
 * Reads definitions from a file or a directory of `.yaml`, `.yml` and `.json` files (sorted by name).
 * Each file holds `{ resources: [...] }`; the result is the concatenated list, in file order.
 */
export async function readDefinitionFiles(target: string): Promise<{ resources: unknown[]; files: string[] }> {
  const info = await stat(target);
  const files = info.isDirectory()
    ? (await readdir(target)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => path.join(target, f))
    : [target];
  const resources: unknown[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    let doc: unknown;
    try {
      doc = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
    } catch (error) {
      throw invalidDefinition(file, `cannot parse: ${(error as Error).message}`);
    }
    const list = (doc as { resources?: unknown } | null)?.resources;
    if (!Array.isArray(list)) throw invalidDefinition(`${file}#/resources`, 'expected a list of resources');
    resources.push(...list);
  }
  return { resources, files };
}

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderArtifacts } from './artifacts.js';

// Regenerates the committed files derived from code (OpenAPI, definitions JSON Schema). Run: npm run gen
const root = path.resolve(import.meta.dirname, '..', '..');
for (const artifact of await renderArtifacts()) {
  const target = path.join(root, artifact.path);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, artifact.content);
  console.log(`wrote ${artifact.path}`);
}

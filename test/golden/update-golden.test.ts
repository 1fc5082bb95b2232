import { writeFileSync } from 'node:fs';
import { it } from 'vitest';
import { createSqlCompiler } from '../../src/compiler/sql/create-sql-compiler.js';
import { DIALECTS } from '../../src/compiler/sql/dialect.js';
import { goldenPlans } from './golden-specs.js';

/**
 * Rewrites the `*.golden.ts` files from the current compilers. Runs only with TRELLIS_UPDATE_GOLDEN=1:
 *   TRELLIS_UPDATE_GOLDEN=1 npx vitest run test/golden/update-golden.test.ts
 * Review the diff before committing it.
 */
it.skipIf(process.env.TRELLIS_UPDATE_GOLDEN !== '1')('rewrites the golden SQL files', () => {
  for (const [name, plan] of Object.entries(goldenPlans)) {
    const lines = [
      `/** Golden SQL for the \`${name}\` plan of golden-specs.ts. Regenerate only after reviewing the change. */`,
      "import type { Dialect } from '../../src/compiler/sql/dialect.js';",
      "import type { CompiledParameter } from '../../src/compiler/sql/compiled-query.js';",
      '',
      'export const sql = {',
    ];
    const params: string[] = [];
    for (const dialect of DIALECTS) {
      const compiled = createSqlCompiler(dialect).compile(plan);
      lines.push(`  ${dialect}: \`${compiled.sql.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${')}\`,`);
      params.push(`  ${dialect}: [${compiled.parameters.map((p) => (p instanceof Date ? `new Date('${p.toISOString()}')` : JSON.stringify(p))).join(', ')}],`);
    }
    lines.push('} satisfies Record<Dialect, string>;', '', 'export const parameters = {', ...params, '} satisfies Record<Dialect, readonly CompiledParameter[]>;', '');
    writeFileSync(new URL(`./${name}.golden.ts`, import.meta.url), lines.join('\n'));
  }
});

import type { ApplyPlan } from '../registry/registry.js';

const symbols = { create: '+', unchanged: '=', conflict: '!' } as const;

/** Renders an apply plan for a terminal: one line per resource, field diffs under conflicts. */
export function formatPlan(plan: ApplyPlan): string {
  const lines: string[] = [];
  for (const a of plan.actions) {
    lines.push(`  ${symbols[a.action]} ${a.action.padEnd(9)} ${a.kind} ${a.name}@${a.variant}`);
    for (const d of a.diff ?? []) {
      lines.push(`      ${d.field}: ${JSON.stringify(d.existing) ?? '(absent)'} → ${JSON.stringify(d.proposed) ?? '(absent)'}`);
    }
  }
  const count = (k: string) => plan.actions.filter((a) => a.action === k).length;
  const verb = plan.applied ? 'applied' : plan.dryRun ? 'planned (dry run, nothing changed)' : 'not applied';
  lines.push(`${count('create')} to create, ${count('unchanged')} unchanged, ${count('conflict')} in conflict, ${plan.edges.length} lineage edge(s) — ${verb}`);
  return lines.join('\n');
}

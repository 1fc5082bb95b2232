import { UnreachableError, callTrellis, type RemoteOptions } from './rest-client.js';

export interface MaterializeOptions extends RemoteOptions {
  /** Ignore the previous watermark (late data, a wiped online store). */
  readonly full: boolean;
  /** Poll period, ms (default 500). */
  readonly pollMs?: number;
}

interface RunView {
  id: number;
  status: string;
  attempts: number;
  rowsRead: number | null;
  rowsWritten: number | null;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  logs?: { at: string; level: string; message: string }[];
}

const TERMINAL = new Set(['READY', 'FAILED', 'CANCELLED']);

/** `name` or `name@variant`; without a variant, the feature's default variant (asked from the server). */
export async function resolveVariant(remote: RemoteOptions, kind: string, ref: string): Promise<{ name: string; variant: string } | { error: string; status: number }> {
  const [name, variant] = ref.split('@') as [string, string | undefined];
  if (variant) return { name, variant };
  const res = await callTrellis(remote, 'GET', `/v1/${kind}/${encodeURIComponent(name)}`);
  if (res.status !== 200) return { error: `${res.body?.error?.code ?? res.status}: ${res.body?.error?.message ?? JSON.stringify(res.body)}`, status: res.status };
  return { name, variant: String(res.body.defaultVariant) };
}

/**
 * `trellis materialize <feature[@variant]> [--full]`: queues a materialization run over REST and follows it to the
 * end, with a progress line (status, elapsed time, the task's latest progress log with its rate). Exit code 0 when
 * the run ends READY, 1 when it fails or is cancelled, 2 for bad usage, 3 when the server is unreachable.
 */
export async function runMaterialize(ref: string, options: MaterializeOptions): Promise<number> {
  try {
    const id = await resolveVariant(options, 'feature', ref);
    if ('error' in id) {
      console.error(id.error);
      return id.status === 404 || id.status === 400 ? 1 : 3;
    }
    const triggered = await callTrellis(options, 'POST', `/v1/feature/${id.name}/${id.variant}/runs`, { params: options.full ? { full: true } : {} });
    if (triggered.status !== 202) {
      console.error(`${triggered.body?.error?.code ?? triggered.status}: ${triggered.body?.error?.message ?? JSON.stringify(triggered.body)}`);
      return triggered.status >= 500 ? 3 : 1;
    }
    const runId = triggered.body.run.id as number;
    console.error(`materialization of ${id.name}@${id.variant}: run ${runId}${triggered.body.coalesced ? ' (joined a queued run)' : ''}`);
    const started = Date.now();
    const tty = process.stderr.isTTY === true;
    let lastLine = '';
    for (;;) {
      const res = await callTrellis(options, 'GET', `/v1/runs/${runId}`);
      if (res.status !== 200) {
        console.error(`${res.body?.error?.code ?? res.status}: ${res.body?.error?.message ?? ''}`);
        return 3;
      }
      const run = res.body as RunView;
      const progress = [...(run.logs ?? [])].reverse().find((l) => l.message.startsWith('progress'))?.message;
      const line = `  ${run.status.padEnd(9)} ${((Date.now() - started) / 1000).toFixed(1)}s${run.attempts > 1 ? ` attempt ${run.attempts}` : ''}${progress ? `  ${progress}` : ''}`;
      if (tty) process.stderr.write(`\r${line.padEnd(lastLine.length)}`);
      else if (line !== lastLine) process.stderr.write(`${line}\n`);
      lastLine = line;
      if (TERMINAL.has(run.status)) {
        if (tty) process.stderr.write('\n');
        const seconds = run.startedAt && run.finishedAt ? (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000 : (Date.now() - started) / 1000;
        const rate = run.rowsRead !== null && seconds > 0 ? ` (${Math.round(run.rowsRead / seconds)} rows/s)` : '';
        for (const l of run.logs ?? []) if (l.level !== 'info') console.error(`  ${l.level}: ${l.message}`);
        if (run.status === 'READY') {
          console.log(`READY in ${seconds.toFixed(1)}s: ${run.rowsRead ?? 0} rows read, ${run.rowsWritten ?? 0} written${rate}`);
          return 0;
        }
        console.error(`${run.status}${run.error ? `: ${run.error}` : ''}`);
        return 1;
      }
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
    }
  } catch (error) {
    if (error instanceof UnreachableError) {
      console.error(error.message);
      return 3;
    }
    throw error;
  }
}

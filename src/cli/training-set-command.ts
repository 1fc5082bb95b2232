import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { resolveVariant } from './materialize-command.js';
import { UnreachableError, type RemoteOptions } from './rest-client.js';

export interface ExportOptions extends RemoteOptions {
  readonly format: 'csv' | 'ndjson';
  /** File to write; stdout when absent. */
  readonly out: string | undefined;
}

/**
 * `trellis training-set export <name[@variant]> [--format csv|ndjson] [--out file]`: streams a built training set
 * from `GET /v1/training_set/{name}/{variant}/data` to a file or stdout, with a progress line (rows, rows/s) on
 * stderr. Exit code 0 ok, 1 unknown or not built yet, 2 usage, 3 server unreachable or the stream broke.
 */
export async function runTrainingSetExport(ref: string, options: ExportOptions): Promise<number> {
  let id: { name: string; variant: string };
  try {
    const resolved = await resolveVariant(options, 'training_set', ref);
    if ('error' in resolved) {
      console.error(resolved.error);
      return resolved.status === 404 || resolved.status === 400 ? 1 : 3;
    }
    id = resolved;
  } catch (error) {
    if (error instanceof UnreachableError) {
      console.error(error.message);
      return 3;
    }
    throw error;
  }
  let res: Response;
  try {
    res = await fetch(new URL(`/v1/training_set/${id.name}/${id.variant}/data?format=${options.format}`, options.url), {
      headers: options.key ? { authorization: `Bearer ${options.key}` } : {},
    });
  } catch (error) {
    console.error(`cannot reach Trellis at ${options.url}: ${String((error as Error).cause ?? (error as Error).message)}`);
    return 3;
  }
  if (res.status !== 200 || !res.body) {
    const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    console.error(`${body?.error?.code ?? res.status}: ${body?.error?.message ?? res.statusText}`);
    return res.status === 404 || res.status === 400 || res.status === 403 ? 1 : 3;
  }
  const out: Writable = options.out ? createWriteStream(options.out) : process.stdout;
  const started = performance.now();
  let rows = options.format === 'csv' ? -1 : 0; // the CSV header is not a row
  let bytes = 0;
  let lastReport = started;
  const tty = process.stderr.isTTY === true;
  const report = (final: boolean) => {
    const seconds = (performance.now() - started) / 1000;
    const line = `  ${Math.max(rows, 0).toLocaleString('en')} rows, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)}s (${Math.round(Math.max(rows, 0) / Math.max(seconds, 1e-3)).toLocaleString('en')} rows/s)`;
    if (tty && !final) process.stderr.write(`\r${line}`);
    else if (final || !tty) process.stderr.write(`${tty ? '\r' : ''}${line}\n`);
  };
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) rows++;
      if (!out.write(chunk)) await once(out, 'drain');
      const now = performance.now();
      if (now - lastReport > (tty ? 250 : 2_000)) {
        lastReport = now;
        report(false);
      }
    }
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EPIPE') return 0; // e.g. `| head`: the reader had enough
    console.error(`the stream broke: ${(error as Error).message}`);
    return 3;
  } finally {
    if (options.out) {
      out.end();
      await once(out, 'finish').catch(() => {});
    }
  }
  report(true);
  if (options.out) console.error(`wrote ${id.name}@${id.variant} to ${options.out}`);
  return 0;
}

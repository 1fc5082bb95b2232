#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runApply } from './apply-command.js';
import { runDemo } from './demo-command.js';
import { runKeys } from './keys-command.js';
import { runMaterialize } from './materialize-command.js';
import { runTrainingSetExport } from './training-set-command.js';
import { runServe } from './serve-command.js';

/** Exit codes: 0 ok, 1 conflict or invalid definitions, 2 usage, 3 server unreachable or failed. */
export const EXIT = { ok: 0, rejected: 1, usage: 2, unavailable: 3 } as const;

const usage = `Usage: trellis <command> [options]

Commands:
  demo                         Start the embedded demo: seed data, apply definitions/examples, serve
  serve                        Start the server (config from TRELLIS_* environment variables)
  apply <path> [--dry-run] [--no-verify]
                               Apply a definitions file or directory through the REST API; --no-verify skips
                               checking that source tables and columns exist in their warehouse
  plan <path> [--no-verify]    Same as apply --dry-run
  keys create --name N --scopes read,serve [--patterns fraud_*]
  materialize <feature[@variant]> [--full]
                               Run a materialization and follow it (progress, rows/s); exit 1 if it fails
  training-set export <name[@variant]> [--format csv|ndjson] [--out file]
                               Stream a built training set to a file or stdout

Options for apply/plan/keys/materialize/training-set:
  --url URL     Trellis base URL (default $TRELLIS_URL or http://127.0.0.1:8080)
  --key KEY     API key (default $TRELLIS_API_KEY)

Exit codes: 0 ok, 1 conflict or invalid definitions (or a failed run, an unbuilt training set), 2 usage, 3 server unreachable`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        'dry-run': { type: 'boolean', default: false },
        'no-verify': { type: 'boolean', default: false },
        url: { type: 'string', default: process.env.TRELLIS_URL ?? 'http://127.0.0.1:8080' },
        key: { type: 'string', default: process.env.TRELLIS_API_KEY },
        name: { type: 'string' },
        scopes: { type: 'string' },
        patterns: { type: 'string' },
        full: { type: 'boolean', default: false },
        format: { type: 'string', default: 'ndjson' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.help || !command || command === 'help') {
    console.log(usage);
    return command ? EXIT.ok : EXIT.usage;
  }
  const remote = { url: values.url!, key: values.key };
  switch (command) {
    case 'serve':
      return runServe();
    case 'demo':
      return runDemo();
    case 'apply':
    case 'plan':
      if (positionals.length !== 1) {
        console.error(`${command} needs exactly one path\n\n${usage}`);
        return EXIT.usage;
      }
      return runApply(positionals[0]!, { ...remote, dryRun: command === 'plan' || values['dry-run'] === true, verify: values['no-verify'] !== true });
    case 'materialize':
      if (positionals.length !== 1) {
        console.error(`materialize needs exactly one feature\n\n${usage}`);
        return EXIT.usage;
      }
      return runMaterialize(positionals[0]!, { ...remote, full: values.full === true });
    case 'training-set':
      if (positionals[0] !== 'export' || positionals.length !== 2 || (values.format !== 'csv' && values.format !== 'ndjson')) {
        console.error(`usage: trellis training-set export <name[@variant]> [--format csv|ndjson] [--out file]\n\n${usage}`);
        return EXIT.usage;
      }
      return runTrainingSetExport(positionals[1]!, { ...remote, format: values.format, out: values.out });
    case 'keys':
      return runKeys(positionals, { ...remote, name: values.name, scopes: values.scopes, patterns: values.patterns });
    default:
      console.error(`unknown command ${command}\n\n${usage}`);
      return EXIT.usage;
  }
}

process.exitCode = await main(process.argv.slice(2));

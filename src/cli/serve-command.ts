import { isTrellisError } from '../errors/trellis-error.js';
import { loadConfig } from '../config/load-config.js';
import { openTrellis, type Trellis } from '../trellis.js';

/** Stops the server on SIGINT/SIGTERM, letting in-flight requests finish. */
export function closeOnSignals(trellis: Trellis): void {
  const stop = async (signal: string) => {
    trellis.app.log.info({ signal }, 'shutting down');
    await trellis.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

export async function runServe(): Promise<number> {
  let trellis: Trellis;
  try {
    trellis = await openTrellis(loadConfig());
  } catch (error) {
    console.error(isTrellisError(error) ? `${error.code}: ${error.message}` : error);
    return 1;
  }
  const config = loadConfig();
  await trellis.app.listen({ host: config.host, port: config.port });
  if (trellis.generatedAdminKey) {
    console.log(`\nAdmin API key (shown once, store it now): ${trellis.generatedAdminKey}\n`);
  }
  closeOnSignals(trellis);
  return 0;
}

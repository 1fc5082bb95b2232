/** Minimal JSON client for the CLI commands that talk to a running Trellis. */
export interface RemoteOptions {
  readonly url: string;
  readonly key: string | undefined;
}

export interface RemoteResponse {
  readonly status: number;
  readonly body: any;
}

export class UnreachableError extends Error {}

export async function callTrellis(remote: RemoteOptions, method: string, path: string, body?: unknown): Promise<RemoteResponse> {
  let res: Response;
  try {
    res = await fetch(new URL(path, remote.url), {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(remote.key ? { authorization: `Bearer ${remote.key}` } : {}),
      },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (error) {
    throw new UnreachableError(`cannot reach Trellis at ${remote.url}: ${(error as Error).cause ?? (error as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

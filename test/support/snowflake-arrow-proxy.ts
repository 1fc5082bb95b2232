/**
 * A test-side HTTP proxy between snowflake-sdk and fakesnow's server mode.
 *
 * Why: snowflake-sdk 3.3.0 reads result rows only from the JSON `rowset` of a query response
 * (`dist/lib/connection/result/result.js` → `createChunks(data.chunks, data.rowset, …)`), while fakesnow
 * (`fakesnow/server.py`) answers every SELECT with Arrow IPC in `rowsetBase64` and no `rowset`. The proxy
 * forwards every request unchanged and rewrites each query response's Arrow batches into the JSON result
 * format real Snowflake sends (`queryResultFormat: "json"`, `rowset` of strings, `version` 1), using the
 * response's own `rowtype`:
 *
 * | rowtype                          | Arrow from fakesnow               | JSON cell                           |
 * |----------------------------------|-----------------------------------|-------------------------------------|
 * | fixed (scale s)                  | Int8…Int64, Decimal128            | decimal string, s fraction digits   |
 * | real                             | Float64                           | number as string                    |
 * | text / variant / object / array  | Utf8                              | the string                          |
 * | boolean                          | Bool                              | `"1"` / `"0"`                       |
 * | date                             | Date32 (days)                     | days since epoch                    |
 * | time                             | Int64 (ns)                        | seconds with 9 fraction digits      |
 * | timestamp_ntz / _ltz             | Struct{epoch, fraction}           | `"<seconds>.<9 digits>"`            |
 * | timestamp_tz                     | Struct{epoch, fraction, timezone} | `"<seconds>.<9 digits> <tz index>"` |
 * | binary                           | Binary                            | hex                                 |
 *
 * A query that fakesnow fails with HTTP 500 (its "Unhandled exception": a statement it cannot emulate) becomes
 * a failed statement (`success: false`, the message kept), as Snowflake reports SQL errors, instead of a
 * server fault the SDK would retry for minutes. Everything else (login, heartbeats, session delete, abort)
 * passes through as is. The tests start the proxy in-process (`startSnowflakeArrowProxy`) and point the SDK's
 * `accessUrl` at it.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { tableFromIPC, util, type Table, type Vector } from 'apache-arrow';

/** A running proxy. */
export interface SnowflakeArrowProxy {
  /** `http://127.0.0.1:<port>`, for snowflake-sdk's `accessUrl`. */
  readonly url: string;
  readonly port: number;
  /** Query responses rewritten so far (a test can assert the proxy was really on the path). */
  readonly rewrites: number;
  close(): Promise<void>;
}

export interface SnowflakeArrowProxyOptions {
  /** fakesnow's base URL, e.g. `http://127.0.0.1:58080`. */
  readonly target: string;
  /** Port to listen on (default 0: any free port), always on 127.0.0.1. */
  readonly port?: number;
  /**
   * Session parameters added to every login request (fakesnow reads e.g. `FAKESNOW_DB_PATH` there).
   */
  readonly loginSessionParameters?: Readonly<Record<string, string | number | boolean>>;
}

/** A Snowflake `rowtype` entry: the fields the conversion reads. */
export interface SnowflakeRowType {
  readonly name: string;
  readonly type: string;
  readonly scale?: number | null;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'host', 'upgrade']);

export async function startSnowflakeArrowProxy(options: SnowflakeArrowProxyOptions): Promise<SnowflakeArrowProxy> {
  const target = new URL(options.target);
  let rewrites = 0;

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: null, code: '000502', message: `snowflake-arrow-proxy: ${message}`, success: false }));
      } else {
        res.destroy();
      }
    });
  });

  const sessionTails = new Map<string, Promise<unknown>>();
  /** Runs `task` after the earlier tasks of the same session (keyed by its authorization header) have settled. */
  function inSessionOrder<T>(session: string, task: () => Promise<T>): Promise<T> {
    const previous = sessionTails.get(session) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    sessionTails.set(session, tail);
    void tail.then(() => {
      if (sessionTails.get(session) === tail) sessionTails.delete(session);
    });
    return result;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = await readAll(req);
    const path = req.url ?? '/';
    const gzipped = req.headers['content-encoding'] === 'gzip';
    if (path.startsWith('/session/v1/login-request') && options.loginSessionParameters !== undefined) {
      const login = JSON.parse((gzipped ? gunzipSync(body) : body).toString('utf8')) as { data?: { SESSION_PARAMETERS?: Record<string, unknown> } };
      login.data ??= {};
      login.data.SESSION_PARAMETERS = { ...(login.data.SESSION_PARAMETERS ?? {}), ...options.loginSessionParameters };
      body = Buffer.from(JSON.stringify(login));
    } else if (gzipped) {
      body = gunzipSync(body);
    }
    // Snowflake runs several statements of one session at once; fakesnow's session is one DuckDB connection that
    // refuses a second call while one runs ("connection is busy"). Queue the statements of a session here instead.
    const upstream = path.startsWith('/queries/v1/query-request')
      ? await inSessionOrder(String(req.headers.authorization ?? ''), () => forward(target, req.method ?? 'GET', path, req.headers, body))
      : await forward(target, req.method ?? 'GET', path, req.headers, body);
    let payload = upstream.body;
    if (upstream.headers['content-encoding'] === 'gzip') payload = gunzipSync(payload);
    const isJson = String(upstream.headers['content-type'] ?? '').includes('json');
    let status = upstream.status;
    if (isJson && (path.startsWith('/queries/v1/query-request') || (path.startsWith('/queries/') && path.includes('/result')))) {
      const json = JSON.parse(payload.toString('utf8')) as { data?: Record<string, unknown> | null; code?: string; message?: string };
      if (status >= 500) {
        // fakesnow answers a statement it cannot handle ("Unhandled exception") with HTTP 500, which the SDK
        // retries for minutes as a server fault; Snowflake answers a failed statement with success: false.
        status = 200;
        json.data = { errorCode: json.code ?? '000500', sqlState: 'XX000' };
        json.message = `fakesnow could not run the statement: ${json.message ?? 'unhandled exception'}`;
      } else if (json.data && typeof json.data === 'object' && rewriteResult(json.data)) {
        rewrites++;
      }
      payload = Buffer.from(JSON.stringify(json));
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    headers['content-length'] = String(payload.length);
    res.writeHead(status, headers);
    res.end(payload);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get rewrites() {
      return rewrites;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/**
 * Rewrites one query response's `data` in place from Arrow to the JSON result format. Returns whether it
 * changed anything (JSON responses, e.g. DML counts, pass through).
 */
export function rewriteResult(data: Record<string, unknown>): boolean {
  if (!('rowsetBase64' in data)) {
    // JSON answers (DML counts, describe-only) lack `returned`, without which the SDK waits for chunks
    // that never come.
    if (!Array.isArray(data.rowtype)) return false;
    if (!Array.isArray(data.rowset)) data.rowset = [];
    data.returned ??= (data.rowset as unknown[]).length;
    data.version ??= 1;
    return false;
  }
  const base64 = typeof data.rowsetBase64 === 'string' ? data.rowsetBase64 : '';
  const rowtype = (Array.isArray(data.rowtype) ? data.rowtype : []) as SnowflakeRowType[];
  const rowset = base64.length === 0 ? [] : arrowToRowset(tableFromIPC(Buffer.from(base64, 'base64')), rowtype);
  delete data.rowsetBase64;
  data.queryResultFormat = 'json';
  data.rowset = rowset;
  data.returned = rowset.length;
  data.total = rowset.length;
  data.version = 1;
  return true;
}

/** Arrow table → Snowflake JSON rowset (every cell a string or null). */
export function arrowToRowset(table: Table, rowtype: readonly SnowflakeRowType[]): (string | null)[][] {
  if (table.numCols !== rowtype.length) {
    throw new Error(`Arrow result has ${table.numCols} columns but rowtype lists ${rowtype.length}`);
  }
  const columns = rowtype.map((type, i) => {
    const vector = table.getChildAt(i);
    if (vector === null) throw new Error(`Arrow result has no column ${i}`);
    return { type, vector };
  });
  const rows: (string | null)[][] = [];
  for (let r = 0; r < table.numRows; r++) {
    rows.push(columns.map(({ type, vector }) => cell(vector, r, type)));
  }
  return rows;
}

function cell(vector: Vector, row: number, rowtype: SnowflakeRowType): string | null {
  const value: unknown = vector.get(row);
  if (value === null || value === undefined) return null;
  const type = rowtype.type.toLowerCase();
  switch (type) {
    case 'fixed':
      return fixed(value, rowtype.scale ?? 0);
    case 'real':
      return realText(value as number);
    case 'boolean':
      return value ? '1' : '0';
    case 'date':
      // apache-arrow answers Date32 as epoch milliseconds.
      return String(Math.floor((value as number) / 86_400_000));
    case 'time':
      return nanosText(BigInt(value as bigint | number));
    // fakesnow builds these structs without a validity mask: a NULL timestamp is a struct of NULL fields.
    case 'timestamp_ntz':
    case 'timestamp_ltz': {
      const { epoch, fraction } = value as { epoch: bigint | number | null; fraction: number | null };
      return epoch === null ? null : nanosText(BigInt(epoch) * 1_000_000_000n + BigInt(fraction ?? 0));
    }
    case 'timestamp_tz': {
      const { epoch, fraction, timezone } = value as { epoch: bigint | number | null; fraction: number | null; timezone: number | null };
      return epoch === null ? null : `${nanosText(BigInt(epoch) * 1_000_000_000n + BigInt(fraction ?? 0))} ${timezone ?? 1440}`;
    }
    case 'binary':
      return Buffer.from(value as Uint8Array).toString('hex');
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

/** An exact decimal from an integer or Decimal128 cell whose unscaled value carries `scale` digits. */
function fixed(value: unknown, scale: number): string {
  let unscaled: bigint;
  if (typeof value === 'bigint') unscaled = value;
  else if (typeof value === 'number') return scale === 0 ? String(value) : value.toFixed(scale);
  else unscaled = util.bigNumToBigInt(value as Parameters<typeof util.bigNumToBigInt>[0]);
  return scaledText(unscaled, scale);
}

function scaledText(unscaled: bigint, scale: number): string {
  if (scale === 0) return unscaled.toString();
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

function nanosText(nanos: bigint): string {
  return scaledText(nanos, 9);
}

function realText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  return String(value);
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function forward(
  target: URL,
  method: string,
  path: string,
  incoming: IncomingHttpHeaders,
  body: Buffer,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'accept-encoding') headers[name] = value;
  }
  headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname: target.hostname, port: target.port, method, path, headers }, (res) => {
      readAll(res).then((buffer) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: buffer }), reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

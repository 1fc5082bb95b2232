import { Buffer } from 'node:buffer';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

/** When appended records reach the disk: `per-batch` fdatasyncs before each append resolves (group commit). */
export type FsyncPolicy = 'per-batch' | 'interval';

export interface AppendLogOptions {
  readonly fsync: FsyncPolicy;
  /** With `interval`: fdatasync at most this long after a write, ms. */
  readonly fsyncIntervalMs: number;
}

/** What opening the log found. */
export interface LogRecovery {
  /** Records replayed. */
  readonly records: number;
  /** Complete lines with a bad checksum or bad JSON, skipped. */
  readonly corruptLines: number;
  /** Bytes of an unterminated last line (a torn write), cut off. */
  readonly truncatedBytes: number;
}

/** A chunk of framed lines and how many records it holds. */
export interface LogChunk {
  readonly data: string;
  readonly records: number;
}

const NEWLINE = 0x0a;
const READ_CHUNK = 1 << 20;

/**
 * An append-only file of JSON-array records, one per line: `<crc32 of the JSON, 8 hex> <JSON>\n`.
 *
 * A line only counts when it is complete and its checksum matches, so a crash mid-write (torn or zero-filled tail)
 * loses at most the records whose append had not resolved yet: on open the unterminated tail is cut off and bad
 * complete lines are skipped and counted. Appends are serialized through one writer that coalesces everything queued
 * meanwhile into one write (+ one fdatasync with `per-batch`). {@link rewrite} replaces the file with a snapshot
 * atomically (write temp, fsync, rename, fsync dir) while appends continue.
 */
export class AppendLog {
  readonly recovery: LogRecovery;
  readonly #path: string;
  readonly #options: AppendLogOptions;
  #file: FileHandle;
  #records: number;
  #queue: string[] = [];
  #queueRecords = 0;
  #waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #draining = false;
  #switchTask: (() => Promise<void>) | undefined;
  #mirror: LogChunk[] | undefined;
  #failure: Error | undefined;
  #dirty = false;
  #syncing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(path: string, options: AppendLogOptions, file: FileHandle, recovery: LogRecovery) {
    this.#path = path;
    this.#options = options;
    this.#file = file;
    this.recovery = recovery;
    this.#records = recovery.records;
    if (options.fsync === 'interval') {
      this.#timer = setInterval(() => void this.#syncIfDirty(), options.fsyncIntervalMs);
      this.#timer.unref();
    }
  }

  /** Opens (or creates) the log at `path`, replaying every valid record through `replay` first. */
  static async open(path: string, options: AppendLogOptions, replay: (record: unknown[]) => void): Promise<AppendLog> {
    await rm(`${path}.compact`, { force: true });
    const recovery = await recover(path, replay);
    const file = await open(path, 'a');
    if (recovery.records === 0 && recovery.corruptLines === 0) await fsyncDirectory(dirname(path));
    return new AppendLog(path, options, file, recovery);
  }

  /** Frames one record as a log line. */
  static frame(record: readonly unknown[]): string {
    const json = JSON.stringify(record);
    return `${(crc32(json) >>> 0).toString(16).padStart(8, '0')} ${json}\n`;
  }

  /** The write or sync error that stopped the log, if any: every later append rejects with it. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Records in the file now (live and dead). */
  get records(): number {
    return this.#records;
  }

  /** Appends framed lines; resolves once they are written (and synced, with `per-batch`). */
  append(lines: readonly string[]): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new Error('the log is closed'));
    if (lines.length === 0) return Promise.resolve();
    this.#queue.push(lines.length === 1 ? (lines[0] as string) : lines.join(''));
    this.#queueRecords += lines.length;
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#kick();
    });
  }

  /**
   * Replaces the file with `snapshot` (chunks of framed lines describing the whole state), keeping appends that
   * land meanwhile: they go to the old file as usual and are copied after the snapshot before the switch. Replaying
   * snapshot + those appends must give the live state (true when records are idempotent in order, see the store).
   * On failure the old file stays in use, complete.
   */
  async rewrite(snapshot: AsyncIterable<LogChunk>): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#mirror !== undefined) throw new Error('a rewrite is already running');
    const tempPath = `${this.#path}.compact`;
    const temp = await open(tempPath, 'w');
    this.#mirror = [];
    let records = 0;
    let switched = false;
    try {
      for await (const chunk of snapshot) {
        await writeAll(temp, chunk.data);
        records += chunk.records;
      }
      await new Promise<void>((resolve, reject) => {
        this.#switchTask = async () => {
          try {
            for (const chunk of this.#mirror ?? []) {
              await writeAll(temp, chunk.data);
              records += chunk.records;
            }
            await temp.datasync();
            await rename(tempPath, this.#path);
            switched = true;
            const old = this.#file;
            this.#file = temp;
            this.#records = records;
            await old.close().catch(() => {});
            await fsyncDirectory(dirname(this.#path)).catch(() => {});
            resolve();
          } catch (error) {
            reject(error as Error);
          }
        };
        this.#kick();
      });
    } finally {
      this.#mirror = undefined;
      if (!switched) {
        await temp.close().catch(() => {});
        await rm(tempPath, { force: true });
      }
    }
  }

  /** Writes what is queued, syncs and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await new Promise<void>((resolve) => {
      if (!this.#draining && this.#queue.length === 0) resolve();
      else this.#waiters.push({ resolve, reject: () => resolve() });
    });
    await this.#syncing;
    if (!this.#failure) await this.#file.datasync().catch(() => {});
    await this.#file.close().catch(() => {});
  }

  #kick(): void {
    if (this.#draining) return;
    this.#draining = true;
    void this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      for (;;) {
        const task = this.#switchTask;
        if (task !== undefined) {
          this.#switchTask = undefined;
          await task();
          continue;
        }
        if (this.#queue.length === 0) break;
        const data = this.#queue.length === 1 ? (this.#queue[0] as string) : this.#queue.join('');
        const records = this.#queueRecords;
        const waiters = this.#waiters;
        this.#queue = [];
        this.#queueRecords = 0;
        this.#waiters = [];
        try {
          await writeAll(this.#file, data);
          if (this.#options.fsync === 'per-batch') await this.#file.datasync();
          else this.#dirty = true;
        } catch (error) {
          this.#fail(error as Error, waiters);
          return;
        }
        this.#records += records;
        this.#mirror?.push({ data, records });
        for (const waiter of waiters) waiter.resolve();
      }
    } finally {
      this.#draining = false;
    }
    if (this.#closed) for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  #fail(error: Error, waiters: { reject: (error: Error) => void }[]): void {
    this.#failure = error;
    for (const waiter of [...waiters, ...this.#waiters.splice(0)]) waiter.reject(error);
    this.#queue = [];
    this.#queueRecords = 0;
  }

  async #syncIfDirty(): Promise<void> {
    if (!this.#dirty || this.#syncing || this.#failure) return;
    this.#dirty = false;
    this.#syncing = this.#file.datasync().then(
      () => {
        this.#syncing = undefined;
      },
      (error: Error) => {
        this.#syncing = undefined;
        this.#fail(error, []);
      },
    );
    await this.#syncing;
  }
}

async function writeAll(file: FileHandle, data: string): Promise<void> {
  const bytes = Buffer.from(data, 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await file.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

async function fsyncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function recover(path: string, replay: (record: unknown[]) => void): Promise<LogRecovery> {
  let file: FileHandle;
  try {
    file = await open(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: 0, corruptLines: 0, truncatedBytes: 0 };
    throw error;
  }
  let records = 0;
  let corruptLines = 0;
  let position = 0;
  let goodEnd = 0;
  let carry = Buffer.alloc(0);
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, READ_CHUNK, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const data = carry.length === 0 ? buffer.subarray(0, bytesRead) : Buffer.concat([carry, buffer.subarray(0, bytesRead)]);
      let start = 0;
      for (let nl = data.indexOf(NEWLINE, start); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
        const record = parseLine(data.subarray(start, nl));
        if (record === undefined) corruptLines++;
        else {
          replay(record);
          records++;
        }
        goodEnd += nl + 1 - start;
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
    }
    const truncatedBytes = position - goodEnd;
    if (truncatedBytes > 0) {
      await file.truncate(goodEnd);
      await file.datasync();
    }
    return { records, corruptLines, truncatedBytes };
  } finally {
    await file.close();
  }
}

function parseLine(line: Buffer): unknown[] | undefined {
  if (line.length < 11 || line[8] !== 0x20) return undefined;
  const expected = Number.parseInt(line.toString('latin1', 0, 8), 16);
  const json = line.subarray(9);
  if (!Number.isInteger(expected) || (crc32(json) >>> 0) !== expected) return undefined;
  try {
    const record: unknown = JSON.parse(json.toString('utf8'));
    return Array.isArray(record) ? record : undefined;
  } catch {
    return undefined;
  }
}

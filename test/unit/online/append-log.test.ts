import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppendLog, type LogChunk } from '../../../adapters/embedded-online/append-log.js';

const root = await mkdtemp(join(tmpdir(), 'trellis-append-log-'));
let seq = 0;
const newPath = (): string => join(root, `log${++seq}`);
const options = { fsync: 'per-batch', fsyncIntervalMs: 1000 } as const;

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function replayAll(path: string): Promise<unknown[][]> {
  const records: unknown[][] = [];
  const log = await AppendLog.open(path, options, (r) => records.push(r));
  await log.close();
  return records;
}

describe('AppendLog', () => {
  it('frames records with a checksum and replays them in order', async () => {
    const path = newPath();
    const log = await AppendLog.open(path, options, () => {});
    await Promise.all([log.append([AppendLog.frame(['a', 1])]), log.append([AppendLog.frame(['b', 'é\n"']), AppendLog.frame(['c'])])]);
    expect(log.records).toBe(3);
    await log.close();
    expect(await replayAll(path)).toEqual([['a', 1], ['b', 'é\n"'], ['c']]);
    expect((await readFile(path, 'utf8')).split('\n')[0]).toMatch(/^[0-9a-f]{8} \["a",1\]$/);
  });

  it('keeps appends made while a rewrite runs, after the snapshot', async () => {
    const path = newPath();
    const log = await AppendLog.open(path, options, () => {});
    await log.append([AppendLog.frame(['old', 1]), AppendLog.frame(['old', 2])]);
    let late: Promise<void> | undefined;
    async function* snapshot(): AsyncGenerator<LogChunk> {
      yield { data: AppendLog.frame(['snap', 1]), records: 1 };
      await log.append([AppendLog.frame(['during', 1])]);
      yield { data: AppendLog.frame(['snap', 2]), records: 1 };
      // Queued but not yet written when the switch happens: must land in the new file too.
      late = log.append([AppendLog.frame(['during', 2])]);
    }
    await log.rewrite(snapshot());
    await late;
    await log.append([AppendLog.frame(['after', 1])]);
    expect(log.records).toBe(5);
    await log.close();
    expect(await replayAll(path)).toEqual([['snap', 1], ['snap', 2], ['during', 1], ['during', 2], ['after', 1]]);
  });

  it('keeps the old file when a rewrite fails', async () => {
    const path = newPath();
    const log = await AppendLog.open(path, options, () => {});
    await log.append([AppendLog.frame(['keep', 1])]);
    async function* failing(): AsyncGenerator<LogChunk> {
      yield { data: AppendLog.frame(['snap']), records: 1 };
      throw new Error('boom');
    }
    await expect(log.rewrite(failing())).rejects.toThrow('boom');
    await log.append([AppendLog.frame(['keep', 2])]);
    await log.close();
    expect(await replayAll(path)).toEqual([['keep', 1], ['keep', 2]]);
  });

  it('cuts a torn tail and counts corrupt lines', async () => {
    const path = newPath();
    const good = AppendLog.frame(['ok']);
    const bad = AppendLog.frame(['bad']).replace('bad', 'bax');
    await writeFile(path, `${good}${bad}${good}0000`);
    const records: unknown[][] = [];
    const log = await AppendLog.open(path, options, (r) => records.push(r));
    expect(log.recovery).toEqual({ records: 2, corruptLines: 1, truncatedBytes: 4 });
    await log.close();
    expect(records).toEqual([['ok'], ['ok']]);
    expect(await readFile(path, 'utf8')).toBe(`${good}${bad}${good}`);
  });
});

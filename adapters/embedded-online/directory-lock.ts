import { open, readFile, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';

const heldInThisProcess = new Set<string>();

/** Exclusive ownership of a store directory by one process (and one store within it). */
export interface DirectoryLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes `<dir>/LOCK` (holding the owner's pid). Refuses while another live process — or another store of this
 * process — holds it; takes over a lock left by a dead process. Throws an Error naming the owner.
 */
export async function acquireDirectoryLock(dir: string): Promise<DirectoryLock> {
  const path = join(await realpath(dir), 'LOCK');
  if (heldInThisProcess.has(path)) throw new Error(`${dir} is already open by another embedded online store in this process`);
  for (let attempt = 0; ; attempt++) {
    try {
      const file = await open(path, 'wx');
      try {
        await file.writeFile(`${process.pid}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw new Error(`${dir} is in use by process ${owner} (remove ${path} if that process is not a Trellis store)`);
      }
      await rm(path, { force: true });
    }
  }
  heldInThisProcess.add(path);
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      heldInThisProcess.delete(path);
      await rm(path, { force: true });
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

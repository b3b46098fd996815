/**
 * What is not backed up yet: walks the configured directories the way the scanner does
 * (runtime/pipeline/scan.ts: lstat, regular files only) and counts the files whose size, times
 * and inode differ from the index's scan cache, the very test the next backup uses to decide
 * what to read again. A file's cache row is written only in the transaction that commits its last
 * chunk, so a file with a matching row is in the group.
 *
 * Bounded: at most `maxEntries` directory entries per check; past that the answer is a lower
 * bound (`complete: false`). Files deleted since the last snapshot are not counted (they cost no
 * upload; the next snapshot records them).
 */
import * as fs from 'node:fs/promises';
import { resolve } from 'node:path';
import { joinPath } from '../../pipeline/path-bytes.ts';

export const MAX_PENDING_SCAN_ENTRIES = 200_000;

export interface CachedFile {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

export interface PendingScan {
  bytes: number;
  files: number;
  checkedAtMs: number;
  complete: boolean;
}

export async function scanPending(
  sources: readonly string[],
  cached: (path: Buffer) => CachedFile | undefined,
  options: { nowMs: () => number; maxEntries?: number },
): Promise<PendingScan> {
  const maxEntries = options.maxEntries ?? MAX_PENDING_SCAN_ENTRIES;
  let entries = 0;
  let bytes = 0;
  let files = 0;
  let complete = true;
  const stack: Buffer[] = sources.map((s) => Buffer.from(resolve(s)));
  // Depth-first with an explicit stack: no recursion depth to bound.
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let names: Buffer[];
    try {
      names = await fs.readdir(dir, { encoding: 'buffer' });
    } catch {
      continue; // unreadable: the scanner skips it with a warning too
    }
    for (const name of names) {
      if (++entries > maxEntries) {
        complete = false;
        stack.length = 0;
        break;
      }
      const full = joinPath(dir, name);
      let st: import('node:fs').BigIntStats;
      try {
        st = await fs.lstat(full, { bigint: true });
      } catch {
        continue;
      }
      if (st.isDirectory()) stack.push(full);
      else if (st.isFile()) {
        const row = cached(full);
        if (
          row === undefined ||
          BigInt(row.size) !== st.size ||
          row.mtimeNs !== st.mtimeNs.toString() ||
          row.ctimeNs !== st.ctimeNs.toString() ||
          row.ino !== st.ino.toString()
        ) {
          files++;
          bytes += Number(st.size);
        }
      }
    }
  }
  return { bytes, files, checkedAtMs: options.nowMs(), complete };
}

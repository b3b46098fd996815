/**
 * A restore never overwrites silently (docs/local-mode.md, "Restore"): before anything is
 * written, each file and symlink's destination is looked at.
 *   - nothing there: restored;
 *   - the same thing there (a file of the recorded size and modification time, within 2 us; a
 *     symlink to the recorded target): left alone, counted as unchanged (its shards are not even fetched),
 *     except under `always`;
 *   - something different there: `never` skips it (named in the summary), `if-newer` replaces
 *     it only when the snapshot's copy is newer than the one on disk, `always` replaces it.
 * A destination in a directory the restore itself created is not looked at: nothing is there.
 */
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import { showPath } from './path-bytes.ts';
import { eachInSlices, lstatOrNull } from './restore-land.ts';

export const OVERWRITE_POLICIES = ['never', 'if-newer', 'always'] as const;
export type OverwritePolicy = (typeof OVERWRITE_POLICIES)[number];

export interface SkippedPath {
  path: string;
  reason: string;
}

/** The recorded side of a destination: its type, size, time and (symlinks) target. */
export interface Planned {
  dest: Buffer;
  entry: { type: number; mtimeSec: number; mtimeNsec: number; size?: number; target?: Buffer };
}

/**
 * Times within this count as the same: a restored file's time is exact to about a microsecond
 * (utimes takes seconds as a double), so a file an earlier restore wrote is recognised.
 */
const SAME_TIME_NS = 2_000n;

function sameThing(path: Buffer, st: BigIntStats, e: Planned['entry'], mtimeNs: bigint): boolean {
  if (e.target !== undefined)
    return st.isSymbolicLink() && fs.readlinkSync(path, { encoding: 'buffer' }).equals(e.target);
  const apartNs = st.mtimeNs > mtimeNs ? st.mtimeNs - mtimeNs : mtimeNs - st.mtimeNs;
  return st.isFile() && st.size === BigInt(e.size ?? -1) && apartNs <= SAME_TIME_NS;
}

/**
 * Splits `planned` into what to write and what to leave (unchanged or skipped). `always` writes
 * everything (the restore then replaces whatever is there).
 */
export async function sortByDestination<T extends Planned>(
  planned: T[],
  policy: OverwritePolicy,
  isNew: (dest: Buffer) => boolean = () => false,
): Promise<{ write: T[]; unchanged: number; skipped: SkippedPath[] }> {
  if (policy === 'always') return { write: planned, unchanged: 0, skipped: [] };
  const verdict: ('write' | 'unchanged' | string)[] = planned.map(() => 'write');
  // One lstat per destination, synchronously (restore-land.ts says why), except where nothing
  // can be: in a directory this restore created.
  await eachInSlices(planned, (p, i) => {
    if (isNew(p.dest)) return;
    const st = lstatOrNull(p.dest);
    if (st === null) return;
    const mtimeNs = BigInt(p.entry.mtimeSec) * 1_000_000_000n + BigInt(p.entry.mtimeNsec);
    if (sameThing(p.dest, st, p.entry, mtimeNs)) verdict[i] = 'unchanged';
    else if (st.isDirectory()) verdict[i] = 'a directory is in the way';
    else if (policy === 'never')
      verdict[i] = 'exists and differs (--overwrite if-newer or always replaces it)';
    else if (st.mtimeNs >= mtimeNs)
      verdict[i] = 'the copy on disk is as new or newer (--overwrite always replaces it)';
  });
  const write: T[] = [];
  const skipped: SkippedPath[] = [];
  let unchanged = 0;
  planned.forEach((p, i) => {
    const v = verdict[i]!;
    if (v === 'write') write.push(p);
    else if (v === 'unchanged') unchanged++;
    else skipped.push({ path: showPath(p.dest), reason: v });
  });
  return { write, unchanged, skipped };
}

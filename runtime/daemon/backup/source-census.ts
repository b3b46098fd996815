/**
 * The census the empty-directory rule reads (docs/design.md §10): regular files and their bytes
 * under the sources, with the run's excludes applied as the scan applies them (patterns, the
 * contents of a CACHEDIR.TAG directory, the always-excluded paths such as the data directory),
 * so that it counts what a snapshot would hold. Counting stops as soon as both bounds are reached.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import {
  CACHEDIR_TAG_NAME,
  CACHEDIR_TAG_SIGNATURE,
  containingDirectory,
  excludeMatcher,
  isCacheDirTag,
} from '../../../engine/index.ts';

/** Bound on the entries one census visits (it stops as soon as the sources clearly count). */
const MAX_CENSUS_ENTRIES = 10_000_000;

export interface CensusExcludes {
  /** Glob patterns (engine/exclude.ts), as the scan takes them. */
  readonly patterns?: readonly string[];
  /** Absolute paths left out with everything under them. */
  readonly paths?: readonly string[];
}

export interface Census {
  files: number;
  bytes: number;
  /** Both bounds reached (or the entry bound hit): the sources are not emptied. */
  reached: boolean;
}

/** Whether `dir` holds a CACHEDIR.TAG that starts with the standard signature. */
function taggedCacheDir(dir: string): boolean {
  let fd: number | null = null;
  try {
    fd = fs.openSync(join(dir, CACHEDIR_TAG_NAME), 'r');
    const head = Buffer.alloc(CACHEDIR_TAG_SIGNATURE.length);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return isCacheDirTag(head.subarray(0, n));
  } catch {
    return false;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/**
 * Regular files and their bytes under `sources`, counted until both reach the bounds given
 * (then `reached` is true and the walk stops early: a healthy tree costs a fraction of a scan).
 */
export async function countSources(
  sources: readonly string[],
  needFiles: number,
  needBytes: number,
  excludes: CensusExcludes = {},
): Promise<Census> {
  const matcher = excludeMatcher(excludes.patterns ?? []);
  const paths = excludes.paths ?? [];
  const left = (path: string, isDirectory: boolean): boolean =>
    containingDirectory(path, paths) !== null ||
    (matcher.patterns.length > 0 && matcher.matches(path, isDirectory));
  let files = 0;
  let bytes = 0;
  let visited = 0;
  const enough = (): boolean => files >= needFiles && bytes >= needBytes;
  const stack = sources.filter((s) => !left(s, true));
  while (stack.length > 0) {
    if (enough()) return { files, bytes, reached: true };
    const dir = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch {
      continue; // unreadable: the scan will warn about it
    }
    // A tagged cache directory keeps only its tag in a snapshot.
    if (entries.some((e) => e.name === CACHEDIR_TAG_NAME) && taggedCacheDir(dir))
      entries = entries.filter((e) => e.name === CACHEDIR_TAG_NAME);
    for (const e of entries) {
      if (++visited > MAX_CENSUS_ENTRIES) return { files, bytes, reached: true };
      const path = join(dir, e.name);
      if (left(path, e.isDirectory())) continue;
      if (e.isDirectory()) stack.push(path);
      else if (e.isFile()) {
        files++;
        try {
          bytes += (await fs.promises.lstat(path)).size;
        } catch {
          // vanished meanwhile
        }
        if (enough()) return { files, bytes, reached: true };
      }
    }
  }
  return { files, bytes, reached: enough() };
}

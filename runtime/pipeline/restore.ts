/**
 * Restore all or part of a snapshot (docs/design.md §6).
 *
 * - The tree is walked a window at a time (WINDOW_ENTRIES files and symlinks), and each window is
 *   restored before the walk goes on: memory is bounded whatever the snapshot's file count.
 * - Files are restored in batches (bounded open files and chunk references). Within a batch the
 *   work is ordered by stripe: each stripe is read once (rebuilt from any k good shards), and each
 *   of its objects is decrypted, authenticated and checked against its id BEFORE a byte of it is
 *   written, then written at every place the batch needs it (dedup).
 * - Files are written under a temporary name in their directory and renamed into place only when
 *   complete and of the recorded size; all-zero blocks (4 KiB, aligned in the file) are never
 *   written but left as holes, so sparse files stay sparse (restore-batch.ts). Small files,
 *   directories and links are handled with synchronous calls a slice at a time (restore-land.ts).
 * - Files that were links of one inode (the same link identity in the snapshot) are restored once
 *   and linked again: the first restored is the inode, the others are hard links to it.
 * - Modes, owners (when root), times, symlinks and empty directories are restored; directory
 *   metadata last, deepest first. Times are exact to about a microsecond: Node's utimes takes
 *   seconds as a double (stored times keep nanoseconds).
 * - Whatever cannot be recovered is named in one clear error at the end; nothing is left short.
 */
import * as fs from 'node:fs';
import { PipelineError } from './errors.ts';
import { OpenPool } from './open-pool.ts';
import { joinPath, showPath } from './path-bytes.ts';
import type { Repository } from './repository.ts';
import { type FileJob, orderByStripe, type Progress, restoreBatch } from './restore-batch.ts';
import { applyMetaSync, eachInSlices, landBeside } from './restore-land.ts';
import {
  type OverwritePolicy,
  type Planned,
  type SkippedPath,
  sortByDestination,
} from './restore-overwrite.ts';
import { TreeWalk, type WalkDir } from './restore-walk.ts';
import { ObjectReader } from './stripe-reader.ts';
import {
  decodeSnapshot,
  ENTRY_DIR,
  ENTRY_FILE,
  type ENTRY_SYMLINK,
  type EntryMeta,
  type Snapshot,
  type TreeEntry,
} from './tree.ts';

export const MAX_FILES_PER_BATCH = 256;
/**
 * Files and symlinks the walk gathers before they are restored: a window's entries, their
 * destinations and their order by stripe are what a restore holds per file (about 1 KiB each;
 * 200,000 files held at once took 555 MiB at peak). A window's files are read in stripe order,
 * so a stripe that serves two windows is read in each (the stripe cache often still holds it).
 */
export const WINDOW_ENTRIES = 16_384;
/** Failures named in a restore's error; the others are counted. */
const MAX_FAILURES_NAMED = 50;
export const MAX_CHUNK_REFS_PER_BATCH = 65_536;
/** Batches restored at once (memory: each holds up to STRIPES_IN_FLIGHT stripes' plaintexts). */
export const BATCHES_IN_FLIGHT = 2;
/**
 * Stripe areas cached: the one being restored, the next read ahead, one more for the second batch
 * in flight (tree pieces are read alone; five measured no faster and 25 MiB more at peak).
 */
const STRIPE_CACHE = 3;

export interface RestoreOptions {
  /** Snapshot id (hex, or a unique prefix); default the newest. */
  snapshot?: string;
  /** Restore under this directory (each root at target + its original absolute path); default in place. */
  target?: string;
  /** Only these original absolute paths and what is below them. */
  include?: string | readonly string[];
  /** Files and symlinks are restored only if this accepts their original path (shown form). */
  filter?: (path: string) => boolean;
  /** An existing, different destination: default `always` (restore-overwrite.ts). */
  overwrite?: OverwritePolicy;
  onProgress?: (p: { bytesWritten: number; bytesTotal: number; files: number }) => void;
  /** Files and symlinks gathered before they are restored (default WINDOW_ENTRIES; tests go lower). */
  windowEntries?: number;
}

export interface RestoreSummary {
  snapshotId: string;
  files: number;
  dirs: number;
  symlinks: number;
  /** Files restored as hard links to another restored file (counted in `files` too). */
  hardlinks: number;
  bytes: number;
  rebuiltStripes: number;
  /** Stripes read whole (a tree piece or object in a local store is read alone). */
  stripesRead: number;
  badShards: string[];
  tornFiles: string[];
  /** Destinations left alone because they hold the recorded file already. */
  unchanged: number;
  /** Destinations left alone under the overwrite policy, each with why. */
  skipped: SkippedPath[];
  seconds: number;
}

/**
 * `to.push(...items)` for lists of any length: spread arguments live on the stack, and a tree of
 * 200,000 files overflowed it ("Maximum call stack size exceeded").
 */
function appendAll<T>(to: T[], items: readonly T[]): void {
  for (const item of items) to.push(item);
}

function isUnder(path: Buffer, prefixes: Buffer | Buffer[] | null): boolean {
  if (!prefixes) return true;
  if (Array.isArray(prefixes)) return prefixes.some((p) => isUnder(path, p));
  const prefix = prefixes;
  if (!path.subarray(0, prefix.length).equals(prefix)) return false;
  return path.length === prefix.length || path[prefix.length] === 0x2f || prefix[prefix.length - 1] === 0x2f;
}

function isAncestor(path: Buffer, prefixes: Buffer[] | null): boolean {
  return prefixes?.some((p) => isUnder(p, path)) === true;
}

/** The files in batches of at most MAX_FILES_PER_BATCH files and MAX_CHUNK_REFS_PER_BATCH chunks. */
function* batches(files: readonly FileJob[]): Generator<FileJob[]> {
  for (let i = 0; i < files.length; ) {
    const batch: FileJob[] = [];
    let refs = 0;
    while (
      i < files.length &&
      batch.length < MAX_FILES_PER_BATCH &&
      (batch.length === 0 || refs + files[i]!.entry.chunks.length <= MAX_CHUNK_REFS_PER_BATCH)
    ) {
      refs += files[i]!.entry.chunks.length;
      batch.push(files[i]!);
      i++;
    }
    yield batch;
  }
}

export function findSnapshot(repo: Repository, wanted?: string): Buffer {
  const all = repo.index.listSnapshots();
  if (all.length === 0) throw new PipelineError('not-found', 'there are no snapshots yet');
  if (!wanted || wanted === 'latest') return all.at(-1)!.id;
  if (!/^[0-9a-f]{4,64}$/.test(wanted))
    throw new PipelineError('invalid-argument', `snapshot id ${wanted} is not hex (4-64 characters)`);
  const matches = all.filter((s) => s.id.toString('hex').startsWith(wanted));
  if (matches.length !== 1) {
    throw new PipelineError(
      'not-found',
      matches.length === 0 ? `no snapshot ${wanted}` : `snapshot prefix ${wanted} is ambiguous`,
    );
  }
  return matches[0]!.id;
}

export async function restore(repo: Repository, options: RestoreOptions = {}): Promise<RestoreSummary> {
  const started = performance.now();
  // Stripes read unverified (their objects are authenticated; a failure reads them verified).
  const reader = new ObjectReader(repo.index, repo.directory, repo.keys, STRIPE_CACHE, true);
  // As many workers as a backup uses. A restore once used one fewer (its main thread wrote the
  // files); since the workers decrypt into their own buffers and write the files themselves,
  // and land every small file, two workers on two cores took 0.74x the time of one on 1 GiB of
  // large files and 0.83x on the real tree's 13,606 files (five pairs each; 50 MiB more peak RSS).
  const pool = new OpenPool(repo.workers, repo.keys);
  pool.warm();
  try {
    return await restoreWith(repo, reader, pool, options, started);
  } finally {
    await pool.close();
  }
}

async function restoreWith(
  repo: Repository,
  reader: ObjectReader,
  pool: OpenPool,
  options: RestoreOptions,
  started: number,
): Promise<RestoreSummary> {
  const snapshotId = findSnapshot(repo, options.snapshot);
  const snapshot = decodeSnapshot(await reader.read(snapshotId));
  const run = new RestoreRun(repo, reader, pool, options, snapshot);
  await new TreeWalk(repo.index, reader, run.visit).run(run.roots(), run.between);
  await run.flush();
  return run.finish(snapshotId, started);
}

type Place = { orig: Buffer; dest: Buffer; depth: number };
type SymlinkJob = { dest: Buffer; entry: Extract<TreeEntry, { type: typeof ENTRY_SYMLINK }> };
type HardlinkJob = { dest: Buffer; to: Buffer; entry: FileJob['entry'] };

/**
 * One restore, a window at a time: the walk gathers files and symlinks, and every WINDOW_ENTRIES
 * of them are restored (directories made, destinations looked at, files in stripe order, then
 * symlinks) before it goes on. What stays for the end is per directory or per hard link: the
 * directories' metadata (deepest first) and the other names of linked files.
 */
class RestoreRun {
  private readonly include: Buffer[] | null;
  private readonly targetRoot: Buffer | null;
  private readonly policy: OverwritePolicy;
  private readonly windowEntries: number;
  private readonly dirs: { dest: Buffer; meta: EntryMeta; depth: number }[] = [];
  /** How many of `dirs` have been made. */
  private dirsMade = 0;
  private files: FileJob[] = [];
  private links: SymlinkJob[] = [];
  private readonly hardlinks: HardlinkJob[] = [];
  /** The first restored path of each link identity. */
  private readonly linkLeaders = new Map<string, Buffer>();
  /** Directories this restore created (latin1 keys): nothing can be in the way inside them. */
  private readonly created = new Set<string>();
  private readonly failures = new Failures();
  private readonly progress: Progress = { bytesWritten: 0, bytesTotal: 0, files: 0, torn: [] };
  /** Bytes of the files planned so far (the windows flushed). */
  private plannedBytes = 0;
  /** The progress total while the walk goes on: the snapshot's bytes for a whole restore, else 0. */
  private readonly estimateBytes: number;
  private readonly counts = { files: 0, symlinks: 0, hardlinks: 0, unchanged: 0 };
  private readonly skipped: SkippedPath[] = [];

  constructor(
    private readonly repo: Repository,
    private readonly reader: ObjectReader,
    private readonly pool: OpenPool,
    private readonly options: RestoreOptions,
    private readonly snapshot: Snapshot,
  ) {
    const wanted = [options.include ?? []].flat();
    this.include = wanted.length > 0 ? wanted.map((p) => Buffer.from(p.replace(/\/+$/, '') || '/')) : null;
    this.targetRoot = options.target ? Buffer.from(options.target) : null;
    this.policy = options.overwrite ?? 'always';
    this.windowEntries = options.windowEntries ?? WINDOW_ENTRIES;
    if (!Number.isSafeInteger(this.windowEntries) || this.windowEntries < 1)
      throw new PipelineError('invalid-argument', `a restore window of ${this.windowEntries} entries`);
    const whole = this.include === null && options.filter === undefined && this.policy === 'always';
    this.estimateBytes = whole ? snapshot.bytes : 0;
  }

  /** The snapshot's roots to walk (made at once: the walk places everything below them). */
  roots(): WalkDir<Place>[] {
    const roots: WalkDir<Place>[] = [];
    for (const root of this.snapshot.roots) {
      const dest = this.targetRoot ? joinPath(this.targetRoot, root.path.subarray(1)) : root.path;
      if (isUnder(root.path, this.include)) this.dirs.push({ dest, meta: root.dir, depth: 0 });
      else if (!isAncestor(root.path, this.include)) continue;
      this.makeDir(dest);
      roots.push({ tree: root.dir.tree, ctx: { orig: root.path, dest, depth: 0 } });
    }
    return roots;
  }

  readonly visit = ({ orig, dest, depth }: Place, read: TreeEntry[] | Error): WalkDir<Place>[] => {
    if (read instanceof Error) {
      this.failures.add(`directory ${showPath(orig)}: ${read.message}`);
      return [];
    }
    const below: WalkDir<Place>[] = [];
    for (const entry of read) {
      const o = joinPath(orig, entry.name);
      const d = joinPath(dest, entry.name);
      const inside = isUnder(o, this.include);
      if (!inside && !(entry.type === ENTRY_DIR && isAncestor(o, this.include))) continue;
      if (entry.type === ENTRY_DIR) {
        if (inside) this.dirs.push({ dest: d, meta: entry, depth: depth + 1 });
        else this.makeDir(d);
        below.push({ tree: entry.tree, ctx: { orig: o, dest: d, depth: depth + 1 } });
      } else if (this.options.filter !== undefined && !this.options.filter(showPath(o))) continue;
      else if (entry.type === ENTRY_FILE) this.addFile(d, entry);
      else this.links.push({ dest: d, entry });
    }
    return below;
  };

  /** After each directory visited: a full window is restored before the walk goes on. */
  readonly between = (): Promise<void> | undefined =>
    this.files.length + this.links.length >= this.windowEntries ? this.flush() : undefined;

  private addFile(dest: Buffer, entry: FileJob['entry']): void {
    const key = entry.link && entry.link.length > 0 ? entry.link.toString('hex') : null;
    const first = key === null ? undefined : this.linkLeaders.get(key);
    if (first !== undefined) this.hardlinks.push({ dest, to: first, entry });
    else {
      if (key !== null) this.linkLeaders.set(key, dest);
      this.files.push({ dest, entry });
    }
  }

  private makeDir(dest: Buffer): void {
    if (fs.mkdirSync(dest, { recursive: true, mode: 0o700 }) !== undefined)
      this.created.add(dest.toString('latin1'));
  }

  private readonly isNew = (dest: Buffer): boolean =>
    this.created.has(dest.toString('latin1', 0, Math.max(0, dest.lastIndexOf(0x2f))));

  /** Restores the window gathered so far: its directories, files, then symlinks. */
  async flush(): Promise<void> {
    const dirs = this.dirs.slice(this.dirsMade);
    this.dirsMade = this.dirs.length;
    await eachInSlices(dirs, (d) => this.makeDir(d.dest));
    const fileSort = await this.sorted(this.files.splice(0));
    const files = orderByStripe(this.repo, fileSort);
    for (const f of files) this.plannedBytes += f.entry.size;
    this.progress.bytesTotal = Math.max(this.plannedBytes, this.estimateBytes);
    await this.restoreFiles(files);
    this.counts.files += files.length;
    const links = await this.sorted(this.links.splice(0));
    await eachInSlices(links, ({ dest, entry }) => {
      try {
        landBeside(dest, (temp) => {
          fs.symlinkSync(entry.target, temp);
          applyMetaSync(temp, entry, true);
        });
      } catch (error) {
        this.failures.add(`symlink ${showPath(dest)}: ${(error as Error).message}`);
      }
    });
    this.counts.symlinks += links.length;
  }

  /** What of `planned` to write under the overwrite policy; the rest is counted or named. */
  private async sorted<T extends Planned>(planned: T[]): Promise<T[]> {
    const sort = await sortByDestination(planned, this.policy, this.isNew);
    this.counts.unchanged += sort.unchanged;
    appendAll(this.skipped, sort.skipped);
    return sort.write;
  }

  /**
   * The window's files in batches, two at once: one's stripe is read, or its large files opened
   * and renamed, on the main thread while the workers land the other's small files.
   */
  private async restoreFiles(files: FileJob[]): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    const failures: string[] = [];
    for (const batch of batches(files)) {
      while (inFlight.size >= BATCHES_IN_FLIGHT) await Promise.race(inFlight);
      const work: Promise<void> = restoreBatch(
        this.repo,
        this.reader,
        this.pool,
        batch,
        failures,
        this.progress,
        this.options.onProgress,
      );
      inFlight.add(work);
      void work.then(
        () => inFlight.delete(work),
        () => undefined,
      );
    }
    await Promise.all(inFlight);
    for (const f of failures) this.failures.add(f);
  }

  /** After the last window: the other names of linked files, then the directories' metadata. */
  async finish(snapshotId: Buffer, started: number): Promise<RestoreSummary> {
    // The estimate (the snapshot's bytes, hard links counted per name) gives way to the sum.
    this.progress.bytesTotal = this.plannedBytes;
    await this.linkAgain();
    const { bytesWritten, bytesTotal, files } = this.progress;
    this.options.onProgress?.({ bytesWritten, bytesTotal, files });
    this.dirs.sort((a, b) => b.depth - a.depth);
    await eachInSlices(this.dirs, (d) => applyMetaSync(d.dest, d.meta, false));
    this.failures.throwIfAny();
    return {
      snapshotId: snapshotId.toString('hex'),
      files: this.counts.files + this.counts.hardlinks,
      dirs: this.dirs.length,
      symlinks: this.counts.symlinks,
      hardlinks: this.counts.hardlinks,
      bytes: this.plannedBytes,
      rebuiltStripes: this.reader.stripes.report.rebuilt,
      stripesRead: this.reader.stripes.report.read,
      badShards: this.reader.stripes.report.badShards,
      tornFiles: this.progress.torn,
      unchanged: this.counts.unchanged,
      skipped: this.skipped,
      seconds: (performance.now() - started) / 1000,
    };
  }

  /**
   * A hard link's other names follow the same policy; one whose first name was skipped is skipped
   * too (linking it would give it the different file that stays there).
   */
  private async linkAgain(): Promise<void> {
    const skippedPaths = new Set(this.skipped.map((x) => x.path));
    const linked = await this.sorted(
      this.hardlinks.filter((h) => {
        if (!skippedPaths.has(showPath(h.to))) return true;
        this.skipped.push({
          path: showPath(h.dest),
          reason: `a hard link to ${showPath(h.to)}, which was skipped`,
        });
        return false;
      }),
    );
    await eachInSlices(linked, (h) => {
      try {
        landBeside(h.dest, (temp) => fs.linkSync(h.to, temp));
        this.progress.files++;
      } catch (error) {
        this.failures.add(
          `file ${showPath(h.dest)} (a hard link to ${showPath(h.to)}): ${(error as Error).message}`,
        );
      }
    });
    this.counts.hardlinks = linked.length;
  }
}

/** What a restore could not recover: the first MAX_FAILURES_NAMED named, all counted. */
class Failures {
  private readonly named: string[] = [];
  private count = 0;

  add(failure: string): void {
    this.count++;
    if (this.named.length < MAX_FAILURES_NAMED) this.named.push(failure);
  }

  throwIfAny(): void {
    if (this.count === 0) return;
    const more = this.count - this.named.length;
    throw new PipelineError(
      'unrecoverable',
      `restore incomplete: ${this.count} item(s) could not be recovered and were not written:\n  ${this.named.join('\n  ')}${more > 0 ? `\n  ... and ${more} more` : ''}`,
    );
  }
}

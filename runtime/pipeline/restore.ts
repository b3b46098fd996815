/**
 * Restore all or part of a snapshot (docs/design.md §6).
 *
 * - Files are restored in batches (bounded open files and chunk references). Within a batch the
 *   work is ordered by stripe: each stripe is read once (rebuilt from any k good shards), and each
 *   of its objects is decrypted, authenticated and checked against its id BEFORE a byte of it is
 *   written, then written at every place the batch needs it (dedup).
 * - Files are written under a temporary name in their directory and renamed into place only when
 *   complete and of the recorded size; all-zero blocks (4 KiB, aligned in the file) are never
 *   written but left as holes, so sparse files stay sparse.
 * - Files that were links of one inode (the same link identity in the snapshot) are restored once
 *   and linked again: the first restored is the inode, the others are hard links to it.
 * - Modes, owners (when root), times, symlinks and empty directories are restored; directory
 *   metadata last, deepest first. Times are exact to about a microsecond: Node's utimes takes
 *   seconds as a double (stored times keep nanoseconds).
 * - Whatever cannot be recovered is named in one clear error at the end; nothing is left short.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { eachLimit } from './each-limit.ts';
import { PipelineError } from './errors.ts';
import { reclaimShortLived } from './memory.ts';
import { OpenPool } from './open-pool.ts';
import type { Repository } from './repository.ts';
import { type OverwritePolicy, type SkippedPath, sortByDestination } from './restore-overwrite.ts';
import { joinPath, showPath } from './scan.ts';
import { ObjectReader } from './stripe-reader.ts';
import {
  decodeSnapshot,
  decodeTree,
  ENTRY_DIR,
  ENTRY_FILE,
  type ENTRY_SYMLINK,
  type EntryMeta,
  FILE_FLAG_TORN,
  type TreeEntry,
} from './tree.ts';

export const MAX_FILES_PER_BATCH = 256;
/** File system calls (open, metadata, close, rename) of a batch's files in flight at once. */
const FILE_OPS_IN_FLIGHT = 16;
export const MAX_CHUNK_REFS_PER_BATCH = 65_536;
/** Stripes read, opened and written at once (memory: about 3 x 8 MiB per stripe). */
export const STRIPES_IN_FLIGHT = 3;
/** Stripe areas cached (in flight, read ahead, and tree pieces read again). */
const STRIPE_CACHE = 5;
const ZEROS = Buffer.alloc(4 * 1024 * 1024 + 64);
/** Zero runs are skipped (left as holes) in blocks of this size, aligned to the file's offsets. */
export const HOLE_BLOCK_BYTES = 4096;

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
  badShards: string[];
  tornFiles: string[];
  /** Destinations left alone because they hold the recorded file already. */
  unchanged: number;
  /** Destinations left alone under the overwrite policy, each with why. */
  skipped: SkippedPath[];
  seconds: number;
}

interface Progress {
  bytesWritten: number;
  bytesTotal: number;
  files: number;
  /** Files stored with the torn flag (they changed while being backed up). */
  torn: string[];
}

interface FileJob {
  dest: Buffer;
  entry: Extract<TreeEntry, { type: typeof ENTRY_FILE }>;
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

async function applyMeta(path: Buffer, meta: EntryMeta, link: boolean): Promise<void> {
  const time = meta.mtimeSec + meta.mtimeNsec / 1e9;
  if (process.getuid?.() === 0) {
    await fs.lchown(path, meta.uid, meta.gid).catch(() => undefined);
  }
  if (link) {
    await fs.lutimes(path, time, time);
    return;
  }
  await fs.chmod(path, meta.mode & 0o7777);
  await fs.utimes(path, time, time);
}

export async function restore(repo: Repository, options: RestoreOptions = {}): Promise<RestoreSummary> {
  const started = performance.now();
  const reader = new ObjectReader(repo.index, repo.directory, repo.keys, STRIPE_CACHE);
  // The main thread is busy in a restore (shard reads and checks, file writes): one worker fewer
  // than a backup uses measured faster on two cores (7 of 8 interleaved pairs) and uses less memory.
  const pool = new OpenPool(repo.workers === 0 ? 0 : Math.max(1, repo.workers - 1), repo.keys);
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
  const wanted = [options.include ?? []].flat();
  const include = wanted.length > 0 ? wanted.map((p) => Buffer.from(p.replace(/\/+$/, '') || '/')) : null;
  const keep = (path: Buffer): boolean => options.filter === undefined || options.filter(showPath(path));
  const targetRoot = options.target ? Buffer.from(options.target) : null;
  const dirs: { dest: Buffer; meta: EntryMeta; depth: number }[] = [];
  const files: FileJob[] = [];
  const links: { dest: Buffer; entry: Extract<TreeEntry, { type: typeof ENTRY_SYMLINK }> }[] = [];
  const failures: string[] = [];
  /** The first restored path of each link identity, and the other paths to link to it. */
  const linkLeaders = new Map<string, Buffer>();
  const hardlinks: { dest: Buffer; to: Buffer; entry: FileJob['entry'] }[] = [];

  const walk = async (orig: Buffer, dest: Buffer, tree: Buffer[], depth: number): Promise<void> => {
    let entries: TreeEntry[];
    try {
      entries = decodeTree(await reader.readAll(tree));
    } catch (error) {
      failures.push(`directory ${showPath(orig)}: ${(error as Error).message}`);
      return;
    }
    for (const entry of entries) {
      const o = joinPath(orig, entry.name);
      const d = joinPath(dest, entry.name);
      const inside = isUnder(o, include);
      if (!inside && !(entry.type === ENTRY_DIR && isAncestor(o, include))) continue;
      if (entry.type === ENTRY_DIR) {
        if (inside) dirs.push({ dest: d, meta: entry, depth: depth + 1 });
        else await fs.mkdir(d, { recursive: true, mode: 0o700 });
        await walk(o, d, entry.tree, depth + 1);
      } else if (!keep(o)) continue;
      else if (entry.type === ENTRY_FILE) {
        const key = entry.link && entry.link.length > 0 ? entry.link.toString('hex') : null;
        const first = key === null ? undefined : linkLeaders.get(key);
        if (first !== undefined) hardlinks.push({ dest: d, to: first, entry });
        else {
          if (key !== null) linkLeaders.set(key, d);
          files.push({ dest: d, entry });
        }
      } else links.push({ dest: d, entry });
    }
  };
  for (const root of snapshot.roots) {
    const dest = targetRoot ? joinPath(targetRoot, root.path.subarray(1)) : root.path;
    if (isUnder(root.path, include)) dirs.push({ dest, meta: root.dir, depth: 0 });
    else if (!isAncestor(root.path, include)) continue;
    await fs.mkdir(dest, { recursive: true, mode: 0o700 });
    await walk(root.path, dest, root.dir.tree, 0);
  }
  for (const d of dirs) await fs.mkdir(d.dest, { recursive: true, mode: 0o700 });
  const policy = options.overwrite ?? 'always';
  const fileSort = await sortByDestination(files.splice(0), policy);
  files.push(...fileSort.write);
  const linkSort = await sortByDestination(links.splice(0), policy);
  links.push(...linkSort.write);
  // A hard link's other names follow the same policy; one whose first name was skipped is skipped
  // too (linking it would give it the different file that stays there).
  const skippedPaths = new Set(fileSort.skipped.map((x) => x.path));
  const linkedSort = await sortByDestination(
    hardlinks.splice(0).filter((h) => {
      if (!skippedPaths.has(showPath(h.to))) return true;
      fileSort.skipped.push({
        path: showPath(h.dest),
        reason: `a hard link to ${showPath(h.to)}, which was skipped`,
      });
      return false;
    }),
    policy,
  );
  hardlinks.push(...linkedSort.write);

  const bytesTotal = files.reduce((n, f) => n + f.entry.size, 0);
  const progress: Progress = { bytesWritten: 0, bytesTotal, files: 0, torn: [] };
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
    await restoreBatch(repo, reader, pool, batch, failures, progress, options.onProgress);
  }
  for (const h of hardlinks) {
    const tmp = Buffer.concat([h.dest, Buffer.from(`.pb-tmp-${randomBytes(6).toString('hex')}`)]);
    try {
      await fs.link(h.to, tmp);
      await fs.rename(tmp, h.dest);
      progress.files++;
    } catch (error) {
      await fs.rm(tmp, { force: true });
      failures.push(
        `file ${showPath(h.dest)} (a hard link to ${showPath(h.to)}): ${(error as Error).message}`,
      );
    }
  }
  for (const { dest, entry } of links) {
    const tmp = Buffer.concat([dest, Buffer.from(`.pb-tmp-${randomBytes(6).toString('hex')}`)]);
    try {
      await fs.symlink(entry.target, tmp);
      await applyMeta(tmp, entry, true);
      await fs.rename(tmp, dest);
    } catch (error) {
      await fs.rm(tmp, { force: true });
      failures.push(`symlink ${showPath(dest)}: ${(error as Error).message}`);
    }
  }
  dirs.sort((a, b) => b.depth - a.depth);
  for (const d of dirs) await applyMeta(d.dest, d.meta, false);
  if (failures.length > 0) {
    throw new PipelineError(
      'unrecoverable',
      `restore incomplete: ${failures.length} item(s) could not be recovered and were not written:\n  ${failures.slice(0, 50).join('\n  ')}`,
    );
  }
  return {
    snapshotId: snapshotId.toString('hex'),
    files: files.length + hardlinks.length,
    dirs: dirs.length,
    symlinks: links.length,
    hardlinks: hardlinks.length,
    bytes: bytesTotal,
    rebuiltStripes: reader.stripes.report.rebuilt,
    badShards: reader.stripes.report.badShards,
    tornFiles: progress.torn,
    unchanged: fileSort.unchanged + linkSort.unchanged + linkedSort.unchanged,
    skipped: [...fileSort.skipped, ...linkSort.skipped, ...linkedSort.skipped],
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The runs of `plain` (placed at file offset `position`) to write: every HOLE_BLOCK_BYTES block of
 * the file (aligned to file offsets) that holds a non-zero byte, adjacent ones merged.
 */
export function dataRuns(plain: Buffer, position: number): [number, number][] {
  const runs: [number, number][] = [];
  let from = 0;
  while (from < plain.length) {
    const to = Math.min(plain.length, from + HOLE_BLOCK_BYTES - ((position + from) % HOLE_BLOCK_BYTES));
    if (!plain.subarray(from, to).equals(ZEROS.subarray(0, to - from))) {
      const last = runs.at(-1);
      if (last !== undefined && last[1] === from) last[1] = to;
      else runs.push([from, to]);
    }
    from = to;
  }
  return runs;
}

async function writeAll(
  handle: fs.FileHandle,
  plain: Buffer,
  from: number,
  to: number,
  position: number,
): Promise<void> {
  let done = from;
  while (done < to) {
    const { bytesWritten } = await handle.write(plain, done, to - done, position + done);
    done += bytesWritten;
  }
}

interface Placement {
  id: Buffer;
  offset: number;
  sealedBytes: number;
  codec: number;
  targets: { file: number; position: number }[];
}

async function restoreBatch(
  repo: Repository,
  reader: ObjectReader,
  pool: OpenPool,
  batch: FileJob[],
  failures: string[],
  progress: Progress,
  onProgress: RestoreOptions['onProgress'],
): Promise<void> {
  const failed: (string | null)[] = batch.map(() => null);
  const byStripe = new Map<number, Map<string, Placement>>();
  batch.forEach((job, f) => {
    let position = 0;
    for (const id of job.entry.chunks) {
      const row = repo.index.getObject(id);
      if (!row) {
        failed[f] ??= `chunk ${id.toString('hex')} is not in the index`;
        return;
      }
      let stripe = byStripe.get(row.stripeSeq);
      if (!stripe) {
        stripe = new Map();
        byStripe.set(row.stripeSeq, stripe);
      }
      const key = id.toString('hex');
      let p = stripe.get(key);
      if (!p) {
        p = { id, offset: row.offset, sealedBytes: row.sealedBytes, codec: row.codec, targets: [] };
        stripe.set(key, p);
      }
      p.targets.push({ file: f, position });
      position += row.plainBytes;
    }
    if (!failed[f] && position !== job.entry.size)
      failed[f] = `chunks add up to ${position} bytes, the file had ${job.entry.size}`;
  });
  const handles: (fs.FileHandle | null)[] = batch.map(() => null);
  const temps = batch.map((job) =>
    Buffer.concat([job.dest, Buffer.from(`.pb-tmp-${randomBytes(6).toString('hex')}`)]),
  );
  try {
    // File system calls of different files overlap (each is a thread-pool round trip).
    await eachLimit(batch, FILE_OPS_IN_FLIGHT, async (job, f) => {
      if (failed[f]) return;
      try {
        const h = await fs.open(temps[f]!, 'wx', 0o600);
        handles[f] = h;
        if (job.entry.size > 0) await h.truncate(job.entry.size);
      } catch (error) {
        failed[f] = `cannot create ${showPath(temps[f]!)}: ${(error as Error).message}`;
      }
    });
    const seqs = [...byStripe.keys()].sort((a, b) => a - b);
    const restoreStripe = async (seq: number, placements: Placement[]): Promise<void> => {
      let area: Buffer;
      try {
        area = await reader.stripes.take(seq);
      } catch (error) {
        for (const p of placements) for (const t of p.targets) failed[t.file] ??= (error as Error).message;
        return;
      }
      // Decrypt and verify in a worker (tag and id checked before a byte is written); the area
      // moves there and back without a copy and returns to the cache for later batches.
      const { area: back, results: opened } = await pool.open(area, placements);
      reader.stripes.put(seq, back);
      const writes: Promise<void>[] = [];
      placements.forEach((p, n) => {
        const result = opened[n]!;
        if ('error' in result) {
          for (const t of p.targets) failed[t.file] ??= result.error;
          return;
        }
        const plain = result.plain;
        for (const t of p.targets) {
          if (failed[t.file]) continue;
          progress.bytesWritten += plain.length;
          const handle = handles[t.file]!;
          // Zero blocks are holes already: the file was truncated to its size.
          for (const [from, to] of dataRuns(plain, t.position)) {
            writes.push(
              writeAll(handle, plain, from, to, t.position).catch((error: unknown) => {
                failed[t.file] ??= `write failed: ${(error as Error).message}`;
              }),
            );
          }
        }
      });
      await Promise.all(writes);
      reclaimShortLived(); // this stripe's plaintexts are garbage now (bounded RSS)
      onProgress?.(progress);
    };
    // Up to STRIPES_IN_FLIGHT stripes are read, opened and written at once; the next stripe's
    // shards load ahead.
    const inFlight = new Set<Promise<void>>();
    for (const [n, seq] of seqs.entries()) {
      const placements = [...byStripe.get(seq)!.values()];
      if (placements.every((p) => p.targets.every((t) => failed[t.file]))) continue;
      while (inFlight.size >= STRIPES_IN_FLIGHT) await Promise.race(inFlight);
      if (n + 1 < seqs.length) void reader.stripes.area(seqs[n + 1]!).catch(() => undefined);
      const work: Promise<void> = restoreStripe(seq, placements).finally(() => inFlight.delete(work));
      inFlight.add(work);
    }
    await Promise.all(inFlight);
    await eachLimit(batch, FILE_OPS_IN_FLIGHT, async (job, f) => {
      const h = handles[f];
      if (!h || failed[f]) return;
      const time = job.entry.mtimeSec + job.entry.mtimeNsec / 1e9;
      try {
        if (process.getuid?.() === 0) await h.chown(job.entry.uid, job.entry.gid).catch(() => undefined);
        await h.chmod(job.entry.mode & 0o7777);
        await h.utimes(time, time);
      } catch (error) {
        failed[f] = `cannot set the metadata of ${showPath(temps[f]!)}: ${(error as Error).message}`;
      }
    });
  } finally {
    await eachLimit(handles, FILE_OPS_IN_FLIGHT, async (h) => {
      await h?.close();
    });
  }
  // Each file lands whole by its rename or not at all (its temporary file is removed).
  const landed = batch.map(() => false);
  await eachLimit(batch, FILE_OPS_IN_FLIGHT, async (job, f) => {
    if (failed[f]) {
      await fs.rm(temps[f]!, { force: true });
      return;
    }
    try {
      await fs.rename(temps[f]!, job.dest);
      landed[f] = true;
    } catch (error) {
      await fs.rm(temps[f]!, { force: true });
      failed[f] = (error as Error).message;
    }
  });
  for (const [f, job] of batch.entries()) {
    if (!landed[f]) {
      failures.push(`file ${showPath(job.dest)}: ${failed[f]}`);
      continue;
    }
    progress.files++;
    if (job.entry.flags & FILE_FLAG_TORN) progress.torn.push(showPath(job.dest));
  }
  // Files count once renamed into place, after their batch: report them (the stripe callbacks
  // above ran while the count still said 0).
  onProgress?.(progress);
}

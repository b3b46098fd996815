/**
 * One batch of a restore's files (docs/design.md §6): the work is ordered by stripe, each stripe is
 * read once (rebuilt from any k good shards), and each of its objects is decrypted, authenticated
 * and checked against its id BEFORE a byte of it is written, then written at every place the batch
 * needs it (dedup).
 *
 * - A file of one chunk (every file below the chunker's minimum, 256 KiB) lands whole where its
 *   object is opened and verified, in a restore worker, with synchronous calls (restore-land.ts).
 * - Larger files are written through file handles under a temporary name, as their stripes arrive.
 * - Every file lands by its rename, complete and of the recorded size, or not at all (its
 *   temporary file is removed); all-zero 4 KiB blocks are left as holes.
 */
import * as fs from 'node:fs/promises';
import { eachLimit } from './each-limit.ts';
import type { ObjectRow } from './index-db.ts';
import type { OpenPool, OpenResult, OpenTarget } from './open-pool.ts';
import { showPath } from './path-bytes.ts';
import type { Repository } from './repository.ts';
import {
  eachInSlices,
  type FileMeta,
  type LandRequest,
  landSmallFile,
  mtimeSeconds,
  tempBeside,
} from './restore-land.ts';
import type { ObjectReader } from './stripe-reader.ts';
import { type ENTRY_FILE, FILE_FLAG_TORN, type TreeEntry } from './tree.ts';

/** File system calls (open, metadata, close, rename) of a batch's large files in flight at once. */
const FILE_OPS_IN_FLIGHT = 16;
/** Stripes read, opened and written at once (memory: about 3 x 8 MiB per stripe). */
export const STRIPES_IN_FLIGHT = 3;

export interface FileJob {
  dest: Buffer;
  entry: Extract<TreeEntry, { type: typeof ENTRY_FILE }>;
  /** The first chunk's index row, once orderByStripe looked it up (null: not in the index). */
  firstRow?: ObjectRow | null;
}

export interface Progress {
  bytesWritten: number;
  bytesTotal: number;
  files: number;
  /** Files stored with the torn flag (they changed while being backed up). */
  torn: string[];
}

export type OnProgress = (p: { bytesWritten: number; bytesTotal: number; files: number }) => void;

interface Placement extends OpenTarget {
  id: Buffer;
  /** Where files of several chunks need this object. */
  targets: { file: number; position: number }[];
  land: LandRequest[];
  /** The files of `land`, in order (files of this one chunk). */
  landFiles: number[];
  plainBytes: number;
}

/** Where each file of the batch is going, and how it went. */
interface Destinations {
  failed: (string | null)[];
  /** Files of one chunk landed by their object's worker. */
  landed: boolean[];
  handles: (fs.FileHandle | null)[];
  temps: (Buffer | null)[];
}

const EMPTY = Buffer.alloc(0);

function metaOf(entry: FileJob['entry']): FileMeta {
  return {
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    mtimeSec: entry.mtimeSec,
    mtimeNsec: entry.mtimeNsec,
  };
}

/**
 * The files in the order their first chunks lie in the stripes (files without chunks first), so
 * that consecutive batches read consecutive stripes once each. In the order of their paths, the
 * batches of a tree of small files read each stripe about eleven times over (the backup stored
 * them in the order its parallel scan met them). A file whose first chunk is not in the index
 * keeps its place at the end; its batch reports it.
 */
export function orderByStripe(repo: Repository, files: FileJob[]): FileJob[] {
  return repo.index.readTogether(() => sortByFirstChunk(repo, files));
}

function sortByFirstChunk(repo: Repository, files: FileJob[]): FileJob[] {
  const keyed = files.map((job, n) => {
    const first = job.entry.chunks[0];
    const row = first === undefined ? null : (repo.index.getObject(first) ?? null);
    job.firstRow = row;
    const key = first === undefined ? -1 : row ? row.stripeSeq * 2 ** 32 + row.offset : Number.MAX_VALUE;
    return { job, key, n };
  });
  keyed.sort((a, b) => a.key - b.key || a.n - b.n);
  return keyed.map((x) => x.job);
}

/** The batch's objects grouped by stripe; a file whose chunks are not in the index fails here. */
function placeByStripe(repo: Repository, batch: FileJob[], failed: (string | null)[]) {
  const byStripe = new Map<number, Map<string, Placement>>();
  const placementOf = (id: Buffer, row: NonNullable<ReturnType<Repository['index']['getObject']>>) => {
    let stripe = byStripe.get(row.stripeSeq);
    if (!stripe) {
      stripe = new Map();
      byStripe.set(row.stripeSeq, stripe);
    }
    const key = id.toString('hex');
    let p = stripe.get(key);
    if (!p) {
      p = {
        id,
        offset: row.offset,
        sealedBytes: row.sealedBytes,
        plainBytes: row.plainBytes,
        codec: row.codec,
        targets: [],
        land: [],
        landFiles: [],
      };
      stripe.set(key, p);
    }
    return p;
  };
  batch.forEach((job, f) => {
    const rows = job.entry.chunks.map((id, c) =>
      c === 0 && job.firstRow !== undefined ? (job.firstRow ?? undefined) : repo.index.getObject(id),
    );
    const missing = rows.findIndex((row) => !row);
    if (missing >= 0) {
      failed[f] = `chunk ${job.entry.chunks[missing]!.toString('hex')} is not in the index`;
      return;
    }
    const sizeBytes = rows.reduce((n, row) => n + row!.plainBytes, 0);
    if (sizeBytes !== job.entry.size) {
      failed[f] = `chunks add up to ${sizeBytes} bytes, the file had ${job.entry.size}`;
      return;
    }
    if (rows.length === 1) {
      const p = placementOf(job.entry.chunks[0]!, rows[0]!);
      p.land.push({ dest: job.dest, meta: metaOf(job.entry) });
      p.landFiles.push(f);
      return;
    }
    let position = 0;
    rows.forEach((row, c) => {
      const p = placementOf(job.entry.chunks[c]!, row!);
      p.targets.push({ file: f, position });
      position += row!.plainBytes;
    });
  });
  return byStripe;
}

/** Files of several chunks are written through handles on temporary files. */
async function openDestinations(batch: FileJob[], d: Destinations): Promise<void> {
  // File system calls of different large files overlap (each is a thread-pool round trip).
  await eachLimit(batch, FILE_OPS_IN_FLIGHT, async (job, f) => {
    if (d.failed[f] || job.entry.chunks.length < 2) return;
    const temp = tempBeside(job.dest);
    d.temps[f] = temp;
    try {
      const h = await fs.open(temp, 'wx', 0o600);
      d.handles[f] = h;
      await h.truncate(job.entry.size);
    } catch (error) {
      d.failed[f] = `cannot create ${showPath(temp)}: ${(error as Error).message}`;
    }
  });
}

/**
 * The write requests of each placement (into the open temporary files of its targets that have not
 * failed), and the files they are for, in the same order.
 */
function withWrites(placements: Placement[], d: Destinations): number[][] {
  return placements.map((p) => {
    const live = p.targets.filter((t) => !d.failed[t.file] && d.handles[t.file]);
    p.writes = live.map((t) => ({ fd: d.handles[t.file]!.fd, position: t.position }));
    return live.map((t) => t.file);
  });
}

/** Every file that needs one of `placements` fails with `why`: those written in place and those landed whole. */
function failPlacements(placements: Placement[], d: Destinations, why: string): void {
  for (const p of placements) {
    for (const t of p.targets) d.failed[t.file] ??= why;
    for (const f of p.landFiles) d.failed[f] ??= why;
  }
}

/**
 * Opens (and lands) the placements from the stripe's area; those that fail in an area read
 * unverified are opened again from the verified stripe (its shards hashed and checked, rebuilt
 * from parity when one is bad). Nothing was written for a placement that failed.
 */
async function openChecked(
  reader: ObjectReader,
  pool: OpenPool,
  seq: number,
  area: Buffer,
  placements: Placement[],
): Promise<OpenResult[]> {
  const opened = await pool.open(area, placements);
  if (reader.stripes.isVerified(seq)) return opened;
  const again = opened.flatMap((r, n) => ('error' in r ? [n] : []));
  if (again.length === 0) return opened;
  const retried = await reader.stripes.withArea(
    seq,
    (checked) =>
      pool.open(
        checked,
        again.map((n) => placements[n]!),
      ),
    true,
  );
  again.forEach((n, i) => {
    opened[n] = retried[i]!;
  });
  return opened;
}

async function restoreStripes(
  reader: ObjectReader,
  pool: OpenPool,
  byStripe: Map<number, Map<string, Placement>>,
  d: Destinations,
  progress: Progress,
  onProgress: OnProgress | undefined,
): Promise<void> {
  const restoreStripe = async (seq: number, placements: Placement[]): Promise<void> => {
    // Decrypt and verify in the workers (tag and id checked before a byte is written); the
    // area stays in the cache for later batches.
    const writeFiles = withWrites(placements, d);
    let opened: OpenResult[];
    try {
      opened = await reader.stripes.withArea(seq, (area) => openChecked(reader, pool, seq, area, placements));
    } catch (error) {
      failPlacements(placements, d, (error as Error).message);
      return;
    }
    placements.forEach((p, n) => {
      const result = opened[n]!;
      if ('error' in result) {
        for (const t of p.targets) d.failed[t.file] ??= result.error;
        for (const f of p.landFiles) d.failed[f] ??= result.error;
        return;
      }
      p.landFiles.forEach((f, i) => {
        const why = result.landed[i];
        if (why === null) {
          d.landed[f] = true;
          progress.bytesWritten += p.plainBytes;
        } else d.failed[f] ??= why ?? 'the restore worker did not answer for this file';
      });
      writeFiles[n]!.forEach((f, i) => {
        const why = result.written[i];
        if (why === null) progress.bytesWritten += p.plainBytes;
        else d.failed[f] ??= why ?? 'the restore worker did not answer for this write';
      });
    });
    onProgress?.(progress);
  };
  // Up to STRIPES_IN_FLIGHT stripes are read, opened and written at once; the next stripe's
  // shards load ahead.
  const seqs = [...byStripe.keys()].sort((a, b) => a - b);
  const inFlight = new Set<Promise<void>>();
  // Workers write through this batch's descriptors: none may still be writing when the caller
  // closes them (a closed number is soon another file's), so a failure waits for every stripe.
  let failure: unknown = null;
  for (const [n, seq] of seqs.entries()) {
    const placements = [...byStripe.get(seq)!.values()];
    if (placements.every((p) => p.targets.every((t) => d.failed[t.file]) && p.landFiles.length === 0))
      continue;
    while (inFlight.size >= STRIPES_IN_FLIGHT) await Promise.race(inFlight);
    if (n + 1 < seqs.length) reader.stripes.prefetch(seqs[n + 1]!);
    const work: Promise<void> = restoreStripe(seq, placements)
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
    if (failure !== null) break;
  }
  await Promise.all(inFlight);
  if (failure !== null) throw failure;
}

/** Large files: owner (when root), mode and times through their handles. */
async function setMetadata(batch: FileJob[], d: Destinations): Promise<void> {
  await eachLimit(batch, FILE_OPS_IN_FLIGHT, async (job, f) => {
    const h = d.handles[f];
    if (!h || d.failed[f]) return;
    const time = mtimeSeconds(job.entry);
    try {
      if (process.getuid?.() === 0) await h.chown(job.entry.uid, job.entry.gid).catch(() => undefined);
      await h.chmod(job.entry.mode & 0o7777);
      await h.utimes(time, time);
    } catch (error) {
      d.failed[f] = `cannot set the metadata of ${showPath(d.temps[f]!)}: ${(error as Error).message}`;
    }
  });
}

async function closeHandles(d: Destinations): Promise<void> {
  await eachLimit(d.handles, FILE_OPS_IN_FLIGHT, async (h, f) => {
    d.handles[f] = null;
    await h?.close();
  });
}

/** Every file lands by its rename or not at all; returns which landed. */
async function land(batch: FileJob[], d: Destinations): Promise<boolean[]> {
  const landed = d.landed;
  // Empty files have no object to land them.
  await eachInSlices(batch, (job, f) => {
    if (d.failed[f] || job.entry.chunks.length > 0) return;
    try {
      landSmallFile(job.dest, EMPTY, job.entry);
      landed[f] = true;
    } catch (error) {
      d.failed[f] = (error as Error).message;
    }
  });
  await eachLimit(batch, FILE_OPS_IN_FLIGHT, async (job, f) => {
    const temp = d.temps[f];
    if (!temp) return;
    if (d.failed[f]) {
      await fs.rm(temp, { force: true });
      return;
    }
    try {
      await fs.rename(temp, job.dest);
      landed[f] = true;
    } catch (error) {
      await fs.rm(temp, { force: true });
      d.failed[f] = `cannot rename ${showPath(temp)} into place: ${(error as Error).message}`;
    }
  });
  return landed;
}

export async function restoreBatch(
  repo: Repository,
  reader: ObjectReader,
  pool: OpenPool,
  batch: FileJob[],
  failures: string[],
  progress: Progress,
  onProgress: OnProgress | undefined,
): Promise<void> {
  const failed: (string | null)[] = batch.map(() => null);
  const byStripe = repo.index.readTogether(() => placeByStripe(repo, batch, failed));
  const d: Destinations = {
    failed,
    landed: batch.map(() => false),
    handles: batch.map(() => null),
    temps: batch.map(() => null),
  };
  try {
    await openDestinations(batch, d);
    await restoreStripes(reader, pool, byStripe, d, progress, onProgress);
    await setMetadata(batch, d);
    await closeHandles(d);
  } catch (error) {
    // Nothing of this batch lands: no handle stays open and no temporary file stays behind.
    await closeHandles(d).catch(() => undefined);
    await eachLimit(d.temps, FILE_OPS_IN_FLIGHT, async (temp) => {
      if (temp) await fs.rm(temp, { force: true });
    });
    throw error;
  }
  const landed = await land(batch, d);
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

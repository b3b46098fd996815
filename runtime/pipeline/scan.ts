/**
 * Walks the backed-up directories and turns them into trees (docs/design.md §6).
 *
 * - Never follows a symlink: every entry is lstat'ed; links are stored as links.
 * - Unchanged files (same size, mtime ns, ctime ns and inode as in the scan cache, and every chunk
 *   still stored) are not read at all.
 * - Changed files go to the chunk pool (read as streams, large buffers); a file that changes
 *   while it is read is retried, and after MAX_READ_ATTEMPTS stored with the "torn" flag and a
 *   warning, never silently.
 * - Permission denied and vanished entries are reported as warnings; the run goes on. Special
 *   files (FIFOs, sockets, devices) are skipped with a warning.
 * - Excludes (engine/exclude.ts): entries matching a pattern, the contents of a directory tagged
 *   with a valid CACHEDIR.TAG (the tag file itself is kept), and the paths the caller always
 *   leaves out (the data directory: matched by device and inode, whatever the path) are skipped.
 * - A file with more than one link records its (device, inode) so a restore links it again.
 * - Names are raw bytes end to end (Buffer paths), so non-UTF-8 names and newlines survive.
 * - At most `maxFilesInFlight` files are being read at once, besides up to 512 small files
 *   (<= 64 KiB when stat'ed) that the pool reads in batches.
 */
import { type BigIntStats, lstatSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  CACHEDIR_TAG_NAME,
  CACHEDIR_TAG_SIGNATURE,
  containingDirectory,
  type ExcludeMatcher,
  excludeMatcher,
  isCacheDirTag,
} from '../../engine/index.ts';
import { chunkId, sealChunk } from './chunk-crypto.ts';
import { type ChunkPool, FileReadError } from './chunk-pool.ts';
import { assert, PipelineError } from './errors.ts';
import { findCut } from './fastcdc.ts';
import { type SealedChunk, SMALL_FILE_BYTES } from './file-reader.ts';
import { type IndexDb, KIND_DATA, KIND_TREE } from './index-db.ts';
import { joinPath, showPath } from './path-bytes.ts';
import type { StripeWriter } from './stripe-writer.ts';
import {
  ENTRY_DIR,
  ENTRY_FILE,
  ENTRY_SYMLINK,
  type EntryMeta,
  encodeTree,
  FILE_FLAG_TORN,
  NO_LINK,
  type SnapshotRoot,
  type TreeEntry,
} from './tree.ts';

export const MAX_READ_ATTEMPTS = 3;

export interface ScanStats {
  files: number;
  filesRead: number;
  filesUnchanged: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  bytesRead: number;
  /** Bytes of the unchanged files (taken from the scan cache, not read). */
  bytesUnchanged: number;
  /** Entries left out by an exclude pattern, a CACHEDIR.TAG or an always-excluded path. */
  excluded: number;
  /** FIFOs, sockets and devices skipped (each with a warning). */
  special: number;
}

export interface ScanExcludes {
  /** Glob patterns (engine/exclude.ts). */
  patterns?: readonly string[];
  /** Absolute paths always left out (matched by device and inode); missing ones are ignored. */
  paths?: readonly string[];
}

export interface ScanHooks {
  /** Called on the main thread with each batch of a file being read (tests change files here). */
  onFileBatch?: (path: Buffer, attempt: number) => void | Promise<void>;
  /** Called before a file is read; may throw an errno error (tests simulate EACCES as root). */
  beforeRead?: (path: Buffer) => void;
  onProgress?: (stats: ScanStats) => void;
}

export interface ScannerOptions {
  index: IndexDb;
  writer: StripeWriter;
  pool: ChunkPool;
  keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array };
  maxFilesInFlight?: number;
  hooks?: ScanHooks;
  exclude?: ScanExcludes;
}

/** Counts units (files, or bytes for small files); waiters are served in order. */
class Semaphore {
  private free: number;
  private readonly waiters: { units: number; resolve: () => void }[] = [];
  constructor(private readonly capacity: number) {
    this.free = capacity;
  }
  async acquire(units = 1): Promise<void> {
    assert(Number.isInteger(units) && units >= 1 && units <= this.capacity, 'units within capacity');
    if (this.waiters.length === 0 && this.free >= units) {
      this.free -= units;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ units, resolve }));
  }
  release(units = 1): void {
    this.free += units;
    assert(this.free <= this.capacity, 'released no more than acquired');
    while (this.waiters.length > 0 && this.free >= this.waiters[0]!.units) {
      const next = this.waiters.shift()!;
      this.free -= next.units;
      next.resolve();
    }
  }
}

/** Directory entries stat'ed at once. */
const STAT_GROUP = 64;
/**
 * Small files in flight at once, by bytes: each counts its scan-time size, at least
 * SMALL_FILE_MIN_UNITS, so that up to 512 files of 64 KiB or less, or 128 of SMALL_FILE_BYTES,
 * are in flight; their buffers stay under 32 MiB.
 */
const SMALL_BYTES_IN_FLIGHT = 32 * 1024 * 1024;
const SMALL_FILE_MIN_UNITS = 64 * 1024;
/** Directories being listed at once (a directory waiting for its children holds no slot). */
const MAX_DIRS_LISTING = 8;

export function splitNs(ns: bigint): { sec: number; nsec: number } {
  const sec = ns / 1_000_000_000n;
  return { sec: Number(sec), nsec: Number(ns - sec * 1_000_000_000n) };
}

function metaOf(name: Buffer, st: BigIntStats): EntryMeta {
  const { sec, nsec } = splitNs(st.mtimeNs);
  return {
    name,
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeSec: sec,
    mtimeNsec: nsec,
  };
}

function errnoOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'EIO';
}

function specialKind(st: BigIntStats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'of an unknown type';
}

/** A file's link identity (device and inode, 16 bytes) when it has other links; else NO_LINK. */
export function linkOf(st: BigIntStats): Buffer {
  if (st.nlink <= 1n) return NO_LINK;
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(BigInt.asUintN(64, st.dev), 0);
  b.writeBigUInt64BE(BigInt.asUintN(64, st.ino), 8);
  return b;
}

export class Scanner {
  private readonly o: ScannerOptions;
  private readonly sem: Semaphore;
  /** Small files in flight (batched by the pool): many, each costing at most SMALL_FILE_BYTES. */
  private readonly smallSem: Semaphore;
  /** Directories listing and stat'ing their entries at once. */
  private readonly walkSlots: Semaphore;
  readonly warnings: string[] = [];
  readonly stats: ScanStats = {
    files: 0,
    filesRead: 0,
    filesUnchanged: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    bytesRead: 0,
    bytesUnchanged: 0,
    excluded: 0,
    special: 0,
  };
  private readonly matcher: ExcludeMatcher;
  /** `dev:ino` of the always-excluded paths (filled by the first saveRoot). */
  private excludedIds: Set<string> | null = null;

  constructor(options: ScannerOptions) {
    this.o = options;
    this.matcher = excludeMatcher(options.exclude?.patterns ?? []);
    this.sem = new Semaphore(options.maxFilesInFlight ?? Math.max(2, options.pool.size * 2));
    this.smallSem = new Semaphore(SMALL_BYTES_IN_FLIGHT);
    this.walkSlots = new Semaphore(MAX_DIRS_LISTING);
  }

  private warn(message: string): void {
    if (this.warnings.length < 100_000) this.warnings.push(message);
  }

  async saveRoot(path: Buffer): Promise<SnapshotRoot> {
    const st = await fs.lstat(path, { bigint: true }).catch((error: NodeJS.ErrnoException) => {
      throw new PipelineError(
        'invalid-config',
        `source ${showPath(path)} cannot be read: ${error.code ?? error.message}`,
      );
    });
    if (!st.isDirectory())
      throw new PipelineError('invalid-config', `source ${showPath(path)} is not a directory`);
    if (this.excludedIds === null) {
      const ids = new Set<string>();
      for (const p of this.o.exclude?.paths ?? []) {
        const x = await fs.stat(p, { bigint: true }).catch(() => null);
        if (x !== null) ids.add(`${x.dev}:${x.ino}`);
      }
      this.excludedIds = ids;
    }
    const base = path.subarray(path.lastIndexOf(0x2f) + 1);
    const inside = containingDirectory(path.toString('utf8'), this.o.exclude?.paths ?? []);
    const skip = this.excludedIds.has(`${st.dev}:${st.ino}`) || inside !== null;
    if (skip) {
      this.stats.excluded++;
      this.warn(`source ${showPath(path)} is (inside) the data directory, which is never backed up; skipped`);
    }
    const tree = skip ? await this.saveTree([]) : await this.saveDir(path);
    return {
      path,
      dir: { type: ENTRY_DIR, ...metaOf(base.length > 0 ? base : Buffer.from('root'), st), tree: tree ?? [] },
    };
  }

  /**
   * Store a directory's tree; returns the ids of its pieces, or null if it could not be read.
   * Subdirectories are walked while this one's files are read (each holds a walk slot only while
   * it lists and stats its own entries, never while it waits for its children).
   */
  private async saveDir(path: Buffer): Promise<Buffer[] | null> {
    const pending: Promise<TreeEntry | null>[] = [];
    await this.walkSlots.acquire();
    try {
      let names: Buffer[];
      try {
        // Synchronous, like the stats below: through libuv's pool a listing waited behind the
        // stripe writer's shard writes and fsyncs, and the workers ran out of files to read.
        names = readdirSync(path, { encoding: 'buffer' });
      } catch (error) {
        this.warn(`cannot read directory ${showPath(path)}: ${errnoOf(error)}; skipped`);
        return null;
      }
      this.stats.dirs++;
      names.sort(Buffer.compare);
      if (await this.isTaggedCache(path, names)) {
        this.stats.excluded += names.length - 1;
        names = [Buffer.from(CACHEDIR_TAG_NAME)];
      }
      for (let from = 0; from < names.length; from += STAT_GROUP) {
        const group = names.slice(from, from + STAT_GROUP);
        if (from > 0) await nextTurn(); // a huge directory does not hold the event loop
        // A group's stats are synchronous calls (a few microseconds each, where one through the
        // thread pool cost a round trip and a promise); the loop yields between groups.
        const stats = group.map((name) => this.statEntry(joinPath(path, name)));
        for (const [i, name] of group.entries()) {
          const st = stats[i];
          if (st !== null && st !== undefined) await this.saveEntry(path, name, st, pending);
        }
      }
    } finally {
      this.walkSlots.release();
      // Never leave file reads running unobserved, even when the walk fails.
      await Promise.allSettled(pending);
    }
    const entries = (await Promise.all(pending)).filter((e): e is TreeEntry => e !== null);
    return this.saveTree(entries);
  }

  /** Whether `names` (of the directory `path`) hold a CACHEDIR.TAG that starts with the signature. */
  private async isTaggedCache(path: Buffer, names: Buffer[]): Promise<boolean> {
    const tag = Buffer.from(CACHEDIR_TAG_NAME);
    if (!names.some((n) => n.equals(tag))) return false;
    let handle: fs.FileHandle | null = null;
    try {
      handle = await fs.open(joinPath(path, tag), 'r');
      const head = Buffer.alloc(CACHEDIR_TAG_SIGNATURE.length);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      return isCacheDirTag(head.subarray(0, bytesRead));
    } catch {
      return false; // not a readable regular file: no tag (the entry itself is dealt with as usual)
    } finally {
      await handle?.close();
    }
  }

  private isExcluded(full: Buffer, st: BigIntStats): boolean {
    if (this.excludedIds?.has(`${st.dev}:${st.ino}`)) return true;
    return this.matcher.patterns.length > 0 && this.matcher.matches(full.toString('utf8'), st.isDirectory());
  }

  private statEntry(full: Buffer): BigIntStats | null {
    try {
      return lstatSync(full, { bigint: true });
    } catch (error) {
      this.warn(`cannot stat ${showPath(full)}: ${errnoOf(error)}; skipped`);
      return null;
    }
  }

  /** One directory entry: recurse, read a file (bounded in flight), keep a link, or warn. */
  private async saveEntry(
    path: Buffer,
    name: Buffer,
    st: BigIntStats,
    pending: Promise<TreeEntry | null>[],
  ): Promise<void> {
    const full = joinPath(path, name);
    if (this.isExcluded(full, st)) {
      this.stats.excluded++;
      return;
    }
    if (st.isDirectory()) {
      pending.push(
        this.saveDir(full).then((tree) => (tree ? { type: ENTRY_DIR, ...metaOf(name, st), tree } : null)),
      );
    } else if (st.isFile()) {
      // Small files travel in batches (chunk-pool.ts): many may be in flight at little cost.
      const small = st.size <= BigInt(SMALL_FILE_BYTES);
      const sem = small ? this.smallSem : this.sem;
      const units = small ? Math.max(SMALL_FILE_MIN_UNITS, Number(st.size)) : 1;
      await sem.acquire(units);
      pending.push(this.saveFile(full, name, st).finally(() => sem.release(units)));
    } else if (st.isSymbolicLink()) {
      try {
        const target = await fs.readlink(full, { encoding: 'buffer' });
        this.stats.symlinks++;
        pending.push(Promise.resolve({ type: ENTRY_SYMLINK, ...metaOf(name, st), target }));
      } catch (error) {
        this.warn(`cannot read link ${showPath(full)}: ${errnoOf(error)}; skipped`);
      }
    } else {
      this.stats.special++;
      this.warn(`${showPath(full)} is ${specialKind(st)}, not a file, directory or symlink; skipped`);
    }
  }

  private async saveTree(entries: TreeEntry[]): Promise<Buffer[]> {
    const encoded = encodeTree(entries);
    const ids: Buffer[] = [];
    for (let pos = 0; pos < encoded.length || ids.length === 0; ) {
      const n = findCut(encoded, pos, encoded.length, true);
      const piece = encoded.subarray(pos, pos + n);
      const id = chunkId(this.o.keys.chunkIdKey, piece);
      if (!this.o.writer.has(id)) {
        const { sealed, codec } = sealChunk(this.o.keys.dataKey, id, piece);
        await this.o.writer.add(id, KIND_TREE, sealed, piece.length, codec);
      }
      ids.push(id);
      pos += n;
      if (n === 0) break;
    }
    return ids;
  }

  private unchangedChunks(path: Buffer, st: BigIntStats): Buffer[] | null {
    const row = this.o.index.getFile(path);
    if (!row) return null;
    if (
      BigInt(row.size) !== st.size ||
      row.mtimeNs !== st.mtimeNs.toString() ||
      row.ctimeNs !== st.ctimeNs.toString() ||
      row.ino !== st.ino.toString()
    ) {
      return null;
    }
    assert(row.chunks.length % 32 === 0, 'scan cache chunk list is whole ids');
    // getFile resolved every chunk to a committed object (docs/formats.md, "Index"): no lookup again.
    const ids: Buffer[] = [];
    for (let i = 0; i < row.chunks.length; i += 32) ids.push(row.chunks.subarray(i, i + 32));
    return ids;
  }

  private async saveFile(path: Buffer, name: Buffer, st: BigIntStats): Promise<TreeEntry | null> {
    this.stats.files++;
    const cached = this.unchangedChunks(path, st);
    if (cached) {
      this.stats.filesUnchanged++;
      this.stats.bytes += Number(st.size);
      this.stats.bytesUnchanged += Number(st.size);
      this.o.hooks?.onProgress?.(this.stats);
      return {
        type: ENTRY_FILE,
        ...metaOf(name, st),
        size: Number(st.size),
        chunks: cached,
        flags: 0,
        link: linkOf(st),
      };
    }
    for (let attempt = 1; ; attempt++) {
      let result: Awaited<ReturnType<ChunkPool['run']>>;
      try {
        this.o.hooks?.beforeRead?.(path);
        // A retry (the file changed while read) takes the streaming path whatever its size, and so
        // does every file while an onFileBatch hook injects changes between batches (tests).
        const sizeHint = attempt === 1 && !this.o.hooks?.onFileBatch ? Number(st.size) : undefined;
        result = await this.o.pool.run(
          path,
          async (chunks: SealedChunk[]) => {
            await this.o.hooks?.onFileBatch?.(path, attempt);
            for (const c of chunks) {
              const id = Buffer.from(c.id.buffer, c.id.byteOffset, c.id.length);
              await this.o.writer.add(id, KIND_DATA, c.parts, c.plainBytes, c.codec);
              this.stats.bytesRead += c.plainBytes;
            }
            this.o.hooks?.onProgress?.(this.stats);
          },
          sizeHint,
        );
      } catch (error) {
        if (error instanceof FileReadError || (error as NodeJS.ErrnoException).code !== undefined) {
          const code = errnoOf(error);
          if (['EACCES', 'EPERM', 'ENOENT', 'EISDIR', 'ELOOP', 'EIO', 'ENXIO', 'ETXTBSY'].includes(code)) {
            this.warn(`cannot read ${showPath(path)}: ${code}; skipped`);
            return null;
          }
        }
        throw error;
      }
      const chunks = result.chunkIds.map((id) => Buffer.from(id.buffer, id.byteOffset, id.length));
      const { sec, nsec } = splitNs(BigInt(result.mtimeNs));
      const meta = { ...metaOf(name, st), mtimeSec: sec, mtimeNsec: nsec };
      if (!result.changed || attempt >= MAX_READ_ATTEMPTS) {
        let flags = 0;
        if (result.changed) {
          flags = FILE_FLAG_TORN;
          this.warn(
            `${showPath(path)} kept changing while it was read (${attempt} attempts); stored as possibly torn`,
          );
        } else {
          this.o.writer.addFileRow({
            path,
            size: result.size,
            mtimeNs: result.mtimeNs,
            ctimeNs: result.ctimeNs,
            ino: result.ino,
            chunks: Buffer.concat(chunks),
          });
        }
        this.stats.filesRead++;
        this.stats.bytes += result.size;
        return { type: ENTRY_FILE, ...meta, size: result.size, chunks, flags, link: linkOf(st) };
      }
    }
  }
}

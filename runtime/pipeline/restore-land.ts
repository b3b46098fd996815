/**
 * The file system side of a restore, in synchronous calls a slice at a time (docs/design.md §6.1,
 * "How small files are restored").
 *
 * Every asynchronous file system call is a round trip through libuv's thread pool (a queued work
 * item, a futex wake, a promise). A restore of many small files made seven or eight of them per
 * file (create, truncate, write, owner, mode, times, close, rename) and spent its time in those
 * round trips, not in the disk: the same calls made synchronously cost about 33 us per file. Here
 * a file of one chunk lands whole in the restore worker that opened its object (openAndLand), and
 * directories, symlinks, hard links and empty files on the main thread, synchronously, at most
 * SYNC_SLICE items before the event loop gets a turn.
 */
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { openObject } from './chunk-crypto.ts';
import { showPath } from './path-bytes.ts';
import type { EntryMeta } from './tree.ts';

/** Items done synchronously before the event loop gets a turn (about 5 ms of small files). */
export const SYNC_SLICE = 128;
/** Zero runs are skipped (left as holes) in blocks of this size, aligned to the file's offsets. */
export const HOLE_BLOCK_BYTES = 4096;
/** Zeros to compare blocks against; allocated on first use (backup workers load this module too). */
let zeros: Buffer | null = null;

/** Runs the synchronous `fn` over `items`, letting the event loop run every SYNC_SLICE items. */
export async function eachInSlices<T>(
  items: readonly T[],
  fn: (item: T, index: number) => void,
): Promise<void> {
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % SYNC_SLICE === 0) await nextTurn();
    fn(items[i]!, i);
  }
}

/**
 * This thread's part of temporary names: random once per thread (a restore worker lands
 * thousands of files, and 6 random bytes per file cost about 10 us each), then a counter.
 */
const tempPrefix = `.pb-tmp-${randomBytes(6).toString('hex')}-`;
let tempCounter = 0;

/**
 * A fresh temporary name beside `dest` (same directory, so the final rename is atomic); it is
 * created exclusively, so a name some other process holds fails that file, never overwrites it.
 */
export function tempBeside(dest: Buffer): Buffer {
  tempCounter = (tempCounter + 1) % Number.MAX_SAFE_INTEGER;
  return Buffer.concat([dest, Buffer.from(`${tempPrefix}${tempCounter.toString(36)}`)]);
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
    zeros ??= Buffer.alloc(HOLE_BLOCK_BYTES);
    if (!plain.subarray(from, to).equals(zeros.subarray(0, to - from))) {
      const last = runs.at(-1);
      if (last !== undefined && last[1] === from) last[1] = to;
      else runs.push([from, to]);
    }
    from = to;
  }
  return runs;
}

/** Writes the runs of `body` (dataRuns) at file offset `position` + their start. */
function writeRuns(fd: number, body: Buffer, position: number, runs = dataRuns(body, position)): void {
  for (const [from, to] of runs) {
    for (let done = from; done < to; ) done += fs.writeSync(fd, body, done, to - done, position + done);
  }
}

/** What a landed file gets besides its bytes. */
export type FileMeta = Pick<EntryMeta, 'mode' | 'uid' | 'gid' | 'mtimeSec' | 'mtimeNsec'>;

/** Seconds as Node's utimes takes them (exact to about a microsecond). */
export function mtimeSeconds(meta: FileMeta): number {
  return meta.mtimeSec + meta.mtimeNsec / 1e9;
}

/** The process's umask, read once from /proc; null where unknown (every mode is then set by fchmod). */
const umask = readUmask();

function readUmask(): number | null {
  try {
    const found = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
    return found === null ? null : Number.parseInt(found[1]!, 8);
  } catch {
    return null;
  }
}

/**
 * The mode to create a file with, and whether that is already its recorded mode: a plain mode
 * that the umask leaves whole is given at creation (an fchmod less per file), anything else
 * (setuid, setgid, sticky, or bits the umask clears) is created private and set afterwards.
 */
function creationMode(mode: number): { mode: number; final: boolean } {
  const perm = mode & 0o7777;
  if (umask !== null && (perm & 0o7000) === 0 && (perm & umask) === 0) return { mode: perm, final: true };
  return { mode: 0o600, final: false };
}

/** Whether owners are restored (asked once: a small file's landing is a few syscalls). */
const restoresOwners = process.getuid?.() === 0;
const isRoot = (): boolean => restoresOwners;

/**
 * Writes a small file's `body` whole under a temporary name beside `dest`, sets its owner (when
 * root), mode and times, and renames it into place. On any failure the temporary file is removed
 * and the error names the step and the path.
 */
export function landSmallFile(dest: Buffer, body: Buffer, meta: FileMeta): void {
  const temp = tempBeside(dest);
  let fd = -1;
  let step = 'create';
  try {
    const create = creationMode(meta.mode);
    fd = fs.openSync(temp, 'wx', create.mode);
    const runs = dataRuns(body, 0);
    const whole = runs.length === 1 && runs[0]![0] === 0 && runs[0]![1] === body.length;
    step = 'write';
    if (!whole && body.length > 0) fs.ftruncateSync(fd, body.length); // the holes
    writeRuns(fd, body, 0, runs);
    step = 'set the metadata of';
    if (isRoot()) tryOwner(() => fs.fchownSync(fd, meta.uid, meta.gid));
    if (!create.final) fs.fchmodSync(fd, meta.mode & 0o7777);
    fs.futimesSync(fd, mtimeSeconds(meta), mtimeSeconds(meta));
    step = 'close';
    fs.closeSync(fd);
    fd = -1;
    step = 'rename into place';
    fs.renameSync(temp, dest);
  } catch (error) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw new Error(`cannot ${step} ${showPath(temp)}: ${(error as Error).message}`);
  }
}

/** Owner changes are best effort (a restore as root onto a file system without owners). */
function tryOwner(change: () => void): void {
  try {
    change();
  } catch {
    // kept as the restoring user
  }
}

/** Sets a directory's or symlink's owner (when root), mode (not for symlinks) and times. */
export function applyMetaSync(path: Buffer, meta: EntryMeta, link: boolean): void {
  const time = mtimeSeconds(meta);
  if (isRoot()) tryOwner(() => fs.lchownSync(path, meta.uid, meta.gid));
  if (link) {
    fs.lutimesSync(path, time, time);
    return;
  }
  fs.chmodSync(path, meta.mode & 0o7777);
  fs.utimesSync(path, time, time);
}

/** Creates `make(temp)` beside `dest` and renames it into place; the temporary name is removed on failure. */
export function landBeside(dest: Buffer, make: (temp: Buffer) => void): void {
  const temp = tempBeside(dest);
  try {
    make(temp);
    fs.renameSync(temp, dest);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

/** lstat, or null when nothing is there. */
export function lstatOrNull(path: Buffer): BigIntStats | null {
  return fs.lstatSync(path, { bigint: true, throwIfNoEntry: false }) ?? null;
}

/** A small file to land straight from its one object, where the object is opened. */
export interface LandRequest {
  dest: Uint8Array;
  meta: FileMeta;
}

/** One object of a stripe area to open, and the small files made of it alone. */
export interface OpenTarget {
  id: Uint8Array;
  offset: number;
  sealedBytes: number;
  /** codec.ts; from the index. */
  codec: number;
  /** Small files whose only chunk this is: landed where the object is opened. */
  land?: LandRequest[];
  /** Places in files of several chunks (open, sized temporary files) where the plaintext goes. */
  writes?: WriteRequest[];
}

/**
 * A place for an object's plaintext: a file descriptor of this process (open for writing; thread
 * pool and workers share the table) and the offset in that file.
 */
export interface WriteRequest {
  fd: number;
  position: number;
}

/**
 * Per object, per land request and per write request: null when the file landed or the bytes were
 * written, or why not; or why the object cannot be used at all.
 */
export type OpenResult = { landed: (string | null)[]; written: (string | null)[] } | { error: string };

/**
 * Writes `plain` at `position` of the file `fd`, its zero blocks skipped (the file was sized with
 * truncate, so they read as zeros already); returns null or why it failed.
 */
function writePlain(fd: number, plain: Buffer, position: number): string | null {
  try {
    writeRuns(fd, plain, position);
    return null;
  } catch (error) {
    return `write failed: ${(error as Error).message}`;
  }
}

/**
 * Decrypts and verifies (tag and id) one object of `area`, then lands the small files made of it
 * and writes it where files of several chunks need it. Runs in a restore worker
 * (chunk-worker-main.ts) or inline; nothing is written unless the object verified. The plaintext
 * never leaves this call: it is decoded into this thread's scratch (no fresh buffer per object, no
 * transfer back, no write queued on the main thread).
 */
export function openAndLand(
  keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array },
  area: Uint8Array,
  o: OpenTarget,
): OpenResult {
  let plain: Buffer;
  try {
    if (o.offset + o.sealedBytes > area.length) throw new Error('object lies outside its stripe');
    plain = openObject(
      keys.dataKey,
      keys.chunkIdKey,
      o.id,
      area.subarray(o.offset, o.offset + o.sealedBytes),
      o.codec,
      true,
    );
  } catch (error) {
    return { error: (error as Error).message };
  }
  const landed = (o.land ?? []).map((l) => {
    try {
      landSmallFile(Buffer.from(l.dest.buffer, l.dest.byteOffset, l.dest.byteLength), plain, l.meta);
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  });
  const written = (o.writes ?? []).map((w) => writePlain(w.fd, plain, w.position));
  return { landed, written };
}

/**
 * Read one file, cut it with FastCDC, name each chunk (HMAC), compress it when that pays (zstd)
 * and seal it (XChaCha20-Poly1305).
 * Runs inside a chunk worker (or inline). Sealed chunks go out in batches of at most
 * `batchBytes`; the next read waits until the receiver has taken the batch (backpressure).
 *
 * Torn reads: the file's (size, mtime, ctime) are compared before and after reading, and the bytes
 * read with the size; any difference is reported as `changed` so the caller can retry.
 */
import { type BigIntStats, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { isMainThread } from 'node:worker_threads';
import { chunkId, sealChunkParts } from './chunk-crypto.ts';
import type { Codec } from './codec.ts';
import { Chunker, DEFAULT_CHUNKER } from './fastcdc.ts';

export interface SealedChunk {
  id: Uint8Array;
  /** nonce, ciphertext, tag: concatenated, the sealed object. */
  parts: Uint8Array[];
  plainBytes: number;
  /** How the sealed payload encodes the plaintext (codec.ts). */
  codec: Codec;
}

export interface FileReadResult {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  /** The file changed while it was read (content may be torn). */
  changed: boolean;
  chunkIds: Uint8Array[];
}

export interface FileReadKeys {
  dataKey: Uint8Array;
  chunkIdKey: Uint8Array;
}

export const DEFAULT_BATCH_BYTES = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(DEFAULT_CHUNKER.maxBytes);

function isZero(chunk: Buffer): boolean {
  return chunk.length <= ZEROS.length && chunk.equals(ZEROS.subarray(0, chunk.length));
}

/** A file open for reading: its stat, the next bytes into a buffer (0 at the end), close. */
interface ReadHandle {
  stat(): Promise<BigIntStats>;
  read(into: Buffer): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens `path` for reading. A worker owns its thread and calls the file system synchronously: no
 * thread-pool round trip per call, and no wait behind the stripe writer's writes and fsyncs, which
 * hold libuv's pool (shared by every thread of the process) for tens of milliseconds at a time.
 * The main thread (no workers) goes through the pool.
 */
async function openForRead(path: Buffer): Promise<ReadHandle> {
  if (!isMainThread) {
    const fd = openSync(path, 'r');
    return {
      stat: async () => fstatSync(fd, { bigint: true }),
      read: async (into) => readSync(fd, into, 0, into.length, null),
      close: async () => closeSync(fd),
    };
  }
  const handle = await fs.open(path, 'r');
  return {
    stat: () => handle.stat({ bigint: true }),
    read: async (into) => (await handle.read(into, 0, into.length, null)).bytesRead,
    close: () => handle.close(),
  };
}

export async function readAndSealFile(
  path: Uint8Array,
  keys: FileReadKeys,
  onBatch: (chunks: SealedChunk[]) => Promise<void>,
  batchBytes = DEFAULT_BATCH_BYTES,
  /** Resolves when the receiver has taken every batch (the final stat comes after it). */
  drained: () => Promise<void> = () => Promise.resolve(),
): Promise<FileReadResult> {
  const handle = await openForRead(Buffer.from(path));
  const chunker = takeChunker();
  try {
    const before = await handle.stat();
    const chunkIds: Uint8Array[] = [];
    let batch: SealedChunk[] = [];
    let batchSize = 0;
    let total = 0;
    // Sparse files: a run of zero chunks has one id per length; hash each length once.
    const zeroIds = new Map<number, Buffer>();
    const take = async (chunk: Buffer): Promise<void> => {
      let id: Buffer | undefined;
      if (chunk[0] === 0 && chunk[chunk.length - 1] === 0 && isZero(chunk)) {
        id = zeroIds.get(chunk.length);
        if (id) {
          chunkIds.push(id);
          return;
        }
        id = chunkId(keys.chunkIdKey, chunk);
        zeroIds.set(chunk.length, id);
      }
      id ??= chunkId(keys.chunkIdKey, chunk);
      chunkIds.push(id);
      const { parts, codec } = sealChunkParts(keys.dataKey, id, chunk);
      batch.push({ id, parts, plainBytes: chunk.length, codec });
      batchSize += chunk.length;
      if (batchSize >= batchBytes) {
        const out = batch;
        batch = [];
        batchSize = 0;
        await onBatch(out);
      }
    };
    for (;;) {
      const space = chunker.fill();
      const bytesRead = await handle.read(space);
      if (bytesRead === 0) chunker.finish();
      else {
        chunker.commit(bytesRead);
        total += bytesRead;
      }
      for (let chunk = chunker.next(); chunk; chunk = chunker.next()) await take(chunk);
      if (bytesRead === 0) break;
    }
    if (batch.length > 0) await onBatch(batch);
    await drained();
    const after = await handle.stat();
    return readResult(before, after, total, chunkIds, false);
  } finally {
    giveChunker(chunker);
    await handle.close();
  }
}

/**
 * Chunkers for whole files, kept for the next file: a chunker holds 16 MiB, and a fresh one per
 * file made the kernel hand out and zero new pages for every byte read (page faults in the
 * read itself: a worker spent 1 s of a 5 s backup of the real tree there, where reading the same
 * bytes into a reused buffer takes 0.3 s). A worker reads one whole file at a time; the main
 * thread (no workers) a few: each takes its own, and at most KEPT_CHUNKERS wait here.
 */
const KEPT_CHUNKERS = 2;
const keptChunkers: Chunker[] = [];

function takeChunker(): Chunker {
  const chunker = keptChunkers.pop() ?? new Chunker();
  chunker.reset();
  return chunker;
}

function giveChunker(chunker: Chunker): void {
  if (keptChunkers.length < KEPT_CHUNKERS) keptChunkers.push(chunker);
}

/**
 * A read's result: the file's facts before the read, and `changed` when its size, mtime or ctime
 * moved during the read or the bytes read differ from its size (a torn read to retry).
 */
function readResult(
  before: BigIntStats,
  after: BigIntStats,
  total: number,
  chunkIds: Uint8Array[],
  grew: boolean,
): FileReadResult {
  const changed =
    grew ||
    before.size !== after.size ||
    before.mtimeNs !== after.mtimeNs ||
    before.ctimeNs !== after.ctimeNs ||
    BigInt(total) !== after.size;
  return {
    size: total,
    mtimeNs: before.mtimeNs.toString(),
    ctimeNs: before.ctimeNs.toString(),
    ino: before.ino.toString(),
    changed,
    chunkIds,
  };
}

/**
 * Files this small (by their scan-time size) are read in batches, synchronously, in a worker.
 * 256 KiB rather than 64 KiB: a file read on its own costs four messages between threads and a
 * round trip through the main thread before its worker is free; on a real tree (13,606 files,
 * 485 of them between 64 and 256 KiB) the backup took 0.94x the time (docs/design.md, Small files).
 */
export const SMALL_FILE_BYTES = 256 * 1024;
/** A small file that grew past this while it was read is left to the streaming path. */
const SMALL_READ_LIMIT_BYTES = 4 * SMALL_FILE_BYTES;

let smallChunker: Chunker | null = null;

/** One small file's outcome: its result and sealed chunks, or the error that stopped it. */
export type SmallFileOutcome =
  | { result: FileReadResult; chunks: SealedChunk[] }
  | { error: { code: string; message: string } };

/**
 * Reads, chunks and seals one small file with synchronous calls (a worker owns its thread: no
 * thread-pool round trip per call). Same chunks, ids and change detection as readAndSealFile; a
 * file that grows past SMALL_READ_LIMIT_BYTES while read is reported `changed` (the caller's retry
 * takes the streaming path).
 */
export function readAndSealSmallFile(path: Uint8Array, keys: FileReadKeys): SmallFileOutcome {
  let fd: number;
  try {
    fd = openSync(Buffer.from(path), 'r');
  } catch (error) {
    return { error: errorOf(error) };
  }
  try {
    const before = fstatSync(fd, { bigint: true });
    // One chunker per thread for small files (its 8 MiB buffer allocated once, not per file): the
    // read is synchronous, so no two files share it at once; each chunk is sealed before reuse.
    smallChunker ??= new Chunker();
    const chunker = smallChunker;
    chunker.reset();
    const chunkIds: Uint8Array[] = [];
    const chunks: SealedChunk[] = [];
    let total = 0;
    const take = (chunk: Buffer): void => {
      const id = chunkId(keys.chunkIdKey, chunk);
      chunkIds.push(id);
      const { parts, codec } = sealChunkParts(keys.dataKey, id, chunk);
      chunks.push({ id, parts, plainBytes: chunk.length, codec });
    };
    let grew = false;
    for (;;) {
      const space = chunker.fill();
      const bytesRead = readSync(fd, space, 0, space.length, null);
      if (bytesRead === 0) chunker.finish();
      else {
        chunker.commit(bytesRead);
        total += bytesRead;
      }
      for (let chunk = chunker.next(); chunk; chunk = chunker.next()) take(chunk);
      if (bytesRead === 0) break;
      if (total > SMALL_READ_LIMIT_BYTES) {
        grew = true;
        break;
      }
    }
    const after = fstatSync(fd, { bigint: true });
    return { result: readResult(before, after, total, chunkIds, grew), chunks };
  } catch (error) {
    return { error: errorOf(error) };
  } finally {
    closeSync(fd);
  }
}

function errorOf(error: unknown): { code: string; message: string } {
  const e = error as NodeJS.ErrnoException;
  return { code: e.code ?? 'EIO', message: String(e.message ?? error) };
}

/**
 * A ShardStore over one local directory (one simulated member in local mode).
 *
 * Layout: `<root>/shards/<first two hex>/<id>` and `<root>/tmp/` for writes in progress.
 * A put writes a temporary file, fsyncs it, renames it into place and fsyncs the directory, so a
 * crash leaves either the whole shard or none. Every get hashes the bytes (in the thread pool) and
 * refuses a mismatch.
 * Puts beyond the capacity (the member's pledge) are refused with 'no-space'.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import * as fsSync from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { sha256OffThread } from '../crypto/hash-thread.ts';
import { ensurePrivateDirAsync, PRIVATE_DIR_MODE } from './private-mode.ts';
import { isByteRange, requireShardId, type ShardStore, ShardStoreError } from './shard-store.ts';

export interface DirShardStoreOptions {
  /** Bytes this store may hold (the pledge). */
  capacityBytes: number;
  /** fsync files and directories before a put resolves (default true). */
  durable?: boolean;
  /** Hash the bytes of every put and refuse a mismatch with the id (default true). */
  verifyPuts?: boolean;
}

/** The largest shard a directory store accepts: a bound on memory per get. */
export const MAX_SHARD_BYTES = 512 * 1024 * 1024;
/** Damaged shards kept in `quarantine/` (older ones are deleted). */
export const MAX_QUARANTINE_FILES = 256;

export class DirShardStore implements ShardStore {
  readonly root: string;
  readonly capacityBytes: number;
  private readonly durable: boolean;
  private readonly verifyPuts: boolean;
  private usedBytes: number;
  private readonly inFlight = new Map<string, Promise<void>>();

  private constructor(root: string, options: DirShardStoreOptions, usedBytes: number) {
    this.root = root;
    this.capacityBytes = options.capacityBytes;
    this.durable = options.durable ?? true;
    this.verifyPuts = options.verifyPuts ?? true;
    this.usedBytes = usedBytes;
  }

  static async open(root: string, options: DirShardStoreOptions): Promise<DirShardStore> {
    const { capacityBytes } = options;
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
      throw new ShardStoreError('io', `capacityBytes must be a whole number >= 0, got ${capacityBytes}`);
    }
    await ensurePrivateDirAsync(root);
    await ensurePrivateDirAsync(join(root, 'shards'));
    await fs.rm(join(root, 'tmp'), { recursive: true, force: true });
    await ensurePrivateDirAsync(join(root, 'tmp'));
    let used = 0;
    for (const fan of await fs.readdir(join(root, 'shards'))) {
      await fs.chmod(join(root, 'shards', fan), PRIVATE_DIR_MODE);
      for (const name of await fs.readdir(join(root, 'shards', fan))) {
        used += (await fs.stat(join(root, 'shards', fan, name))).size;
      }
    }
    return new DirShardStore(root, options, used);
  }

  private pathOf(id: string): string {
    return join(this.root, 'shards', id.slice(0, 2), id);
  }

  async put(id: string, bytes: Uint8Array): Promise<void> {
    requireShardId(id);
    if (!(bytes instanceof Uint8Array))
      throw new ShardStoreError('io', 'shard bytes must be a Uint8Array', id);
    if (bytes.length > MAX_SHARD_BYTES) {
      throw new ShardStoreError('io', `shard ${id} is ${bytes.length} bytes, over ${MAX_SHARD_BYTES}`, id);
    }
    if (this.verifyPuts) {
      const actual = await sha256Hex(bytes);
      if (actual !== id)
        throw new ShardStoreError('corrupt', `put of shard ${id}: bytes hash to ${actual}`, id);
    }
    const pending = this.inFlight.get(id);
    if (pending) return pending;
    const work = this.write(id, bytes).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, work);
    return work;
  }

  private async write(id: string, bytes: Uint8Array): Promise<void> {
    const final = this.pathOf(id);
    if (await exists(final)) return;
    if (this.usedBytes + bytes.length > this.capacityBytes) {
      throw new ShardStoreError(
        'no-space',
        `store ${this.root}: shard ${id} (${bytes.length} bytes) does not fit: ${this.usedBytes} of ${this.capacityBytes} bytes used`,
        id,
      );
    }
    this.usedBytes += bytes.length;
    const tmp = join(this.root, 'tmp', `${id}.${randomBytes(6).toString('hex')}`);
    try {
      const handle = await fs.open(
        tmp,
        fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL,
        0o600,
      );
      try {
        let offset = 0;
        while (offset < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
          offset += bytesWritten;
        }
        if (this.durable) await handle.sync();
      } finally {
        await handle.close();
      }
      const dir = join(this.root, 'shards', id.slice(0, 2));
      await fs.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      await fs.rename(tmp, final);
      if (this.durable) await syncDir(dir);
    } catch (error) {
      this.usedBytes -= bytes.length;
      await fs.rm(tmp, { force: true });
      const code = (error as NodeJS.ErrnoException).code === 'ENOSPC' ? 'no-space' : 'io';
      throw new ShardStoreError(
        code,
        `store ${this.root}: writing shard ${id} failed: ${String(error)}`,
        id,
        {
          cause: error,
        },
      );
    }
  }

  async get(id: string): Promise<Uint8Array> {
    requireShardId(id);
    let bytes: Buffer;
    try {
      const stat = await fs.stat(this.pathOf(id));
      if (stat.size > MAX_SHARD_BYTES + 65536) {
        throw new ShardStoreError('corrupt', `store ${this.root}: shard ${id} is ${stat.size} bytes`, id);
      }
      bytes = await fs.readFile(this.pathOf(id));
    } catch (error) {
      if (error instanceof ShardStoreError) throw error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ShardStoreError('not-found', `store ${this.root}: no shard ${id}`, id);
      }
      throw new ShardStoreError(
        'io',
        `store ${this.root}: reading shard ${id} failed: ${String(error)}`,
        id,
        {
          cause: error,
        },
      );
    }
    // A file read into memory of its own is hashed on the hash thread (moved there and back);
    // WebCrypto would copy it first, on this thread.
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const hashed = owned
      ? await sha256OffThread(new Uint8Array(bytes.buffer as ArrayBuffer))
      : { bytes, sha256: await sha256Hex(bytes) };
    if (hashed.sha256 !== id) {
      throw new ShardStoreError(
        'corrupt',
        `store ${this.root}: shard ${id} is corrupt (hashes to ${hashed.sha256})`,
        id,
      );
    }
    return hashed.bytes;
  }

  readRangeSync(id: string, offset: number, length: number): Uint8Array {
    requireShardId(id);
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0)
      throw new ShardStoreError('io', `store ${this.root}: bad range ${offset}+${length} of shard ${id}`, id);
    if (offset + length > MAX_SHARD_BYTES)
      throw new ShardStoreError(
        'corrupt',
        `store ${this.root}: range ${offset}+${length} is past any shard`,
        id,
      );
    const bytes = Buffer.allocUnsafe(length);
    let fd = -1;
    let read = 0;
    try {
      fd = fsSync.openSync(this.pathOf(id), 'r');
      while (read < length) {
        const n = fsSync.readSync(fd, bytes, read, length - read, offset + read);
        if (n === 0) break;
        read += n;
      }
    } catch (error) {
      throw this.readFailure(id, error);
    } finally {
      if (fd >= 0) fsSync.closeSync(fd);
    }
    if (read < length)
      throw new ShardStoreError(
        'corrupt',
        `store ${this.root}: shard ${id} ends before ${offset + length}`,
        id,
      );
    return bytes;
  }

  async readInto(id: string, offset: number, into: Uint8Array, at: number, length: number): Promise<number> {
    requireShardId(id);
    if (!isByteRange(offset, length, MAX_SHARD_BYTES) || !isByteRange(at, length, into.length))
      throw new ShardStoreError('io', `store ${this.root}: bad range ${offset}+${length} of shard ${id}`, id);
    return this.withOpen(id, (handle) => readAt(handle, into, at, offset, length));
  }

  /**
   * Up to `length` bytes of the shard from `offset`, as stored (UNVERIFIED, like readInto), in a
   * buffer no larger than the file holds there: its size is read before anything is allocated,
   * so a request for more than a shard holds (a range request from another member) costs the
   * bytes that exist, not the bytes asked for. Throws 'not-found', or 'io' for a bad range.
   */
  async readRange(id: string, offset: number, length: number): Promise<Buffer> {
    requireShardId(id);
    if (!isByteRange(offset, length, MAX_SHARD_BYTES))
      throw new ShardStoreError('io', `store ${this.root}: bad range ${offset}+${length} of shard ${id}`, id);
    return this.withOpen(id, async (handle) => {
      const { size } = await handle.stat();
      const bytes = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - offset)));
      return bytes.subarray(0, await readAt(handle, bytes, 0, offset, bytes.length));
    });
  }

  /** Runs `use` on the shard's file open for reading; a failure as the store reports it. */
  private async withOpen<T>(id: string, use: (handle: fs.FileHandle) => Promise<T>): Promise<T> {
    try {
      const handle = await fs.open(this.pathOf(id), 'r');
      try {
        return await use(handle);
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw this.readFailure(id, error);
    }
  }

  /** A failed read as the store reports it: 'not-found' for a missing file, 'io' otherwise. */
  private readFailure(id: string, error: unknown): ShardStoreError {
    const code = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not-found' : 'io';
    return new ShardStoreError(code, `store ${this.root}: reading shard ${id} failed: ${String(error)}`, id, {
      cause: error,
    });
  }

  async has(id: string): Promise<boolean> {
    requireShardId(id);
    return exists(this.pathOf(id));
  }

  /**
   * The last `maxBytes` bytes of a stored shard (its trailer, for a pb shard), its size and when
   * it was stored; null when absent. Unverified: for metadata only (a get verifies the whole).
   */
  async readTail(
    id: string,
    maxBytes: number,
  ): Promise<{ tail: Uint8Array; fileBytes: number; storedAtMs: number } | null> {
    requireShardId(id);
    try {
      return await this.withOpen(id, async (handle) => {
        const stat = await handle.stat();
        const tail = Buffer.allocUnsafe(Math.min(stat.size, Math.max(0, maxBytes)));
        const got = await readAt(handle, tail, 0, stat.size - tail.length, tail.length);
        return { tail: tail.subarray(0, got), fileBytes: stat.size, storedAtMs: stat.mtimeMs };
      });
    } catch (error) {
      if (error instanceof ShardStoreError && error.code === 'not-found') return null;
      throw error;
    }
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    for (const fan of await fs.readdir(join(this.root, 'shards'))) {
      for (const name of await fs.readdir(join(this.root, 'shards', fan))) {
        if (/^[0-9a-f]{64}$/.test(name)) out.push(name);
      }
    }
    return out.sort();
  }

  async delete(id: string): Promise<void> {
    await this.remove(id);
  }

  /**
   * Deletes shard `id`; absent is not an error. Returns the bytes this delete freed (0 when it was
   * absent or another delete took it first), so that callers keeping their own count never read
   * a difference that a concurrent put or delete also moved.
   */
  async remove(id: string): Promise<number> {
    requireShardId(id);
    try {
      const stat = await fs.stat(this.pathOf(id));
      await fs.rm(this.pathOf(id));
      this.usedBytes -= stat.size;
      return stat.size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw new ShardStoreError(
        'io',
        `store ${this.root}: deleting shard ${id} failed: ${String(error)}`,
        id,
        {
          cause: error,
        },
      );
    }
  }

  /**
   * Moves a damaged shard out of the store into `<root>/quarantine/` (kept for inspection, never
   * served, listed or counted). Absent: nothing to do. At most MAX_QUARANTINE_FILES are kept (the
   * oldest are deleted). Returns the bytes the store no longer counts.
   */
  async quarantine(id: string): Promise<number> {
    requireShardId(id);
    const dir = join(this.root, 'quarantine');
    await ensurePrivateDirAsync(dir);
    let size: number;
    try {
      size = (await fs.stat(this.pathOf(id))).size;
      await fs.rename(this.pathOf(id), join(dir, `${id}.${Date.now()}`));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw new ShardStoreError(
        'io',
        `store ${this.root}: quarantine of shard ${id} failed: ${String(error)}`,
        id,
        {
          cause: error,
        },
      );
    }
    this.usedBytes -= size;
    const kept = (await fs.readdir(dir)).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
    for (const name of kept.slice(0, Math.max(0, kept.length - MAX_QUARANTINE_FILES)))
      await fs.rm(join(dir, name), { force: true });
    return size;
  }

  async usage(): Promise<{ usedBytes: number; capacityBytes: number }> {
    return { usedBytes: this.usedBytes, capacityBytes: this.capacityBytes };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * SHA-256 in libuv's thread pool (WebCrypto digest is asynchronous): verifying a 4 MiB shard
 * does not hold the event loop, so a restore hashes shards while its main thread writes files.
 */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('hex');
}

/** Reads up to `length` bytes at `offset` of an open file into `into` at `at`; the count read. */
async function readAt(
  handle: fs.FileHandle,
  into: Uint8Array,
  at: number,
  offset: number,
  length: number,
): Promise<number> {
  let read = 0;
  while (read < length) {
    const { bytesRead } = await handle.read(into, at + read, length - read, offset + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return read;
}

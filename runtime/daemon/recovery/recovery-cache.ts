/**
 * The data shards a recovery's rebuild downloaded, kept on this disk for its restore
 * (docs/design.md §10): without them the restore downloads the same bytes a second time, which
 * over a home downlink doubles the days a recovery takes. The engine decides how much may be kept
 * (`recoveryCacheBudget`) and whether it stays for the restore (`keepRecoveryCache`): the restore's
 * own files always come first. The cache is a directory store under the data directory, written
 * without fsync (losing it costs a download, never data) and removed when the recovery ends.
 *
 * Reads are local first: a kept shard is read from the disk, anything else (or a kept shard that
 * fails to read) from its member. Kept shards were verified when fetched or rebuilt; `get` checks
 * their hash again, and the restore authenticates every object it reads from a range.
 */
import { rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { keepRecoveryCache, recoveryCacheBudget } from '../../../engine/index.ts';
import { DirShardStore } from '../../store/dir-shard-store.ts';
import { freeBytesAt } from '../../store/free-space.ts';
import {
  type ListedShard,
  type ShardDirectory,
  type ShardStore,
  ShardStoreError,
} from '../../store/shard-store.ts';
import { formatSize } from '../units.ts';

/** The cache's directory under the repository's data directory. */
export const RECOVERY_CACHE_DIR = 'recovery-cache';
/** Bytes of kept shards being written at once (memory held beyond the rebuild's own). */
const MAX_KEEPING_BYTES = 32 * 1024 * 1024;

/** Removes the cache a crashed recovery left in `dataDir` (the caller holds the data directory's lock). */
export function removeLeftRecoveryCache(dataDir: string): void {
  rmSync(join(dataDir, RECOVERY_CACHE_DIR), { recursive: true, force: true });
}

export class RecoveryCache {
  readonly root: string;
  private store: DirShardStore | null = null;
  /** False once a write failed: nothing more is kept. */
  private keeping = true;
  private keptShards = 0;
  private keptBytes = 0;
  /** Writes under way (each a stripe's shards) and their bytes: bounded by MAX_KEEPING_BYTES. */
  private readonly writing = new Set<Promise<void>>();
  private writingBytes = 0;

  /** `maxBytes`: a bound below the free space's budget (the default: none). */
  constructor(
    dataDir: string,
    private readonly progress: (line: string) => void,
    private readonly maxBytes = Number.MAX_SAFE_INTEGER,
  ) {
    this.root = join(dataDir, RECOVERY_CACHE_DIR);
  }

  /** Starts keeping, within the budget the free space allows (a cache a crashed recovery left is removed). */
  async open(): Promise<void> {
    await this.remove();
    const freeBytes = freeBytesAt(this.root);
    const budgetBytes = Math.min(this.maxBytes, recoveryCacheBudget(freeBytes));
    if (budgetBytes === 0) {
      this.progress(
        `not keeping the downloaded shards for the restore: only ${formatSize(freeBytes)} free at ${this.root}`,
      );
      return;
    }
    this.store = await DirShardStore.open(this.root, {
      capacityBytes: budgetBytes,
      durable: false,
      verifyPuts: false,
    });
  }

  /**
   * Keeps a stripe's data shard files (rebuildIndex's `keepDataShards`); never throws. The writes
   * go on in the background, beside the rebuild's downloads (awaited one by one they waited on a
   * busy event loop: 7.8 s for 860 MB in a rebuild of 9 s); the rebuild waits only while more
   * than MAX_KEEPING_BYTES are being written.
   */
  readonly keep = async (files: readonly { shardId: string; bytes: Uint8Array }[]): Promise<void> => {
    const store = this.store;
    if (store === null || !this.keeping) return;
    const bytes = files.reduce((sum, f) => sum + f.bytes.length, 0);
    const work = this.write(store, files, bytes).finally(() => {
      this.writing.delete(work);
      this.writingBytes -= bytes;
    });
    this.writing.add(work);
    this.writingBytes += bytes;
    while (this.writingBytes > MAX_KEEPING_BYTES) await Promise.race(this.writing);
  };

  private async write(
    store: DirShardStore,
    files: readonly { shardId: string; bytes: Uint8Array }[],
    bytes: number,
  ): Promise<void> {
    try {
      // Every put settles before the write counts as done: a removal never races a put.
      const puts = await Promise.allSettled(files.map(({ shardId, bytes }) => store.put(shardId, bytes)));
      for (const put of puts) if (put.status === 'rejected') throw put.reason;
      if (this.store !== store) return;
      this.keptShards += files.length;
      this.keptBytes += bytes;
    } catch (error) {
      if (this.store !== store || !this.keeping) return;
      // Full (the budget reached, or the disk): what is kept stays readable. Any other failure
      // leaves the kept shards unused, removed before the restore.
      this.keeping = false;
      if (!(error instanceof ShardStoreError && error.code === 'no-space')) this.store = null;
      this.progress(
        `stopped keeping downloaded shards after ${this.keptShards} (${formatSize(this.keptBytes)}): ${(error as Error).message}; the restore downloads the others`,
      );
    }
  }

  /**
   * Before the restore of `restoreBytes`: the kept shards stay when the disk still holds the
   * restore's files beside them, else they are removed and the restore downloads everything.
   */
  async settle(restoreBytes: number): Promise<void> {
    while (this.writing.size > 0) await Promise.race(this.writing);
    if (this.store === null || this.keptShards === 0) return this.remove();
    const freeBytes = freeBytesAt(this.root);
    if (keepRecoveryCache(freeBytes, restoreBytes)) {
      this.progress(
        `the restore reads the ${this.keptShards} shards (${formatSize(this.keptBytes)}) the rebuild downloaded from this disk`,
      );
      return;
    }
    this.progress(
      `removing the ${formatSize(this.keptBytes)} of downloaded shards: ${formatSize(freeBytes)} free, the restore needs ${formatSize(restoreBytes)}; it downloads them again`,
    );
    await this.remove();
  }

  /** Removes the kept shards (idempotent). */
  async remove(): Promise<void> {
    this.store = null;
    while (this.writing.size > 0) await Promise.race(this.writing);
    await fs.rm(this.root, { recursive: true, force: true });
  }

  /** `inner` with every member's reads served from the kept shards first. */
  directory(inner: ShardDirectory): ShardDirectory {
    return {
      members: () => inner.members(),
      storeFor: (member) => localFirst(() => this.store, inner.storeFor(member)),
    };
  }
}

/** A member's store whose reads try the kept shards first; everything else goes to the member. */
function localFirst(local: () => ShardStore | null, remote: ShardStore): ShardStore {
  return {
    put: (id, bytes) => remote.put(id, bytes),
    has: (id) => remote.has(id),
    list: () => remote.list(),
    delete: (id) => remote.delete(id),
    usage: () => remote.usage(),
    get: async (id) => {
      const kept = local();
      if (kept !== null) {
        try {
          return await kept.get(id);
        } catch {}
      }
      return remote.get(id);
    },
    readInto: async (id, offset, into, at, length) => {
      const kept = local();
      if (kept?.readInto !== undefined) {
        try {
          return await kept.readInto(id, offset, into, at, length);
        } catch {}
      }
      if (remote.readInto === undefined)
        throw new ShardStoreError('io', `shard ${id}: not kept, and its member reads no ranges`, id);
      return remote.readInto(id, offset, into, at, length);
    },
    ...(remote.listOwned === undefined
      ? {}
      : { listOwned: (owner: string): Promise<ListedShard[]> => remote.listOwned!(owner) }),
  };
}

/**
 * How much disk a recovery may use to keep the data shards its rebuild downloaded, so that the
 * restore reads them from the disk instead of downloading them a second time (docs/design.md
 * §10). The restore's own files come first: the cache takes at most half of what is free beyond a
 * reserve while the rebuild runs, and is dropped before the restore when what is left free would
 * not hold the snapshot's files and the reserve.
 */
import { EngineError, invariant } from './errors.ts';

/** Free space a recovery's cache never takes (the index, the logs and the system need room). */
export const RECOVERY_CACHE_RESERVE_BYTES = 2 ** 30;

const wholeBytes = (name: string, v: number): void => {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new EngineError('invalid-argument', `${name} must be a whole number of bytes >= 0, got ${v}`);
};

/** The bytes the rebuild may keep on a filesystem with `freeBytes` free. */
export function recoveryCacheBudget(freeBytes: number): number {
  wholeBytes('freeBytes', freeBytes);
  const budgetBytes = Math.max(0, Math.floor((freeBytes - RECOVERY_CACHE_RESERVE_BYTES) / 2));
  invariant(budgetBytes <= freeBytes, 'a recovery cache budget within the free space');
  return budgetBytes;
}

/**
 * Whether the kept shards stay for the restore: only when the space still free holds the
 * restore's `restoreBytes` and the reserve (the cache may share the restore's filesystem).
 */
export function keepRecoveryCache(freeBytes: number, restoreBytes: number): boolean {
  wholeBytes('freeBytes', freeBytes);
  wholeBytes('restoreBytes', restoreBytes);
  return freeBytes >= restoreBytes + RECOVERY_CACHE_RESERVE_BYTES;
}

import { describe, expect, it } from 'vitest';
import { keepRecoveryCache, RECOVERY_CACHE_RESERVE_BYTES, recoveryCacheBudget } from '../../engine/index.ts';

const GiB = 2 ** 30;

describe('the recovery cache budget', () => {
  it('takes at most half of what is free beyond the reserve, nothing on a nearly full disk', () => {
    expect(RECOVERY_CACHE_RESERVE_BYTES).toBe(GiB);
    expect(recoveryCacheBudget(0)).toBe(0);
    expect(recoveryCacheBudget(GiB)).toBe(0);
    expect(recoveryCacheBudget(3 * GiB)).toBe(GiB);
    expect(recoveryCacheBudget(1001 * GiB)).toBe(500 * GiB);
    expect(recoveryCacheBudget(GiB + 3)).toBe(1);
  });

  it('keeps the shards for the restore only when its files and the reserve still fit', () => {
    expect(keepRecoveryCache(10 * GiB, 9 * GiB)).toBe(true);
    expect(keepRecoveryCache(10 * GiB, 9 * GiB + 1)).toBe(false);
    expect(keepRecoveryCache(GiB, 0)).toBe(true);
    expect(keepRecoveryCache(0, 0)).toBe(false);
  });

  it('refuses sizes that are not whole byte counts, naming them', () => {
    expect(() => recoveryCacheBudget(-1)).toThrow(/freeBytes must be a whole number of bytes >= 0, got -1/);
    expect(() => recoveryCacheBudget(Number.NaN)).toThrow(/got NaN/);
    expect(() => keepRecoveryCache(GiB, 1.5)).toThrow(/restoreBytes .* got 1.5/);
  });
});

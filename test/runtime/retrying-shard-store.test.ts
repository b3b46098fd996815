/** RetryingShardStore: transient failures retried with doubling, bounded waits; definitive ones not. */
import { describe, expect, it } from 'vitest';
import { RetryingShardStore } from '../../runtime/store/retrying-shard-store.ts';
import {
  type ShardStore,
  ShardStoreError,
  type ShardStoreErrorCode,
} from '../../runtime/store/shard-store.ts';

const ID = 'a'.repeat(64);

/** A store whose put fails with `codes` in turn, then succeeds. */
function flaky(codes: ShardStoreErrorCode[]): ShardStore & { calls: number } {
  const store = {
    calls: 0,
    async put() {
      const code = codes[store.calls++];
      if (code !== undefined) throw new ShardStoreError(code, `failure ${store.calls}`, ID);
    },
    get: async () => new Uint8Array(0),
    has: async () => true,
    list: async () => [],
    delete: async () => {},
    usage: async () => ({ usedBytes: 0, capacityBytes: 0 }),
  };
  return store;
}

describe('RetryingShardStore', () => {
  it('retries io failures with doubling waits up to the cap, then succeeds', async () => {
    const inner = flaky(['io', 'io', 'io']);
    const waits: number[] = [];
    const retries: number[] = [];
    const store = new RetryingShardStore(inner, {
      attempts: 4,
      firstDelayMs: 100,
      maxDelayMs: 300,
      sleep: async (ms) => void waits.push(ms),
      onRetry: (_what, attempt) => retries.push(attempt),
    });
    await store.put(ID, new Uint8Array(1));
    expect(inner.calls).toBe(4);
    expect(waits).toEqual([100, 200, 300]);
    expect(retries).toEqual([1, 2, 3]);
  });

  it('gives up after the bound with the last error', async () => {
    const inner = flaky(['io', 'io', 'io', 'io', 'io']);
    const store = new RetryingShardStore(inner, { attempts: 3, sleep: async () => {} });
    await expect(store.put(ID, new Uint8Array(1))).rejects.toThrow('failure 3');
    expect(inner.calls).toBe(3);
  });

  it('passes definitive answers on at once', async () => {
    for (const code of ['no-space', 'corrupt', 'not-found', 'invalid-id'] as const) {
      const inner = flaky([code]);
      const store = new RetryingShardStore(inner, { sleep: async () => {} });
      await expect(store.put(ID, new Uint8Array(1))).rejects.toMatchObject({ code });
      expect(inner.calls).toBe(1);
    }
  });

  it('reads go to the inner store once unless retryReads', async () => {
    let gets = 0;
    const inner = {
      ...flaky([]),
      get: async () => {
        gets++;
        throw new ShardStoreError('io', 'down', ID);
      },
    };
    await expect(new RetryingShardStore(inner, { sleep: async () => {} }).get(ID)).rejects.toThrow('down');
    expect(gets).toBe(1);
    await expect(
      new RetryingShardStore(inner, { attempts: 3, retryReads: true, sleep: async () => {} }).get(ID),
    ).rejects.toThrow('down');
    expect(gets).toBe(4);
  });

  it('refuses an unbounded number of attempts', () => {
    expect(() => new RetryingShardStore(flaky([]), { attempts: 0 })).toThrow(RangeError);
    expect(() => new RetryingShardStore(flaky([]), { attempts: 100 })).toThrow(RangeError);
  });
});

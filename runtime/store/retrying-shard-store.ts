/**
 * A ShardStore layer that retries transient failures (restic's backend habit): an 'io' error
 * (a dropped stream, a member restarting, a timeout) is retried with exponential backoff, a
 * bounded number of times; definitive answers ('not-found', 'corrupt', 'no-space', 'invalid-id')
 * are passed on at once. Safe because every operation is idempotent (a put of the same id and
 * bytes, a delete of an absent shard).
 *
 * Reads (`get`, `has`) are not retried unless `retryReads`: a reader has k-of-(k+m) redundancy
 * and does better asking another holder than waiting for this one.
 */
import type { ListedShard, ShardStore, ShardStoreError } from './shard-store.ts';

export interface RetryOptions {
  /** Attempts in all, the first included (1 = no retry). */
  attempts?: number;
  /** Wait before the first retry; doubles each time up to `maxDelayMs`. */
  firstDelayMs?: number;
  maxDelayMs?: number;
  /** Told about each retry (logs). */
  onRetry?: (what: string, attempt: number, error: unknown) => void;
  sleep?: (ms: number) => Promise<void>;
  /** Retry `get` and `has` too (default false). */
  retryReads?: boolean;
}

export const DEFAULT_RETRY_ATTEMPTS = 4;
export const MAX_RETRY_ATTEMPTS = 16;

function transient(error: unknown): boolean {
  return (error as ShardStoreError | undefined)?.code === 'io';
}

export class RetryingShardStore implements ShardStore {
  private readonly attempts: number;
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly inner: ShardStore,
    private readonly options: RetryOptions = {},
  ) {
    this.attempts = options.attempts ?? DEFAULT_RETRY_ATTEMPTS;
    if (!Number.isInteger(this.attempts) || this.attempts < 1 || this.attempts > MAX_RETRY_ATTEMPTS)
      throw new RangeError(`retry attempts must be 1 to ${MAX_RETRY_ATTEMPTS}`);
    this.firstDelayMs = options.firstDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    const listOwned = inner.listOwned?.bind(inner);
    if (listOwned !== undefined) this.listOwned = (owner) => this.retry('list owned', () => listOwned(owner));
    const readInto = inner.readInto?.bind(inner);
    if (readInto !== undefined)
      this.readInto = (id, offset, into, at, length) =>
        this.options.retryReads
          ? this.retry(`read ${id}`, () => readInto(id, offset, into, at, length))
          : readInto(id, offset, into, at, length);
  }

  /** Present when the inner store has it. */
  readonly listOwned?: (owner: string) => Promise<ListedShard[]>;
  /** Present when the inner store has it; retried like `get`. */
  readonly readInto?: (
    id: string,
    offset: number,
    into: Uint8Array,
    at: number,
    length: number,
  ) => Promise<number>;

  private async retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let delay = this.firstDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (!transient(error) || attempt >= this.attempts) throw error;
        this.options.onRetry?.(what, attempt, error);
        await this.sleep(delay);
        delay = Math.min(this.maxDelayMs, delay * 2);
      }
    }
  }

  put(id: string, bytes: Uint8Array): Promise<void> {
    return this.retry(`put ${id}`, () => this.inner.put(id, bytes));
  }
  get(id: string): Promise<Uint8Array> {
    if (!this.options.retryReads) return this.inner.get(id);
    return this.retry(`get ${id}`, () => this.inner.get(id));
  }
  has(id: string): Promise<boolean> {
    if (!this.options.retryReads) return this.inner.has(id);
    return this.retry(`has ${id}`, () => this.inner.has(id));
  }
  list(): Promise<string[]> {
    return this.retry('list', () => this.inner.list());
  }
  delete(id: string): Promise<void> {
    return this.retry(`delete ${id}`, () => this.inner.delete(id));
  }
  usage(): Promise<{ usedBytes: number; capacityBytes: number }> {
    return this.retry('usage', () => this.inner.usage());
  }
}

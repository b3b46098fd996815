/**
 * A token bucket for a bandwidth cap: `take(n)` resolves when n bytes may be sent. The bucket
 * holds at most one second of tokens; a transfer larger than that waits until the bucket is full
 * and then borrows (the balance goes negative), so the average rate holds and a 32 MiB shard
 * never waits forever under a small cap. Takers are served in order (one chain), each wait is
 * bounded by (n + capacity) / rate. Rate 0: no cap.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export class TokenBucket {
  private tokens: number;
  private lastMs: number;
  private chain: Promise<void> = Promise.resolve();
  readonly capacity: number;

  constructor(
    readonly bytesPerSecond: number,
    private readonly clock: Clock = realClock,
  ) {
    if (!Number.isSafeInteger(bytesPerSecond) || bytesPerSecond < 0)
      throw new Error(`bytesPerSecond must be a whole number >= 0, got ${bytesPerSecond}`);
    this.capacity = bytesPerSecond;
    this.tokens = bytesPerSecond;
    this.lastMs = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.lastMs);
    this.lastMs = now;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.bytesPerSecond) / 1000);
  }

  take(bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`cannot take ${bytes} bytes`);
    if (this.bytesPerSecond === 0 || bytes === 0) return Promise.resolve();
    const turn = this.chain.then(async () => {
      const need = Math.min(bytes, this.capacity);
      for (;;) {
        this.refill();
        if (this.tokens >= need) break;
        await this.clock.sleep(Math.ceil(((need - this.tokens) * 1000) / this.bytesPerSecond));
      }
      this.tokens -= bytes;
    });
    this.chain = turn.catch(() => undefined);
    return turn;
  }
}

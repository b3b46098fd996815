/**
 * Worker threads for the CPU-heavy part of a restore: decrypting objects and checking their tags
 * and ids (openObject). The main thread reads and verifies shards and writes files; each stripe
 * area moves to a worker and back (transferred, no copy) and the plaintexts come back
 * transferred. With `workers: 0` the same work runs inline.
 *
 * Bounds: at most MAX_OPEN_JOBS_PER_WORKER areas queued per worker; `open` waits for room.
 */
import { Worker } from 'node:worker_threads';
import { WORKER_URL } from './chunk-pool.ts';
import { assert } from './errors.ts';
import { type OpenResult, type OpenTarget, openAndLand } from './restore-land.ts';

export const MAX_OPEN_JOBS_PER_WORKER = 2;

export type { OpenResult, OpenTarget } from './restore-land.ts';

export interface Opened {
  results: OpenResult[];
  /** The area, handed back (its memory went to the worker and returned). */
  area: Buffer;
}

interface Pending {
  resolve: (opened: Opened) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Pending>;
}

export class OpenPool {
  private readonly keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array };
  private readonly workers: number;
  private readonly slots: Slot[] = [];
  private nextJobId = 1;
  private waiters: (() => void)[] = [];
  private failure: Error | null = null;

  constructor(workers: number, keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array }) {
    assert(Number.isInteger(workers) && workers >= 0 && workers <= 16, '0..16 open workers');
    this.workers = workers;
    this.keys = keys;
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL, {
      resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 128 },
    });
    const slot: Slot = { worker, jobs: new Map() };
    worker.on(
      'message',
      (msg: {
        type: string;
        jobId: number;
        area?: Uint8Array;
        results?: ({ plain: Uint8Array | null; landed: (string | null)[] } | { error: string })[];
      }) => {
        if (msg.type !== 'opened') return;
        const job = slot.jobs.get(msg.jobId);
        if (!job) return;
        slot.jobs.delete(msg.jobId);
        const area = msg.area!;
        job.resolve({
          area: Buffer.from(area.buffer, area.byteOffset, area.byteLength),
          results: (msg.results ?? []).map((r) =>
            'error' in r || r.plain === null
              ? (r as OpenResult)
              : {
                  plain: Buffer.from(r.plain.buffer, r.plain.byteOffset, r.plain.byteLength),
                  landed: r.landed,
                },
          ),
        });
        this.wake();
      },
    );
    worker.on('error', (error) => {
      this.failure = error;
      for (const job of slot.jobs.values()) job.reject(error);
      slot.jobs.clear();
      this.wake();
    });
    return slot;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /**
   * Open `objects` of `area`: tag and id verified for each, in the order given. The area's memory
   * is transferred when it owns its whole ArrayBuffer: use the returned `area` afterwards.
   */
  async open(area: Buffer, objects: OpenTarget[]): Promise<Opened> {
    if (this.workers === 0) return { area, results: objects.map((o) => openAndLand(this.keys, area, o)) };
    while (this.slots.length < this.workers) this.slots.push(this.spawn());
    for (;;) {
      if (this.failure) throw this.failure;
      const slot = this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
      if (slot.jobs.size < MAX_OPEN_JOBS_PER_WORKER) {
        const jobId = this.nextJobId++;
        const owned = area.byteOffset === 0 && area.byteLength === area.buffer.byteLength;
        return new Promise<Opened>((resolve, reject) => {
          slot.jobs.set(jobId, { resolve, reject });
          slot.worker.postMessage(
            { type: 'open', jobId, area, objects, keys: this.keys },
            owned ? [area.buffer as ArrayBuffer] : [],
          );
        });
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}

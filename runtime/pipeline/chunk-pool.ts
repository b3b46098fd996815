/**
 * Worker threads for the CPU-heavy part of a backup: each worker reads a whole file and runs
 * FastCDC, HMAC and XChaCha20-Poly1305 on it (file-reader.ts). The main thread keeps dedup,
 * stripe packing, Reed-Solomon (native, in libuv's pool), shard hashing, writes and the index.
 * With `workers: 0` the same code runs inline (tests, one-core machines).
 *
 * Bounds: one file per worker at a time; each worker has at most two batches (<= 4 MiB of sealed
 * chunks each) waiting for the main thread, which acknowledges a batch only after it has packed
 * it; a file's batches are packed in order and its 'done' comes after its last acknowledgement.
 */
import { Worker } from 'node:worker_threads';
import { assert } from './errors.ts';
import { type FileReadKeys, type FileReadResult, readAndSealFile, type SealedChunk } from './file-reader.ts';

export class FileReadError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'FileReadError';
    this.code = code;
  }
}

interface Job {
  jobId: number;
  path: Uint8Array;
  onBatch: (chunks: SealedChunk[]) => Promise<void>;
  resolve: (result: FileReadResult) => void;
  reject: (error: Error) => void;
  /** The file's batches, packed one after the other. */
  chain: Promise<void>;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

export const WORKER_URL = new URL('./chunk-worker.mjs', import.meta.url);
export const MAX_WORKERS = 16;

export class ChunkPool {
  private readonly keys: FileReadKeys;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextJobId = 1;
  private failure: Error | null = null;

  constructor(workers: number, keys: FileReadKeys) {
    assert(Number.isInteger(workers) && workers >= 0 && workers <= MAX_WORKERS, `0..${MAX_WORKERS} workers`);
    this.keys = keys;
    this.workers = workers;
  }

  /** Workers start on the first file to read: an unchanged re-run starts none. */
  private readonly workers: number;

  get size(): number {
    return this.workers;
  }

  private spawn(): Slot {
    // Small heaps: a worker holds little JS state; its buffers are external memory.
    const worker = new Worker(WORKER_URL, {
      resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 128 },
    });
    const slot: Slot = { worker, job: null };
    worker.on(
      'message',
      (msg: {
        type: string;
        jobId: number;
        chunks?: SealedChunk[];
        result?: FileReadResult;
        code?: string;
        message?: string;
      }) => {
        const job = slot.job;
        if (!job || job.jobId !== msg.jobId) return;
        if (msg.type === 'chunks') {
          // Batches of one file are packed in order, one after the other.
          const chunks = msg.chunks ?? [];
          job.chain = job.chain.then(() => job.onBatch(chunks));
          job.chain.then(
            () => worker.postMessage({ type: 'ack', jobId: job.jobId }),
            (error: Error) => {
              if (slot.job !== job) return; // a later batch of a job already failed
              this.failure = error;
              slot.job = null;
              job.reject(error);
              void worker.terminate();
              this.replace(slot);
            },
          );
        } else if (msg.type === 'done') {
          slot.job = null;
          job.resolve(msg.result!);
          this.dispatch();
        } else if (msg.type === 'error') {
          slot.job = null;
          job.reject(new FileReadError(msg.code ?? 'EIO', msg.message ?? 'read failed'));
          this.dispatch();
        }
      },
    );
    worker.on('error', (error) => {
      this.failure = error;
      const job = slot.job;
      slot.job = null;
      job?.reject(error);
    });
    return slot;
  }

  private replace(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots[i] = this.spawn();
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.postMessage({ type: 'file', jobId: job.jobId, path: job.path, keys: this.keys });
    }
  }

  /** Read, chunk and seal one file; `onBatch` receives the sealed chunks in order. */
  run(path: Uint8Array, onBatch: (chunks: SealedChunk[]) => Promise<void>): Promise<FileReadResult> {
    if (this.workers === 0) return readAndSealFile(path, this.keys, onBatch);
    while (this.slots.length < this.workers) this.slots.push(this.spawn());
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ jobId: this.nextJobId++, path, onBatch, resolve, reject, chain: Promise.resolve() });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}

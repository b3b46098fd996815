/**
 * Worker threads for the CPU-heavy part of a backup: each worker reads a whole file and runs
 * FastCDC, HMAC and XChaCha20-Poly1305 on it (file-reader.ts). The main thread keeps dedup,
 * stripe packing, Reed-Solomon (native, in libuv's pool), shard hashing, writes and the index.
 * With `workers: 0` the same code runs inline (tests, one-core machines).
 *
 * Bounds: one file (or up to SMALL_BATCHES_PER_WORKER batches of small files) per worker at a
 * time; each worker has at most two batches (<= 4 MiB of sealed chunks each) waiting for the main
 * thread, which acknowledges a batch only after it has packed it; a file's batches are packed in order and its 'done' comes after its
 * last acknowledgement. Small files (<= SMALL_FILE_BYTES when scanned) go in batches of at most
 * SMALL_BATCH_FILES files or SMALL_BATCH_BYTES, answered in one message; the scanner bounds how
 * many are in flight.
 */
import { Worker } from 'node:worker_threads';
import { assert } from './errors.ts';
import {
  type FileReadKeys,
  type FileReadResult,
  readAndSealFile,
  type SealedChunk,
  SMALL_FILE_BYTES,
  type SmallFileOutcome,
} from './file-reader.ts';

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

/** Small files read by one worker in one message (file-reader.ts readAndSealSmallFile). */
interface SmallBatch {
  jobId: number;
  files: Job[];
  bytes: number;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  /** The small-file batches sent to the worker, oldest first (then `job` is null). */
  small: SmallBatch[];
}

/**
 * Small-file batches a worker may hold at once: it starts the next as soon as it has answered one,
 * instead of waiting a round trip through the main thread (which may be packing a stripe).
 */
export const SMALL_BATCHES_PER_WORKER = 2;

/** A small-file batch goes out at this many files or bytes (scan-time sizes), or when the scan yields. */
export const SMALL_BATCH_FILES = 128;
export const SMALL_BATCH_BYTES = 2 * 1024 * 1024;

export const WORKER_URL = new URL('./chunk-worker.mjs', import.meta.url);
export const MAX_WORKERS = 16;

export class ChunkPool {
  private readonly keys: FileReadKeys;
  private readonly slots: Slot[] = [];
  private readonly queue: (Job | SmallBatch)[] = [];
  /** Small files waiting to fill a batch. */
  private filling: SmallBatch | null = null;
  private flushScheduled = false;
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
      resourceLimits: { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 128 },
    });
    const slot: Slot = { worker, job: null, small: [] };
    worker.on(
      'message',
      (msg: {
        type: string;
        jobId: number;
        chunks?: SealedChunk[];
        result?: FileReadResult;
        code?: string;
        message?: string;
        files?: SmallFileOutcome[];
      }) => {
        if (msg.type === 'smallDone') {
          this.smallDone(slot, msg.jobId, msg.files ?? []);
          return;
        }
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
      const small = slot.small;
      slot.small = [];
      for (const batch of small) for (const f of batch.files) f.reject(error);
    });
    return slot;
  }

  private replace(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots[i] = this.spawn();
    this.dispatch();
  }

  private dispatch(): void {
    // First every idle worker gets one piece of work, then busy ones a second small batch.
    for (const depth of [1, SMALL_BATCHES_PER_WORKER]) {
      for (const slot of this.slots) {
        if (this.queue.length === 0) return;
        if (slot.job || slot.small.length >= depth) continue;
        const next = this.queue[0]!;
        if ('files' in next) {
          this.queue.shift();
          slot.small.push(next);
          const paths = next.files.map((f) => f.path);
          slot.worker.postMessage({ type: 'smallFiles', jobId: next.jobId, paths, keys: this.keys });
        } else if (slot.small.length === 0) {
          this.queue.shift();
          slot.job = next;
          slot.worker.postMessage({ type: 'file', jobId: next.jobId, path: next.path, keys: this.keys });
        }
      }
    }
  }

  /** A small-file batch came back: each file's chunks are packed, in order, then it resolves. */
  private smallDone(slot: Slot, jobId: number, outcomes: SmallFileOutcome[]): void {
    const batch = slot.small[0];
    if (!batch || batch.jobId !== jobId) return;
    slot.small.shift();
    assert(outcomes.length === batch.files.length, 'one outcome per small file');
    this.dispatch();
    let chain = Promise.resolve();
    for (const [i, file] of batch.files.entries()) {
      const outcome = outcomes[i]!;
      if ('error' in outcome) {
        file.reject(new FileReadError(outcome.error.code, outcome.error.message));
        continue;
      }
      chain = chain
        .then(() => file.onBatch(outcome.chunks))
        .then(() => file.resolve(outcome.result), file.reject);
    }
  }

  /** Queues the batch being filled (if any) for the next free worker. */
  private flushSmall(): void {
    this.flushScheduled = false;
    const batch = this.filling;
    if (batch === null) return;
    this.filling = null;
    this.queue.push(batch);
    this.dispatch();
  }

  /**
   * Read, chunk and seal one file; `onBatch` receives the sealed chunks in order. A file whose
   * scan-time size (`sizeHint`) is at most SMALL_FILE_BYTES joins a small-file batch: one message
   * to a worker for many files, read there without thread-pool round trips.
   */
  run(
    path: Uint8Array,
    onBatch: (chunks: SealedChunk[]) => Promise<void>,
    sizeHint?: number,
  ): Promise<FileReadResult> {
    if (this.workers === 0) return readAndSealFile(path, this.keys, onBatch);
    while (this.slots.length < this.workers) this.slots.push(this.spawn());
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const job = { jobId: this.nextJobId++, path, onBatch, resolve, reject, chain: Promise.resolve() };
      if (sizeHint !== undefined && sizeHint <= SMALL_FILE_BYTES) this.addSmall(job, sizeHint);
      else {
        this.queue.push(job);
        this.dispatch();
      }
    });
  }

  private addSmall(job: Job, bytes: number): void {
    this.filling ??= { jobId: this.nextJobId++, files: [], bytes: 0 };
    this.filling.files.push(job);
    this.filling.bytes += bytes;
    if (this.filling.files.length >= SMALL_BATCH_FILES || this.filling.bytes >= SMALL_BATCH_BYTES) {
      this.flushSmall();
    } else if (!this.flushScheduled) {
      // The scan yields to the event loop between directories' stats: what was gathered goes then.
      this.flushScheduled = true;
      setImmediate(() => this.flushSmall());
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}

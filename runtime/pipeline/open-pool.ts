/**
 * Worker threads for the CPU-heavy part of a restore: decrypting objects and checking their tags
 * and ids (openObject), and writing the plaintexts into the files (restore-land.ts, openAndLand).
 * The main thread reads shards and opens and closes files; each stripe area moves to a worker
 * (shared or copied) and only the outcome per file comes back. With `workers: 0` the same work
 * runs inline.
 *
 * A stripe's objects are split between the workers (`splitTargets`) when it holds enough small
 * files to land: a restore's batch of small files is mostly one stripe, and creating a file can
 * cost the kernel more than decrypting it (docs/design.md §6.1), so one worker per stripe left the
 * other idle. An area in shared memory (a stripe a restore read straight from its shards) is
 * shared with the workers as it is; any other area (a stripe rebuilt from parity) gives each part
 * a copy of the bytes it covers. Either way the area stays in the stripe cache, where the next
 * batch, or one running beside this one, finds it without reading the stripe again.
 *
 * Bounds: at most MAX_OPEN_JOBS_PER_WORKER areas queued per worker; `open` waits for room.
 */
import { Worker } from 'node:worker_threads';
import { WORKER_URL } from './chunk-pool.ts';
import { assert } from './errors.ts';
import { type OpenResult, type OpenTarget, openAndLand } from './restore-land.ts';

export const MAX_OPEN_JOBS_PER_WORKER = 2;
/** A stripe's objects are split between workers only when it has at least this many files to land. */
export const MIN_LANDS_TO_SPLIT = 16;
/** Landing one small file weighs as much as opening this many bytes (measured: ~200 us a create). */
const LAND_WEIGHT_BYTES = 256 * 1024;

export type { OpenResult, OpenTarget } from './restore-land.ts';

interface Pending {
  resolve: (opened: OpenResult[]) => void;
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
    worker.on('message', (msg: { type: string; jobId: number; results?: OpenResult[] }) => {
      if (msg.type !== 'opened') return;
      const job = slot.jobs.get(msg.jobId);
      if (!job) return;
      slot.jobs.delete(msg.jobId);
      job.resolve(msg.results ?? []);
      this.wake();
    });
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

  /** Open `objects` of `area`: tag and id verified for each, results in the order given. */
  async open(area: Buffer, objects: OpenTarget[]): Promise<OpenResult[]> {
    if (this.workers === 0) return objects.map((o) => openAndLand(this.keys, area, o));
    const parts = splitTargets(objects, this.workers);
    const results: OpenResult[] = new Array(objects.length);
    const shared = area.buffer instanceof SharedArrayBuffer;
    await Promise.all(
      parts.map(async (part) => {
        const { piece, rebased } = shared
          ? { piece: area, rebased: part.map((i) => objects[i]!) }
          : copyPart(area, objects, part);
        const opened = await this.openWhole(piece, rebased);
        part.forEach((i, n) => {
          results[i] = opened[n]!;
        });
      }),
    );
    return results;
  }

  /**
   * Starts the workers now: each spends about 0.1 s loading its code, which a restore's main
   * thread would otherwise wait for after walking the trees.
   */
  warm(): void {
    while (this.slots.length < this.workers) this.slots.push(this.spawn());
  }

  /** Opens every object of `area` in one worker (shared memory is shared, a copy is moved). */
  private async openWhole(area: Buffer, objects: OpenTarget[]): Promise<OpenResult[]> {
    this.warm();
    for (;;) {
      if (this.failure) throw this.failure;
      const slot = this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
      if (slot.jobs.size < MAX_OPEN_JOBS_PER_WORKER) {
        const jobId = this.nextJobId++;
        const owned =
          !(area.buffer instanceof SharedArrayBuffer) &&
          area.byteOffset === 0 &&
          area.byteLength === area.buffer.byteLength;
        return new Promise<OpenResult[]>((resolve, reject) => {
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

/**
 * The objects (indices, by offset) in at most `workers` parts of about equal work, each a run of
 * neighbouring objects; one part when there are too few small files to land for a split to pay.
 */
export function splitTargets(objects: readonly OpenTarget[], workers: number): number[][] {
  const order = objects.map((_, i) => i).sort((a, b) => objects[a]!.offset - objects[b]!.offset);
  const lands = objects.reduce((n, o) => n + (o.land?.length ?? 0), 0);
  if (workers < 2 || lands < MIN_LANDS_TO_SPLIT) return [order];
  const weight = (o: OpenTarget) => o.sealedBytes + (o.land?.length ?? 0) * LAND_WEIGHT_BYTES;
  const total = objects.reduce((n, o) => n + weight(o), 0);
  const parts: number[][] = [[]];
  let sum = 0;
  for (const i of order) {
    const share = (total * parts.length) / workers;
    if (sum >= share && parts.length < workers) parts.push([]);
    parts.at(-1)!.push(i);
    sum += weight(objects[i]!);
  }
  assert(parts.reduce((n, p) => n + p.length, 0) === objects.length, 'every object is in exactly one part');
  return parts.filter((p) => p.length > 0);
}

/** A copy of the bytes of `area` that the part's objects cover, and the objects placed in it. */
function copyPart(
  area: Buffer,
  objects: readonly OpenTarget[],
  part: readonly number[],
): { piece: Buffer; rebased: OpenTarget[] } {
  let from = Number.POSITIVE_INFINITY;
  let to = 0;
  for (const i of part) {
    const o = objects[i]!;
    from = Math.min(from, o.offset);
    to = Math.max(to, o.offset + o.sealedBytes);
  }
  // An object outside the area is opened (and refused) by the worker as it would be whole.
  from = Math.min(from, area.length);
  const end = Math.min(to, area.length);
  const piece = Buffer.allocUnsafeSlow(Math.max(0, end - from));
  area.copy(piece, 0, from, end);
  return { piece, rebased: part.map((i) => ({ ...objects[i]!, offset: objects[i]!.offset - from })) };
}

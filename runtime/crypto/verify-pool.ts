/**
 * Verifies received ops on worker threads (node:crypto Ed25519), so a large op log arriving at
 * once (a recovery, a new member's first sync) uses every core. Each op is decoded and verified
 * exactly once, in a worker; the main thread keeps the decoded ops. Bounded: batches of at most
 * MAX_BATCH_OPS ops, at most MAX_IN_FLIGHT batches queued per worker.
 */
import { Worker } from 'node:worker_threads';
import type { EngineErrorCode, GroupOp } from '../../engine/index.ts';

export const MAX_BATCH_OPS = 1024;
const MAX_IN_FLIGHT = 64;

export interface VerifyRequest {
  readonly id: number;
  readonly batch: readonly Uint8Array[];
}
export type VerifyResult =
  | { readonly ok: GroupOp }
  | { readonly error: { readonly code: EngineErrorCode | 'crash'; readonly message: string } };
export interface VerifyReply {
  readonly id: number;
  readonly results: VerifyResult[];
}

interface Waiter {
  readonly resolve: (results: VerifyResult[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The worker is TypeScript like the rest of pb (run through tsx): on Node 20 a worker ignores
 * `--import tsx` in execArgv, so a tiny bootstrap registers tsx's loader, then imports the worker.
 */
const WORKER_BOOTSTRAP = `
import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ register }) => { register(); return import(${JSON.stringify(new URL('./verify-worker.ts', import.meta.url).href)}); });
`;

interface Slot {
  readonly worker: Worker;
  readonly waiting: Map<number, Waiter>;
}

export class VerifyPool {
  readonly #slots: Slot[];
  #nextId = 0;
  #next = 0;

  constructor(threads: number) {
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new Error(`threads must be a whole number from 1 to 64, got ${threads}`);
    }
    this.#slots = Array.from({ length: threads }, () => {
      const worker = new Worker(WORKER_BOOTSTRAP, { eval: true });
      const waiting = new Map<number, Waiter>();
      worker.on('message', (reply: VerifyReply) => {
        const done = waiting.get(reply.id);
        if (done === undefined) throw new Error(`verify pool: reply to unknown batch ${reply.id}`);
        waiting.delete(reply.id);
        if (waiting.size === 0) worker.unref(); // an idle pool does not keep the process alive
        done.resolve(reply.results);
      });
      worker.on('error', (e) => {
        for (const done of waiting.values()) done.reject(new Error(`verify worker failed: ${String(e)}`));
        waiting.clear();
      });
      worker.unref();
      return { worker, waiting };
    });
  }

  /** Decodes and verifies every op; results are in input order. */
  async decodeAll(opBytes: readonly Uint8Array[]): Promise<VerifyResult[]> {
    const batches: Promise<VerifyResult[]>[] = [];
    for (let i = 0; i < opBytes.length; i += MAX_BATCH_OPS) {
      batches.push(this.#send(opBytes.slice(i, i + MAX_BATCH_OPS)));
    }
    return (await Promise.all(batches)).flat();
  }

  #send(batch: readonly Uint8Array[]): Promise<VerifyResult[]> {
    const slot = this.#slots[this.#next++ % this.#slots.length]!;
    if (slot.waiting.size >= MAX_IN_FLIGHT) {
      return Promise.reject(
        new Error(`verify pool: more than ${MAX_IN_FLIGHT} batches waiting on one worker`),
      );
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      slot.waiting.set(id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage({ id, batch } satisfies VerifyRequest);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}

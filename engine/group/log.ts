/**
 * An in-memory op set: where received bytes become verified ops, once. Bounded; reports every
 * rejected, duplicate (replayed) or added op so the shell can log and answer the sender.
 */
import { EngineError } from '../errors.ts';
import { GroupError } from './errors.ts';
import { MAX_FOLD_OPS } from './fold.ts';
import { type DecodeOptions, decodeOp, type GroupOp } from './ops.ts';

export type AddResult =
  | { readonly status: 'added'; readonly op: GroupOp }
  | { readonly status: 'duplicate'; readonly hash: string }
  | { readonly status: 'rejected'; readonly error: EngineError };

export class OpLog {
  readonly #ops = new Map<string, GroupOp>();
  readonly #decode: DecodeOptions;
  readonly #maxOps: number;

  constructor(options: DecodeOptions & { maxOps?: number } = {}) {
    this.#decode = options.verify === undefined ? {} : { verify: options.verify };
    this.#maxOps = options.maxOps ?? MAX_FOLD_OPS;
  }

  get size(): number {
    return this.#ops.size;
  }

  /** Decodes and verifies `bytes` (never again later) and keeps the op unless it is known. */
  add(bytes: Uint8Array): AddResult {
    let op: GroupOp;
    try {
      op = decodeOp(bytes, this.#decode);
    } catch (e) {
      if (e instanceof EngineError) return { status: 'rejected', error: e };
      throw e;
    }
    return this.addOp(op);
  }

  /** Keeps an op already verified (from `signOp` or `decodeOp`). */
  addOp(op: GroupOp): AddResult {
    if (this.#ops.has(op.hash)) return { status: 'duplicate', hash: op.hash };
    if (this.#ops.size >= this.#maxOps) {
      return {
        status: 'rejected',
        error: new GroupError('too-large', `the op log holds at most ${this.#maxOps} ops`),
      };
    }
    this.#ops.set(op.hash, op);
    return { status: 'added', op };
  }

  get(hash: string): GroupOp | undefined {
    return this.#ops.get(hash);
  }

  has(hash: string): boolean {
    return this.#ops.has(hash);
  }

  ops(): GroupOp[] {
    return [...this.#ops.values()];
  }

  hashes(): string[] {
    return [...this.#ops.keys()];
  }
}

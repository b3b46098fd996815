/**
 * Gives a burst's memory back once the burst is over (docs/design.md §2, Idle cost).
 *
 * A daemon's start (opening the index, linking, the first sync and repair rounds) and a backup
 * run grow V8's heap: the young generation to its full 2 x 16 MiB, old-space pages left
 * fragmented. V8 gives that back by itself only when its memory reducer decides the process is
 * idle, which after a start took 60 to 70 s, holding about 30 MiB more RSS than the member needs
 * meanwhile. `MemoryTrim.soon()` asks for one forced full collection a little after the burst (it
 * frees and returns the old generation's empty pages): a few milliseconds of the main thread, at
 * most once per `minGapMs`.
 *
 * The collection is reached through `gc`, which Node exposes only under `--expose-gc`; the flag
 * is set at run time and the function taken from a fresh context (a context made after the flag
 * has it). It is called without options: on Node 20, `gc({ type: 'major', ... })` collects
 * nothing (measured: the heap stays as it was), while `gc()` collects at once.
 * If the function cannot be had, trimming is off and the daemon says so once. The flag holds for
 * the whole process: contexts and workers made later see a `gc` global too, which nothing uses.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** After a burst: long enough for its tail (the last writes, the sockets' buffers) to end. */
export const TRIM_DELAY_MS = 15_000;
/** At most one trim in this long, however many bursts ask. */
export const TRIM_MIN_GAP_MS = 60_000;

type FullGc = () => void;

let collector: { gc: FullGc | null; problem: string | null } | undefined;

/** V8's full collection, or null and why when this runtime does not give it (found out once). */
export function fullCollector(): { gc: FullGc | null; problem: string | null } {
  if (collector !== undefined) return collector;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') throw new Error('gc is not a function in a new context');
    collector = { gc: gc as FullGc, problem: null };
  } catch (error) {
    collector = { gc: null, problem: (error as Error).message };
  }
  return collector;
}

export interface TrimOptions {
  delayMs?: number;
  minGapMs?: number;
  log: (line: string) => void;
  /** Injected in tests; the real one is `fullCollector`. */
  collect?: () => void;
}

export class MemoryTrim {
  private timer: NodeJS.Timeout | null = null;
  private lastMs = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private readonly delayMs: number;
  private readonly minGapMs: number;

  constructor(private readonly options: TrimOptions) {
    this.delayMs = options.delayMs ?? TRIM_DELAY_MS;
    this.minGapMs = options.minGapMs ?? TRIM_MIN_GAP_MS;
    if (!(this.delayMs >= 0 && this.minGapMs >= 0)) throw new Error('MemoryTrim: delays must be >= 0 ms');
  }

  /** A burst ended: one trim `delayMs` from now, unless one is due already or ran too recently. */
  soon(): void {
    if (this.stopped || this.timer !== null) return;
    const waitMs = Math.max(this.delayMs, this.lastMs + this.minGapMs - Date.now());
    this.timer = setTimeout(() => this.trim(), waitMs);
    this.timer.unref();
  }

  private trim(): void {
    this.timer = null;
    if (this.stopped) return;
    this.lastMs = Date.now();
    const { gc, problem } =
      this.options.collect === undefined ? fullCollector() : { gc: this.options.collect, problem: null };
    if (gc === null) {
      this.options.log(`memory trimming is off: ${problem}`);
      this.stopped = true;
      return;
    }
    gc();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

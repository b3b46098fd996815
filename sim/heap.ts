/**
 * The simulator's event queue: a binary min-heap ordered by (timeMs, seq). The sequence number
 * makes the order total, so events at the same virtual time run in the order they were scheduled
 * and a seed always replays the same run.
 */
import type { SimEvent, SimEventBody } from './events.ts';

export class EventQueue {
  private readonly items: SimEvent[] = [];
  private nextSeq = 0;
  constructor(private readonly maxSize: number) {}

  get size(): number {
    return this.items.length;
  }

  push(timeMs: number, body: SimEventBody): void {
    if (!Number.isFinite(timeMs)) throw new Error(`sim: event ${body.kind} scheduled at a non-finite time`);
    if (this.items.length >= this.maxSize) {
      throw new Error(`sim: event queue exceeded its bound of ${this.maxSize} events`);
    }
    heapPush(this.items, { timeMs, seq: this.nextSeq++, body }, before);
  }

  pop(): SimEvent | undefined {
    return heapPop(this.items, before);
  }

  peekTimeMs(): number | undefined {
    return this.items[0]?.timeMs;
  }

  /** The next event's (time, seq), or undefined when the queue is empty. */
  peek(): SimEvent | undefined {
    return this.items[0];
  }

  /**
   * A sequence number for something ordered with the events but kept outside the queue (the
   * repair job book): it takes the number the queue would have given it.
   */
  takeSeq(): number {
    return this.nextSeq++;
  }
}

function before(x: SimEvent, y: SimEvent): boolean {
  return x.timeMs < y.timeMs || (x.timeMs === y.timeMs && x.seq < y.seq);
}

/** Adds `e` to the binary min-heap `a` ordered by `less`. */
export function heapPush<T>(a: T[], e: T, less: (x: T, y: T) => boolean): void {
  let i = a.length;
  a.push(e);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(e, a[p]!)) break;
    a[i] = a[p]!;
    i = p;
  }
  a[i] = e;
}

/** Takes the least element off the binary min-heap `a` ordered by `less`. */
export function heapPop<T>(a: T[], less: (x: T, y: T) => boolean): T | undefined {
  const top = a[0];
  const last = a.pop();
  if (top === undefined || last === undefined || a.length === 0) return top;
  let i = 0;
  const n = a.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && less(a[r]!, a[l]!) ? r : l;
    if (!less(a[c]!, last)) break;
    a[i] = a[c]!;
    i = c;
  }
  a[i] = last;
  return top;
}

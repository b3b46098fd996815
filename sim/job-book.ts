/**
 * A planning round's transfers as one batch: the start and end of every repair and migration the
 * round started, ordered by (time, seq) like the event queue (the seq numbers come from the queue,
 * so ties fall exactly as they would there). The main loop settles the book's actions that come
 * before the next event; every job a round starts ends within the round, so the book is empty
 * again when the next round plans. This keeps a failure's thousands of transfers out of the event
 * heap (two events per stripe) without changing what happens when.
 */
import type { Job } from './model.ts';

export interface BookAction {
  readonly timeMs: number;
  readonly seq: number;
  readonly kind: 'job-start' | 'job-done';
  readonly job: Job;
}

export class JobBook {
  private actions: BookAction[] = [];
  private head = 0;
  private sorted = true;

  constructor(private readonly maxSize: number) {}

  get pending(): number {
    return this.actions.length - this.head;
  }

  add(action: BookAction): void {
    if (this.pending >= this.maxSize)
      throw new Error(`sim: repair job book exceeded its bound of ${this.maxSize} actions`);
    if (this.head > 0 && this.head === this.actions.length) {
      this.actions = [];
      this.head = 0;
    }
    this.actions.push(action);
    this.sorted = false;
  }

  /** The next action, if it comes before the event (timeMs, seq); any one when `before` is null. */
  takeBefore(before: { readonly timeMs: number; readonly seq: number } | null): BookAction | undefined {
    if (!this.sorted) {
      const rest = this.actions.slice(this.head);
      rest.sort((a, b) => a.timeMs - b.timeMs || a.seq - b.seq);
      this.actions = rest;
      this.head = 0;
      this.sorted = true;
    }
    const a = this.actions[this.head];
    if (a === undefined) return undefined;
    if (before !== null && !(a.timeMs < before.timeMs || (a.timeMs === before.timeMs && a.seq < before.seq)))
      return undefined;
    this.head++;
    return a;
  }
}

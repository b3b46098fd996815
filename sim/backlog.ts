/**
 * The repair backlog kept across planning rounds: the stripes the planner deferred (its task
 * bound was reached), in the planner's own order (`compareRepairOrder`: fewest held shards, then
 * stripe id). A round feeds the planner only the head of it, so a failed member's thousands of
 * stripes are not validated and sorted again every round while a few dozen of them get a task.
 *
 * Why the head is enough: a stripe's rank (held shards) changes only through an event that also
 * marks it for the next round (a grace period running out, a holder back, a failure's rejoin, a
 * removal, a repair done); such a stripe leaves the backlog and goes to the planner with the
 * others. Untouched entries keep their rank, so the backlog's head is the head of the planner's
 * order. A min-heap with lazy deletion: `live` holds each stripe's current rank; a heap entry
 * whose rank is no longer live is skipped.
 */
import { compareRepairOrder, type RepairRank } from '../engine/index.ts';
import { heapPop, heapPush } from './heap.ts';
import type { Stripe } from './model.ts';

interface Entry extends RepairRank {
  readonly stripe: Stripe;
}

export class RepairBacklog {
  private readonly heap: Entry[] = [];
  private readonly live = new Map<Stripe, number>();

  constructor(private readonly maxSize: number) {}

  get size(): number {
    return this.live.size;
  }

  /** The stripe's rank (held shards) while it waits here. */
  rankOf(st: Stripe): number | undefined {
    return this.live.get(st);
  }

  /** The stripe waits with this rank (replacing any earlier one). */
  add(st: Stripe, heldShards: number): void {
    if (this.heap.length >= this.maxSize) this.compact();
    if (this.heap.length >= this.maxSize)
      throw new Error(`sim: repair backlog exceeded its bound of ${this.maxSize} stripes`);
    this.live.set(st, heldShards);
    heapPush(this.heap, { stripe: st, stripeId: st.stripeId, heldShards }, first);
  }

  delete(st: Stripe): void {
    this.live.delete(st);
  }

  /** Takes up to `n` stripes off the head, in the planner's order; `keep` drops the others. */
  take(n: number, keep: (st: Stripe) => boolean): { stripe: Stripe; heldShards: number }[] {
    const out: { stripe: Stripe; heldShards: number }[] = [];
    while (out.length < n && this.heap.length > 0) {
      const e = heapPop(this.heap, first)!;
      if (this.live.get(e.stripe) !== e.heldShards) continue;
      this.live.delete(e.stripe);
      if (keep(e.stripe)) out.push({ stripe: e.stripe, heldShards: e.heldShards });
    }
    return out;
  }

  /** The head's rank (the first stripe `take` would look at), or undefined when empty. */
  peek(): RepairRank | undefined {
    for (;;) {
      const e = this.heap[0];
      if (e === undefined || this.live.get(e.stripe) === e.heldShards) return e;
      heapPop(this.heap, first);
    }
  }

  /** Drops the dead entries (bounded memory when ranks change often). */
  private compact(): void {
    const alive = this.heap.filter((e) => this.live.get(e.stripe) === e.heldShards);
    this.heap.length = 0;
    for (const e of alive) heapPush(this.heap, e, first);
  }
}

/** The planner's order: fewest held shards first, then stripe id. */
function first(x: Entry, y: Entry): boolean {
  return compareRepairOrder(x, y) < 0;
}

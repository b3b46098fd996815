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
 * order. A min-heap with lazy deletion: `Stripe.backlogRank` holds each stripe's current rank; a heap entry
 * whose rank is no longer live is skipped.
 */
import type { RepairRank } from '../engine/index.ts';
import type { WaitMark } from './aside.ts';
import { heapPop, heapPush } from './heap.ts';
import type { Stripe } from './model.ts';
import { type MarkCheck, ParkedStripes } from './parked.ts';

interface Entry extends RepairRank {
  readonly stripe: Stripe;
}

export class RepairBacklog {
  private readonly heap: Entry[] = [];
  /**
   * Stripes with a live rank (`Stripe.backlogRank`); per stripe, a bit per rank that has an entry
   * in the heap (`Stripe.backlogQueued`): a rank is pushed once, not per add.
   */
  private live = 0;

  /** Stripes that must wait, kept out of the heap while their mark holds (parked.ts). */
  private readonly parked: ParkedStripes;

  constructor(private readonly maxSize: number) {
    this.parked = new ParkedStripes(maxSize);
  }

  /** Stripes in the heap (parked ones not counted: `take` does not reach them). */
  get size(): number {
    return this.live;
  }

  /** The stripe's rank (held shards) while it waits here, in the heap or parked. */
  rankOf(st: Stripe): number | undefined {
    return st.backlogRank >= 0 ? st.backlogRank : this.parked.rankOf(st);
  }

  /** The stripe waits parked with its mark (out of the heap) while the mark holds. */
  park(st: Stripe, heldShards: number, mark: WaitMark): void {
    this.unlive(st);
    this.parked.add(st, heldShards, mark);
  }

  /** Parked stripes whose mark no longer holds go back to the heap, in their rank. */
  wake(check: MarkCheck): void {
    for (const p of this.parked.woken(check)) this.add(p.stripe, p.heldShards);
  }

  /** The parked stripes the round's bound passed (all when null) leave, with their marks. */
  passed(lastRepair: RepairRank | null): { stripe: Stripe; heldShards: number; mark: WaitMark }[] {
    return this.parked.passed(lastRepair);
  }

  /** The stripe waits with this rank (replacing any earlier one). */
  add(st: Stripe, heldShards: number): void {
    if (this.heap.length >= this.maxSize) this.compact();
    if (this.heap.length >= this.maxSize)
      throw new Error(`sim: repair backlog exceeded its bound of ${this.maxSize} stripes`);
    this.parked.delete(st);
    if (st.backlogRank < 0) this.live++;
    st.backlogRank = heldShards;
    const bits = st.backlogQueued;
    const bit = rankBit(heldShards);
    if ((bits & bit) !== 0) return;
    st.backlogQueued = bits | bit;
    heapPush(this.heap, { stripe: st, stripeId: st.stripeId, heldShards }, first);
  }

  delete(st: Stripe): void {
    this.unlive(st);
    this.parked.delete(st);
  }

  private unlive(st: Stripe): void {
    if (st.backlogRank < 0) return;
    st.backlogRank = -1;
    this.live--;
  }

  /** Takes up to `n` stripes off the head, in the planner's order; `keep` drops the others. */
  take(n: number, keep: (st: Stripe) => boolean): { stripe: Stripe; heldShards: number }[] {
    const out: { stripe: Stripe; heldShards: number }[] = [];
    while (out.length < n && this.heap.length > 0) {
      const e = this.pop();
      if (e.stripe.backlogRank !== e.heldShards) continue;
      this.unlive(e.stripe);
      if (keep(e.stripe)) out.push({ stripe: e.stripe, heldShards: e.heldShards });
    }
    return out;
  }

  /** The head's rank (the first stripe `take` would look at), or undefined when empty. */
  peek(): RepairRank | undefined {
    for (;;) {
      const e = this.heap[0];
      if (e === undefined || e.stripe.backlogRank === e.heldShards) return e;
      this.pop();
    }
  }

  private pop(): Entry {
    const e = heapPop(this.heap, first)!;
    e.stripe.backlogQueued &= ~rankBit(e.heldShards);
    return e;
  }

  /** Drops the dead entries (bounded memory when ranks change often). */
  private compact(): void {
    const alive = this.heap.filter((e) => e.stripe.backlogRank === e.heldShards);
    for (const e of this.heap) e.stripe.backlogQueued = 0;
    this.heap.length = 0;
    for (const e of alive) {
      e.stripe.backlogQueued |= rankBit(e.heldShards);
      heapPush(this.heap, e, first);
    }
  }
}

/** The rank's bit in `queued` (a rank is a shard count: at most MAX_DATA_SHARDS + MAX_PARITY_SHARDS). */
function rankBit(heldShards: number): number {
  if (!(heldShards >= 0 && heldShards < 31))
    throw new Error(`sim invariant violated: backlog rank ${heldShards} out of range`);
  return 1 << heldShards;
}

/**
 * The planner's order (`compareRepairOrder`): fewest held shards first, then stripe id; written
 * out here because the heap calls it for every step of every push and pop.
 */
function first(x: Entry, y: Entry): boolean {
  return x.heldShards < y.heldShards || (x.heldShards === y.heldShards && x.stripeId < y.stripeId);
}

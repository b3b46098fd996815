/**
 * Backlog stripes parked with their wait mark (`WaitMark` in aside.ts): stripes that need a
 * repair, must wait (the engine said so when they were marked), and ranked after the repair that
 * reached a round's task bound. The plain path gives them to the planner every round, which lists
 * them as deferred while they rank after the bound and as waiting once they rank before it; the
 * batched path used to take them off the backlog's heap, ask the engine again and put them back
 * every round its head reached them.
 *
 * Parked, a stripe stays out of the heap while its mark holds (checked per mark group, not per
 * stripe, each round) and the round's bound ranks before it. A stripe whose mark no longer holds
 * goes back to the heap (and to the planner's outlook), one the bound passed goes to
 * `World.waiting` with its mark. A change to the stripe or its holders' held status lists it as
 * changed, which deletes it here (`RepairBacklog.delete`).
 *
 * Groups: a `sources` mark waits for `atLeast` of its members online (one check per group); a
 * `target` mark for one of its members online with `roomBytes` free, so a group of one mask keeps
 * its stripes by `roomBytes`, and the room its online members have wakes those that need at most
 * that.
 */
import type { RepairRank } from '../engine/index.ts';
import type { WaitMark } from './aside.ts';
import { heapPop, heapPush } from './heap.ts';
import type { Stripe } from './model.ts';

export interface Parked extends RepairRank {
  readonly stripe: Stripe;
  readonly mark: WaitMark;
}

interface Group {
  readonly mask: number;
  readonly atLeast: number;
  readonly target: boolean;
  /** By `roomBytes` (target groups; any order for sources groups). */
  readonly items: Parked[];
}

/** What the round says about a mark group. */
export interface MarkCheck {
  /** Whether a `sources` wait (no room needed) still holds. */
  stillWaits(mark: WaitMark): boolean;
  /** The most free bytes of an online member of `mask` (-Infinity when none is online). */
  mostRoomBytes(mask: number): number;
}

export class ParkedStripes {
  /** Stripes with a live entry (`Stripe.parked`). */
  private live = 0;
  private readonly groups = new Map<string, Group>();
  /** Every parked entry by rank (the planner's order), for the stripes a round's bound passed. */
  private readonly byRank: Parked[] = [];
  private entries = 0;

  constructor(private readonly maxSize: number) {}

  get size(): number {
    return this.live;
  }

  rankOf(st: Stripe): number | undefined {
    return st.parked?.heldShards;
  }

  delete(st: Stripe): void {
    if (st.parked === null) return;
    st.parked = null;
    this.live--;
  }

  add(st: Stripe, heldShards: number, mark: WaitMark): void {
    if (this.full()) this.compact();
    if (this.full()) throw new Error(`sim: parked repairs exceeded their bound of ${this.maxSize} entries`);
    const p: Parked = { stripe: st, stripeId: st.stripeId, heldShards, mark };
    if (st.parked === null) this.live++;
    st.parked = p;
    this.file(p);
  }

  /** The stripes whose mark no longer holds this round (they leave; dead entries are dropped). */
  woken(check: MarkCheck): Parked[] {
    const out: Parked[] = [];
    if (this.live === 0) return out;
    for (const [key, g] of this.groups) {
      if (!g.target) {
        if (check.stillWaits(g.items[0]!.mark)) continue;
        for (const p of g.items) if (this.take(p)) out.push(p);
        this.entries -= g.items.length;
        this.groups.delete(key);
        continue;
      }
      const roomBytes = check.mostRoomBytes(g.mask);
      while (g.items.length > 0 && g.items[0]!.mark.roomBytes! <= roomBytes) {
        const p = heapPop(g.items, lessRoom)!;
        this.entries--;
        if (this.take(p)) out.push(p);
      }
      if (g.items.length === 0) this.groups.delete(key);
    }
    return out;
  }

  /** The stripes ranked before `lastRepair` (all when null): the bound passed them (they leave). */
  passed(lastRepair: RepairRank | null): Parked[] {
    const out: Parked[] = [];
    while (this.byRank.length > 0) {
      const head = this.byRank[0]!;
      if (head.stripe.parked === head) {
        if (lastRepair !== null && !first(head, lastRepair)) break;
        this.delete(head.stripe);
        out.push(head);
      }
      heapPop(this.byRank, first);
    }
    return out;
  }

  private full(): boolean {
    return this.entries >= this.maxSize || this.byRank.length >= this.maxSize;
  }

  /** The entry leaves if it is still the stripe's live one. */
  private take(p: Parked): boolean {
    if (p.stripe.parked !== p) return false;
    this.delete(p.stripe);
    return true;
  }

  private file(p: Parked): void {
    const m = p.mark;
    const target = m.roomBytes !== null;
    const key = `${target ? 't' : 's'}${m.mask}:${m.atLeast}`;
    let g = this.groups.get(key);
    if (g === undefined) {
      g = { mask: m.mask, atLeast: m.atLeast, target, items: [] };
      this.groups.set(key, g);
    }
    if (target) heapPush(g.items, p, lessRoom);
    else g.items.push(p);
    heapPush(this.byRank, p, first);
    this.entries++;
  }

  /** Drops the dead entries (bounded memory when parked stripes change often). */
  private compact(): void {
    const alive = this.byRank.filter((p) => p.stripe.parked === p);
    this.groups.clear();
    this.byRank.length = 0;
    this.entries = 0;
    for (const p of alive) this.file(p);
  }
}

function lessRoom(x: Parked, y: Parked): boolean {
  return x.mark.roomBytes! < y.mark.roomBytes!;
}

/** The planner's order (`compareRepairOrder`), written out. */
function first(x: RepairRank, y: RepairRank): boolean {
  return x.heldShards < y.heldShards || (x.heldShards === y.heldShards && x.stripeId < y.stripeId);
}

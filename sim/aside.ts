/**
 * Stripes a batched round leaves out of the planner because the engine says they must wait
 * (`repairOutlook`: too few online holders to read from, or no online member with room that is
 * not already listed). The planner would hand them no task whatever else the round holds, so the
 * round's tasks are the same without them; what the plain path does with them afterwards is kept
 * too: a stripe the planner would have reached before its task bound waits for someone to come
 * online (`World.waiting`), one it would have deferred goes back to the backlog.
 *
 * A waiting stripe keeps what ends its wait (`repairWake`) as a mask of member indices. When
 * someone came online, a waiting stripe that did not change and whose wake did not come is set
 * aside again without asking the engine: the engine would say the same.
 */
import {
  type RankedRepair,
  type RepairMember,
  type RepairOutlook,
  type RepairRank,
  type RepairTask,
  type RepairView,
  repairOutlook,
  repairView,
  repairWake,
  waitingPrefix,
} from '../engine/index.ts';
import type { Stripe } from './model.ts';
import type { World } from './world.ts';

/** Masks hold member indices below this (a bigger group keeps no marks: its waiting stripes are planned again). */
const MASK_MEMBERS = 31;

/** What ends a waiting stripe's wait: `atLeast` members of `mask` online (with `roomBytes` free when set). */
export interface WaitMark {
  readonly heldShards: number;
  readonly mask: number;
  readonly atLeast: number;
  readonly roomBytes: number | null;
}

/**
 * A waiting stripe the round's plan proved to wait (`waitingPrefix`): no wake is known, so it is
 * proved again the next time someone came online, with the rank it has here (the stripe did not
 * change and its holders' held status did not either: either drops the mark).
 */
export interface ProvenMark {
  readonly heldShards: number;
  readonly proven: true;
}

export type Mark = WaitMark | ProvenMark;

/** One proof mark per rank (marks are never changed: shared, not made per stripe and round). */
const PROVEN: ProvenMark[] = [];

export function provenMark(heldShards: number): ProvenMark {
  let mark = PROVEN[heldShards];
  if (mark === undefined) {
    mark = { heldShards, proven: true };
    PROVEN[heldShards] = mark;
  }
  return mark;
}

export class SetAside {
  private readonly view: RepairView;
  /** The stripes kept this round, with their ranks and marks (three lists: no object per stripe). */
  private readonly stripes: Stripe[] = [];
  private readonly ranks: number[] = [];
  private readonly marks: (Mark | null)[] = [];
  private readonly ids: string[];
  private onlineMask = 0;
  private readonly roomy = new Map<number, number>();

  constructor(
    private readonly w: World,
    members: readonly RepairMember[],
  ) {
    this.view = repairView(members, { nowMs: w.nowMs, graceMs: w.config.graceMs, onlineWindowMs: 0 });
    this.ids = members.map((m) => m.id);
    for (const id of this.view.online) this.onlineMask |= bit(w, id);
  }

  /** How many of `later` (in the planner's order) provably get no task beside `repairs` (`waitingPrefix`). */
  waitingPrefix(
    repairs: readonly RepairTask[],
    maxTasks: number,
    later: readonly RankedRepair[],
    from: number,
  ): number {
    return waitingPrefix(this.view, repairs, maxTasks, later, from);
  }

  /** The members whose shards count as held now. */
  heldIds(): ReadonlySet<string> {
    return this.view.held;
  }

  /** What the engine says of the stripe now; a repair that must wait is kept here, not planned. */
  offer(st: Stripe): RepairOutlook {
    const o = repairOutlook(this.view, st);
    if (o.need === 'repair' && o.wait !== null) {
      const wake = repairWake(this.view, this.ids, st, o.wait);
      let mask = 0;
      for (const id of wake.members) mask |= bit(this.w, id);
      const mark =
        mask < 0
          ? null
          : { heldShards: o.heldShards, mask, atLeast: wake.atLeast, roomBytes: wake.roomBytes };
      this.keep(st, o.heldShards, mark);
    }
    return o;
  }

  /** A stripe known to wait (its mark says so) is kept as `offer` would keep it. */
  keep(st: Stripe, heldShards: number, mark: Mark | null): void {
    this.stripes.push(st);
    this.ranks.push(heldShards);
    this.marks.push(mark);
  }

  /** Whether the wait the mark records still holds now. */
  stillWaits(mark: WaitMark): boolean {
    const pool = mark.roomBytes === null ? this.onlineMask : this.roomyMask(mark.roomBytes);
    return popcount(pool & mark.mask) < mark.atLeast;
  }

  /** The most free bytes of an online member in `mask` (-Infinity when none is online). */
  mostRoomBytes(mask: number): number {
    for (const r of this.view.room) if ((bit(this.w, r.id) & mask) !== 0) return r.freeBytes;
    return Number.NEGATIVE_INFINITY;
  }

  private roomyMask(roomBytes: number): number {
    let mask = this.roomy.get(roomBytes);
    if (mask === undefined) {
      mask = 0;
      for (const r of this.view.room) if (r.freeBytes >= roomBytes) mask |= bit(this.w, r.id);
      this.roomy.set(roomBytes, mask);
    }
    return mask;
  }

  /**
   * After the round's plan: `lastRepair` is the repair that reached the task bound (null when the
   * bound was not reached by repairs). Stripes ranked after it would have been deferred (and one
   * already waiting stays listed there too, as on the plain path); those with a wait mark are
   * parked in the backlog with it (parked.ts). Parked stripes the bound passed wait as the
   * planner would list them (their mark held this round: `RepairBacklog.wake`).
   */
  settle(lastRepair: RepairRank | null): void {
    const backlog = this.w.backlog;
    for (const p of backlog.passed(lastRepair))
      if (p.stripe.state === 'stored' && !p.stripe.busy) this.w.waiting.set(p.stripe, p.mark);
    this.w.waiting.parkAfter(lastRepair, backlog);
    const waiting = this.w.waiting;
    for (let i = 0; i < this.stripes.length; i++) {
      const st = this.stripes[i]!;
      const heldShards = this.ranks[i]!;
      const mark = this.marks[i]!;
      if (lastRepair !== null && after(heldShards, st.stripeId, lastRepair)) {
        if (mark !== null && !('proven' in mark)) backlog.park(st, heldShards, mark);
        else backlog.add(st, heldShards);
        if (waiting.has(st)) {
          waiting.set(st, mark);
          waiting.note(st);
        }
      } else waiting.set(st, mark);
    }
    this.stripes.length = 0;
    this.ranks.length = 0;
    this.marks.length = 0;
  }
}

/** The member's bit in a mask; -2^31 (a negative mask: no mark) when its index does not fit. */
function bit(w: World, id: string): number {
  const m = w.byId.get(id);
  if (m === undefined || m.idx >= MASK_MEMBERS) return -(2 ** 31);
  return 1 << m.idx;
}

/** Whether the rank comes after `r` in the planner's order (`compareRepairOrder` > 0, written out). */
function after(heldShards: number, stripeId: string, r: RepairRank): boolean {
  return heldShards > r.heldShards || (heldShards === r.heldShards && stripeId > r.stripeId);
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}

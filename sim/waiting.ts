/**
 * `World.waiting`: the stripes the planner could not repair until someone comes online, each with
 * its mark (aside.ts) or none. It behaves as the insertion-ordered map it replaces: a stripe keeps
 * its place while it stays (setting its mark again does not move it), and one that leaves and
 * comes back goes last. The place is kept as a sequence number on the stripe (`waitSeq`), and the
 * stripes are filed by mark, so that listing them (`list`, once someone came online) touches only
 * the stripes whose wait may have ended: a group of stripes with the same wait mark (`WaitMark`:
 * members, how many, room) is checked once, and its stripes stay where they are while it holds.
 * The stripes listed go out in their places' order, as the map gave them.
 */
import type { RepairRank } from '../engine/index.ts';
import type { Mark, ProvenMark, WaitMark } from './aside.ts';
import type { RepairBacklog } from './backlog.ts';
import type { Stripe } from './model.ts';

/** Waiting stripes with the same wait mark (what ends the wait; their ranks differ). */
interface Group {
  readonly mark: WaitMark;
  readonly stripes: Set<Stripe>;
}

/** What a listing asks of the round. */
export interface ListingRound {
  /** Whether the wait a mark records still holds now. */
  stillWaits(mark: WaitMark): boolean;
  /** Whether a stripe proved to wait goes to the proof again (false: it is listed as changed). */
  proveAgain(st: Stripe): boolean;
}

/** A listing's outcome: the stripes listed again (in order) and those to prove again, with their ranks. */
export interface Listing {
  readonly listed: Stripe[];
  readonly again: { readonly stripe: Stripe; readonly heldShards: number }[];
}

export class WaitingStripes {
  private nextSeq = 0;
  private count = 0;
  /**
   * The stripes without a mark and those proved to wait, each filed once (`Stripe.waitFiled`: 1
   * and 2) and left here when their mark changes or they leave: the listing, which empties both,
   * skips the entries whose mark is not (or no longer) theirs.
   */
  private readonly unmarked: Stripe[] = [];
  private readonly proven: Stripe[] = [];
  /** By room (-1: none needed), then by members and how many (`mask * 64 + atLeast`). */
  private readonly groups = new Map<number, Map<number, Group>>();
  /** Marked stripes put in the backlog while waiting: the listing looks at each of them. */
  private readonly noted = new Set<Stripe>();
  /** The groups whose wait held at this round's listing (their stripes stayed). */
  private readonly staying: Group[] = [];

  get size(): number {
    return this.count;
  }

  has(st: Stripe): boolean {
    return st.waitSeq >= 0;
  }

  get(st: Stripe): Mark | null | undefined {
    return st.waitSeq >= 0 ? st.waitMark : undefined;
  }

  /** The stripe waits with this mark; one already waiting keeps its place. */
  set(st: Stripe, mark: Mark | null): void {
    if (st.waitSeq >= 0) this.unfile(st);
    else {
      st.waitSeq = this.nextSeq++;
      this.count++;
    }
    st.waitMark = mark;
    this.file(st);
  }

  delete(st: Stripe): boolean {
    if (st.waitSeq < 0) return false;
    this.unfile(st);
    this.drop(st);
    return true;
  }

  clear(): void {
    for (const st of this.keys()) this.drop(st);
    for (const st of this.unmarked) st.waitFiled = 0;
    for (const st of this.proven) st.waitFiled = 0;
    this.unmarked.length = 0;
    this.proven.length = 0;
    this.groups.clear();
    this.noted.clear();
  }

  /** The waiting stripes in their places' order. */
  keys(): Stripe[] {
    const out: Stripe[] = [];
    for (const st of this.unmarked) if (st.waitSeq >= 0 && st.waitMark === null) out.push(st);
    for (const st of this.proven) if (st.waitSeq >= 0 && isProven(st.waitMark)) out.push(st);
    for (const byMask of this.groups.values())
      for (const g of byMask.values()) for (const st of g.stripes) out.push(st);
    return out.sort(bySeq);
  }

  /** The stripe went to the backlog while waiting: the next listing looks at it on its own. */
  note(st: Stripe): void {
    const mark = st.waitSeq >= 0 ? st.waitMark : null;
    if (mark !== null && !('proven' in mark)) this.noted.add(st);
  }

  /**
   * Once someone came online: the waiting stripes that did not change (`changed`) and are stored
   * and idle are listed, as `listed` (in their places' order) or, proved to wait before and
   * `round.proveAgain`, as `again`; those whose mark still holds stay (out of the backlog). The
   * others leave.
   *
   * A group whose mark holds is not walked. Its stripes are stored and idle and out of the
   * backlog, as the map's walk required of a stripe that stays: a stripe that is lost or deleted
   * leaves at once (uploads.ts), one that changed leaves here first, and a waiting stripe with a
   * mark gets into the backlog (and from there to the planner, which may start a job on it) only
   * by `aside.settle`, which notes it (`note`): the noted ones are looked at one by one.
   */
  list(changed: readonly Stripe[], round: ListingRound, backlog: RepairBacklog): Listing {
    const listed: Stripe[] = [];
    const again: { stripe: Stripe; heldShards: number }[] = [];
    const gone: Stripe[] = [];
    this.staying.length = 0;
    for (const st of changed) this.delete(st);
    for (const st of this.noted) {
      if (st.waitSeq < 0) continue;
      const mark = st.waitMark as WaitMark;
      if (idle(st) && round.stillWaits(mark)) backlog.delete(st);
      else {
        this.unfile(st);
        gone.push(st);
        if (idle(st)) listed.push(st);
      }
    }
    this.noted.clear();
    for (const st of this.unmarked) {
      st.waitFiled &= ~UNMARKED;
      if (st.waitSeq < 0 || st.waitMark !== null) continue;
      gone.push(st);
      if (idle(st)) listed.push(st);
    }
    this.unmarked.length = 0;
    for (const st of this.proven) {
      st.waitFiled &= ~PROVEN;
      if (st.waitSeq < 0 || !isProven(st.waitMark)) continue;
      gone.push(st);
      if (!idle(st)) continue;
      if (round.proveAgain(st)) {
        backlog.delete(st);
        again.push({ stripe: st, heldShards: (st.waitMark as ProvenMark).heldShards });
      } else listed.push(st);
    }
    this.proven.length = 0;
    for (const [room, byMask] of this.groups) {
      for (const [key, g] of byMask) {
        if (round.stillWaits(g.mark)) {
          this.staying.push(g);
          continue;
        }
        for (const st of g.stripes) {
          gone.push(st);
          if (idle(st)) listed.push(st);
        }
        byMask.delete(key);
      }
      if (byMask.size === 0) this.groups.delete(room);
    }
    listed.sort(bySeq);
    for (const st of gone) this.drop(st);
    return { listed, again };
  }

  /**
   * After the plan: the stripes that stayed at this round's listing and rank after the repair that
   * reached the bound (none when null) leave for the backlog, parked with their marks.
   */
  parkAfter(lastRepair: RepairRank | null, backlog: RepairBacklog): void {
    if (lastRepair !== null)
      for (const g of this.staying)
        for (const st of g.stripes) {
          const mark = st.waitMark as WaitMark;
          if (!after(mark.heldShards, st.stripeId, lastRepair)) continue;
          this.delete(st);
          backlog.park(st, mark.heldShards, mark);
        }
    this.staying.length = 0;
  }

  private file(st: Stripe): void {
    const mark = st.waitMark;
    if (mark === null) {
      if ((st.waitFiled & UNMARKED) === 0) this.unmarked.push(st);
      st.waitFiled |= UNMARKED;
    } else if ('proven' in mark) {
      if ((st.waitFiled & PROVEN) === 0) this.proven.push(st);
      st.waitFiled |= PROVEN;
    } else this.group(mark, true)!.stripes.add(st);
  }

  private unfile(st: Stripe): void {
    const mark = st.waitMark;
    // Unmarked and proved entries stay filed; the listing skips them (see `unmarked`).
    if (mark === null || 'proven' in mark) return;
    const g = this.group(mark, false);
    if (g === undefined) return;
    g.stripes.delete(st);
    if (g.stripes.size === 0) this.groups.get(mark.roomBytes ?? -1)!.delete(groupKey(mark));
  }

  private group(mark: WaitMark, create: boolean): Group | undefined {
    const room = mark.roomBytes ?? -1;
    let byMask = this.groups.get(room);
    if (byMask === undefined) {
      if (!create) return undefined;
      byMask = new Map();
      this.groups.set(room, byMask);
    }
    const key = groupKey(mark);
    let g = byMask.get(key);
    if (g === undefined && create) {
      g = { mark, stripes: new Set() };
      byMask.set(key, g);
    }
    return g;
  }

  private drop(st: Stripe): void {
    st.waitSeq = -1;
    st.waitMark = null;
    this.count--;
  }
}

/** `Stripe.waitFiled` bits: in the list of unmarked, of proved stripes. */
const UNMARKED = 1;
const PROVEN = 2;

function isProven(mark: Mark | null): boolean {
  return mark !== null && 'proven' in mark;
}

function groupKey(mark: WaitMark): number {
  return mark.mask * 64 + mark.atLeast;
}

function idle(st: Stripe): boolean {
  return st.state === 'stored' && !st.busy;
}

function bySeq(a: Stripe, b: Stripe): number {
  return a.waitSeq - b.waitSeq;
}

/** Whether the rank comes after `r` in the planner's order (`compareRepairOrder` > 0, written out). */
function after(heldShards: number, stripeId: string, r: RepairRank): boolean {
  return heldShards > r.heldShards || (heldShards === r.heldShards && stripeId > r.stripeId);
}

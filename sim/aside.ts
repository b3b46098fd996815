/**
 * Stripes a batched round leaves out of the planner because the engine says they must wait
 * (`repairOutlook`: too few online holders to read from, or no online member with room that is
 * not already listed). The planner would hand them no task whatever else the round holds, so the
 * round's tasks are the same without them; what the plain path does with them afterwards is kept
 * too: a stripe the planner would have reached before its task bound waits for someone to come
 * online (`World.waiting`), one it would have deferred goes back to the backlog.
 */
import {
  compareRepairOrder,
  type RepairMember,
  type RepairOutlook,
  type RepairRank,
  type RepairView,
  repairOutlook,
  repairView,
} from '../engine/index.ts';
import type { Stripe } from './model.ts';
import type { World } from './world.ts';

interface Aside extends RepairRank {
  readonly stripe: Stripe;
}

export class SetAside {
  private readonly view: RepairView;
  private readonly stripes: Aside[] = [];

  constructor(
    private readonly w: World,
    members: readonly RepairMember[],
  ) {
    this.view = repairView(members, { nowMs: w.nowMs, graceMs: w.config.graceMs, onlineWindowMs: 0 });
  }

  /** What the engine says of the stripe now; a repair that must wait is kept here, not planned. */
  offer(st: Stripe): RepairOutlook {
    const o = repairOutlook(this.view, st);
    if (o.need === 'repair' && o.wait !== null)
      this.stripes.push({ stripe: st, stripeId: st.stripeId, heldShards: o.heldShards });
    return o;
  }

  /**
   * After the round's plan: `lastRepair` is the repair that reached the task bound (null when the
   * bound was not reached by repairs). Stripes ranked after it would have been deferred.
   */
  settle(lastRepair: RepairRank | null): void {
    for (const a of this.stripes) {
      if (lastRepair !== null && compareRepairOrder(a, lastRepair) > 0)
        this.w.backlog.add(a.stripe, a.heldShards);
      else this.w.waiting.add(a.stripe);
    }
    this.stripes.length = 0;
  }
}

/**
 * When a repair round's answer holds for later rounds over the same state and listings
 * (`roundHoldsWhileUnchanged`, engine/repair-round.ts): only when nothing in it waits on time.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  deriveMemberKeys,
  type GroupState,
  type ListedShard,
  type MemberListing,
  memberIdFromPublicKey,
  ownerStripePlan,
  placeStripe,
  repairRound,
  roundHoldsWhileUnchanged,
} from '../../engine/index.ts';

const MiB = 1024 * 1024;
const NOW_MS = 50_000_000;
const SETTLE_MS = 600_000;

function identity(n: number): { id: string; hex: string } {
  const keys = deriveMemberKeys(new Uint8Array(32).fill(n));
  return { id: memberIdFromPublicKey(keys.publicKey), hex: Buffer.from(keys.publicKey).toString('hex') };
}

const owner = identity(41);
const holders = [42, 43, 44].map(identity);
const members = [owner, ...holders].map((m) => ({ id: m.id, pledgeBytes: 64 * MiB, sinceMs: 0 }));
const state = { members, removed: [], agreement: { ratio: 2, tolerance: 1 } } as unknown as GroupState;
const stripeId = `${owner.hex}/1/0`;
const placement = placeStripe(ownerStripePlan(members, owner.id, 3), stripeId);

function row(index: number, ageMs: number): ListedShard {
  return {
    id: createHash('sha256').update(`${stripeId}#${index}`).digest('hex'),
    info: { stripeId, owner: owner.hex, k: 2, m: 1, index, bodyBytes: 4096, fileBytes: 4500, ageMs },
  };
}

/** A round seen by the first holder, with each placement member listing its shard (or not). */
function roundWith(opts: { ageMs?: number; missing?: number; silent?: string } = {}) {
  const listings = new Map<string, MemberListing>(members.map((m) => [m.id, { rows: [], fresh: true }]));
  placement.forEach((member, index) => {
    if (index === opts.missing) return;
    listings.set(member, { rows: [row(index, opts.ageMs ?? 3_600_000)], fresh: member !== opts.silent });
  });
  const answered = new Set(members.map((m) => m.id).filter((id) => id !== opts.silent));
  const self = placement[0]!;
  const round = repairRound({
    self,
    state,
    nowMs: NOW_MS,
    listings,
    answered,
    lastSeenMs: () => NOW_MS - 1000,
    settleMs: SETTLE_MS,
    graceMs: 24 * 3600_000,
    maxTasks: 10,
    roomTasks: 10,
    busyStripeIds: new Set(),
  });
  return { round, everyMemberAnswered: answered.size === members.length };
}

describe('a round that holds while nothing changes', () => {
  it('holds for a whole, placed, settled stripe with every member answering', () => {
    const { round, everyMemberAnswered } = roundWith();
    expect(round.plan.counts.needRepair).toBe(0);
    expect(roundHoldsWhileUnchanged(round, everyMemberAnswered)).toBe(true);
  });

  it('does not hold while a shard settles, a shard is missing, or a member is silent', () => {
    const settling = roundWith({ ageMs: SETTLE_MS - 1 });
    expect(settling.round.inventory.skipped.settling).toBe(1);
    expect(roundHoldsWhileUnchanged(settling.round, settling.everyMemberAnswered)).toBe(false);
    const missing = roundWith({ missing: 2 });
    expect(missing.round.plan.counts.needRepair).toBe(1);
    expect(roundHoldsWhileUnchanged(missing.round, missing.everyMemberAnswered)).toBe(false);
    // A silent holder: its shard counts within the grace period, and that ends with time.
    const silent = roundWith({ silent: placement[2]! });
    expect(silent.round.plan.counts.needRepair).toBe(0);
    expect(roundHoldsWhileUnchanged(silent.round, silent.everyMemberAnswered)).toBe(false);
  });
});

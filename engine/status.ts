/**
 * What `status` shows per member (docs/design.md §11): pledge, allowance under the agreement, the
 * feasible share and why it binds, the one-owner bound, bytes of own backup stored (and with
 * redundancy), and how much of the pledge is used.
 */
import { type Allowance, allowances } from './allowances.ts';
import { type Agreement, chooseCode, DEFAULT_K_MAX, ownerBound } from './capacity.ts';
import { EngineError } from './errors.ts';
import type { CountedStripe } from './exposure.ts';
import { layoutHolders } from './layout.ts';
import { stripeCount, validateStripe, validateStripeList } from './stripes.ts';

export interface StatusMember {
  readonly id: string;
  readonly pledgeBytes: number;
  readonly removed?: boolean | undefined;
}

export interface StatusInput {
  readonly members: readonly StatusMember[];
  readonly agreement: Agreement;
  /** Every stored stripe (or aggregated groups with `count`). */
  readonly stripes: readonly CountedStripe[];
  readonly kMax?: number | undefined;
}

/** A member's allowance (see `Allowance`) with what it stores and holds. */
export interface MemberStatus extends Allowance {
  /** What today's other members could hold for this owner alone (code chosen for them). */
  readonly boundBytes: number;
  readonly dataShards: number;
  readonly parityShards: number;
  /** User data of this member's stripes. */
  readonly backedUpBytes: number;
  /** The same with redundancy: every shard of its stripes. */
  readonly storedWithRedundancyBytes: number;
  /** Bytes of other members' shards this member holds. */
  readonly pledgeUsedBytes: number;
  readonly pledgeUsedFraction: number;
  /** max(0, allowance - backed up). */
  readonly allowanceLeftBytes: number;
}

export function memberStatus(input: StatusInput): MemberStatus[] {
  if (input === null || typeof input !== 'object')
    throw new EngineError('invalid-argument', 'input must be an object');
  if (!Array.isArray(input.members)) throw new EngineError('invalid-argument', 'members must be an array');
  const kMax = input.kMax ?? DEFAULT_K_MAX;
  const current = input.members.filter((m) => m.removed !== true);
  const report = allowances(
    current.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes })),
    input.agreement,
    kMax,
  );
  validateStripeList(input.stripes);
  const own = new Map<string, { data: number; all: number }>();
  const held = new Map<string, number>();
  for (const [i, st] of input.stripes.entries()) {
    const s = validateStripe(st, i);
    const count = stripeCount(st);
    const o = own.get(st.owner) ?? { data: 0, all: 0 };
    o.data += st.dataShards * st.shardBytes * count;
    o.all += s * st.shardBytes * count;
    own.set(st.owner, o);
    for (const h of st.holders) if (h !== null) held.set(h, (held.get(h) ?? 0) + st.shardBytes * count);
  }
  return report.members.map((a) => {
    const holders = layoutHolders(current, a.id).map((m) => m.pledgeBytes);
    const code = chooseCode(input.agreement, holders.length, kMax);
    const boundBytes = code.feasible ? ownerBound(holders, code.dataShards, code.parityShards) : 0;
    const o = own.get(a.id) ?? { data: 0, all: 0 };
    const used = held.get(a.id) ?? 0;
    return {
      id: a.id,
      pledgeBytes: a.pledgeBytes,
      agreementBytes: a.agreementBytes,
      feasibleBytes: a.feasibleBytes,
      allowanceBytes: a.allowanceBytes,
      limitedBy: a.limitedBy,
      reason: a.reason,
      boundBytes,
      dataShards: code.feasible ? code.dataShards : 0,
      parityShards: code.feasible ? code.parityShards : 0,
      backedUpBytes: o.data,
      storedWithRedundancyBytes: o.all,
      pledgeUsedBytes: used,
      pledgeUsedFraction: a.pledgeBytes > 0 ? used / a.pledgeBytes : 0,
      allowanceLeftBytes: Math.max(0, a.allowanceBytes - o.data),
    };
  });
}

/**
 * The engine's public surface. `sim/` and `runtime/` import only from here.
 * Everything exported is pure and deterministic: no I/O, no clock, no randomness of its own.
 */

export {
  type Agreement,
  type Allowance,
  type AllowanceReport,
  allowances,
  type CapacityReport,
  type CodeChoice,
  capacityReport,
  chooseCode,
  DEFAULT_K_MAX,
  equalShareLevel,
  MAX_DATA_SHARDS,
  MAX_PARITY_SHARDS,
  type MemberCapacity,
  type MemberPledge,
  ownerBound,
  shareBound,
  validateAgreement,
} from './capacity.ts';
export { EngineError, type EngineErrorCode } from './errors.ts';
export { hash64, pairScoreHex, pairUniform } from './hash64.ts';
export {
  deriveKey,
  deriveMemberKeys,
  HKDF_SALT,
  KEY_LABELS,
  type MemberKeys,
  RECOVERY_SECRET_BYTES,
} from './identity.ts';
export {
  chooseStripe,
  PLACEMENT_PLAN_VERSION,
  type PlacementPlan,
  type PlanMember,
  placementPlan,
  placeStripe,
  saltedStripeId,
  straw2Inclusion,
} from './placement.ts';

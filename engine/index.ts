/**
 * The engine's public surface. `sim/` and `runtime/` import only from here.
 * Everything exported is pure and deterministic: no I/O, no clock, no randomness of its own.
 */

export {
  type Availability,
  availabilityOf,
  DEFAULT_GRACE_MS,
  DEFAULT_ONLINE_WINDOW_MS,
  type MemberSighting,
} from './availability.ts';
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
export {
  CLOSED_FORM_FORMULA,
  type ClosedFormInput,
  type ClosedFormLoss,
  type CountedStripe,
  closedFormLoss,
  type ExposureInput,
  type ExposureReport,
  exposure,
  type OwnerExposure,
  type StripeProtection,
  stripeProtection,
} from './exposure.ts';
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
export {
  DEFAULT_MAX_TASKS,
  MAX_TASKS_LIMIT,
  type MigrationTask,
  planRepairs,
  type RepairInput,
  type RepairMember,
  type RepairPlan,
  type RepairTask,
  type ShardMove,
} from './repair.ts';
export { type MemberStatus, memberStatus, type StatusInput, type StatusMember } from './status.ts';
export { MAX_STRIPES_PER_CALL, planKey, type StripeHolding } from './stripes.ts';

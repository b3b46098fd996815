/**
 * The plain input shape every repair, exposure and status function takes for a stripe: who holds
 * which shard. Defined here, not in the group log, so the planner depends on nothing but data.
 */
import { MAX_DATA_SHARDS, MAX_PARITY_SHARDS } from './capacity.ts';
import { EngineError } from './errors.ts';

/** What one data shard of a stripe holds as pb writes it (docs/formats.md). */
export const DATA_SHARD_BYTES = 4 * 1024 * 1024;
/** The smallest stripe's data, whatever k (a 1+m stripe still holds 8 MiB). */
export const MIN_STRIPE_DATA_BYTES = 8 * 1024 * 1024;

/** The data one stripe of `k` data shards holds as pb writes it. */
export function stripeDataBytes(k: number): number {
  if (!(Number.isInteger(k) && k >= 1 && k <= MAX_DATA_SHARDS))
    throw new EngineError('invalid-argument', `stripeDataBytes: k must be 1..${MAX_DATA_SHARDS}, got ${k}`);
  return Math.max(MIN_STRIPE_DATA_BYTES, k * DATA_SHARD_BYTES);
}

/** Upper bound on stripes in one call; callers pass a subset (e.g. the changed ones) when bigger. */
export const MAX_STRIPES_PER_CALL = 4_000_000;

export interface StripeHolding {
  readonly stripeId: string;
  readonly owner: string;
  readonly dataShards: number;
  readonly parityShards: number;
  /** Bytes of each shard (all shards of a stripe have the same size). */
  readonly shardBytes: number;
  /** holders[i]: the member holding shard i, or null when that shard is known to be gone. */
  readonly holders: readonly (string | null)[];
}

/** The key of an owner's placement plan for stripes of `shardsPerStripe` shards. */
export function planKey(owner: string, shardsPerStripe: number): string {
  return `${shardsPerStripe}:${owner}`;
}

export function validateStripeList(stripes: unknown, what = 'stripes'): void {
  if (!Array.isArray(stripes)) throw new EngineError('invalid-argument', `${what} must be an array`);
  if (stripes.length > MAX_STRIPES_PER_CALL) {
    throw new EngineError(
      'invalid-argument',
      `at most ${MAX_STRIPES_PER_CALL} ${what} per call, got ${stripes.length}: pass them in parts`,
    );
  }
}

/** Checks one stripe's shape; returns k + m. */
export function validateStripe(st: StripeHolding, i: number): number {
  if (st === null || typeof st !== 'object')
    throw new EngineError('invalid-argument', `stripe[${i}] must be an object`);
  if (typeof st.stripeId !== 'string' || st.stripeId.length === 0) {
    throw new EngineError('invalid-argument', `stripe[${i}] needs a non-empty string stripeId`);
  }
  if (typeof st.owner !== 'string' || st.owner.length === 0) {
    fail(st, 'invalid-argument', ` needs a non-empty string owner`);
  }
  const k = st.dataShards;
  const m = st.parityShards;
  if (!Number.isInteger(k) || k < 1 || k > MAX_DATA_SHARDS) {
    fail(st, 'invalid-shape', `: dataShards must be 1..${MAX_DATA_SHARDS}, got ${k}`);
  }
  if (!Number.isInteger(m) || m < 0 || m > MAX_PARITY_SHARDS) {
    fail(st, 'invalid-shape', `: parityShards must be 0..${MAX_PARITY_SHARDS}, got ${m}`);
  }
  if (!Number.isSafeInteger(st.shardBytes) || st.shardBytes < 0) {
    fail(st, 'invalid-shape', `: shardBytes must be a whole number >= 0`);
  }
  const holders = st.holders;
  if (!Array.isArray(holders) || holders.length !== k + m) {
    fail(st, 'invalid-shape', `: holders must list ${k + m} entries (k + m)`);
  }
  const owner = st.owner;
  for (let a = 0; a < holders.length; a++) {
    const h = holders[a];
    if (h === null) continue;
    if (typeof h !== 'string' || h.length === 0) {
      fail(st, 'invalid-argument', `: holders[${a}] must be a member id or null`);
    }
    if (h === owner) {
      fail(st, 'invalid-argument', `: its owner ${JSON.stringify(h)} holds shard ${a}`);
    }
    for (let b = 0; b < a; b++) {
      if (holders[b] === h) {
        fail(st, 'invalid-argument', `: member ${JSON.stringify(h)} holds two shards (${b} and ${a})`);
      }
    }
  }
  return k + m;
}

/**
 * A bad stripe, named. Only a failure quotes the id, and the helper is not a closure made per
 * call: both cost on the hot path (every plan checks every stripe it is given).
 */
function fail(st: StripeHolding, code: 'invalid-argument' | 'invalid-shape', what: string): never {
  throw new EngineError(code, `stripe ${JSON.stringify(st.stripeId)}${what}`);
}

/** The stripe's multiplicity (aggregated inputs carry `count`; 1 otherwise), validated. */
export function stripeCount(st: { readonly stripeId: string; readonly count?: number | undefined }): number {
  const count = st.count ?? 1;
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new EngineError(
      'invalid-argument',
      `stripe ${JSON.stringify(st.stripeId)}: count must be a whole number >= 0`,
    );
  }
  return count;
}

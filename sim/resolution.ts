/**
 * How many stripes a run models with `--shard auto`: its resolution. The simulator plays every
 * stripe of the group, and each disk failure costs a pass of repairs over the stripes the failed
 * member held, so a run's work grows with stripes x failures. With `--stripes auto` (the default)
 * the run models 20,000 stripes, fewer when many failures are expected: at most about
 * `AUTO_STRIPE_FAILURES` stripe-failures, and never fewer than `MIN_AUTO_STRIPES` stripes.
 * docs/sim.md ("Resolution") gives what the coarser resolution changes, measured.
 */
import type { SimConfig } from './config.ts';

/** The most stripes `auto` models: a quiet group's run. */
export const MAX_AUTO_STRIPES = 20_000;
/** The fewest stripes `auto` models, however many failures are expected. */
export const MIN_AUTO_STRIPES = 2_000;
/** Stripes x expected disk failures that `auto` keeps a run within. */
export const AUTO_STRIPE_FAILURES = 1_200_000;

/** Disk failures the run expects: every member that ever takes part, at the rate, plus the scheduled ones. */
export function expectedFailures(c: SimConfig): number {
  const members = c.pledgesBytes.length + c.joins;
  const years = c.days / 365;
  return members * c.afr * years + c.failures.length;
}

/** The stripe count `--shard auto` aims at for this run. */
export function modelledStripes(c: SimConfig): number {
  if (c.targetStripes !== 'auto') return c.targetStripes;
  const failures = expectedFailures(c);
  if (!(failures > 0)) return MAX_AUTO_STRIPES;
  const byBudget = Math.round(AUTO_STRIPE_FAILURES / failures);
  return Math.min(MAX_AUTO_STRIPES, Math.max(MIN_AUTO_STRIPES, byBudget));
}

/**
 * The straw2 weights of a placement plan (docs/design.md §4, docs/placement.md): the weights
 * under which straw2 choosing `picks` members includes each with its target probability, and the
 * inclusion probabilities a set of weights gives. Pure numerics; placement.ts uses them once per
 * plan.
 */
import { invariant } from './errors.ts';

/** Limits of the weight solver: rounds and the relative accuracy it stops at. */
const SOLVER_MAX_ROUNDS = 200;
const SOLVER_TOLERANCE = 1e-10;
/** After SOLVER_MAX_ROUNDS, an error below this is still accepted (fills change by < 1e-6). */
const SOLVER_ACCEPTABLE = 1e-6;
/** Integration step in ln(t); the integrand is smooth, so the trapezoid rule is exact to ~1e-12. */
const LOG_STEP = 0.04;
const MAX_GRID_POINTS = 20_000;

/**
 * Weights w such that straw2 choosing `picks` of these members includes member i with probability
 * target[i]. Fixed-point iteration on the log-survival ratio,
 *   w_i <- w_i * ln(1 - target_i) / ln(1 - inclusion_i(w)),   normalised to max 1,
 * which converges in 5-40 rounds where the plain ratio target/inclusion can take hundreds for
 * targets near 1 (measured over random log-uniform groups).
 */
export function solveStraw2Weights(
  target: readonly number[],
  picks: number,
): { weights: number[]; rounds: number } {
  const n = target.length;
  invariant(picks >= 1 && picks <= n, `picks ${picks} of ${n}`);
  if (picks === n) return { weights: target.map(() => 1), rounds: 0 };
  let w = target.map((p) => -Math.log1p(-Math.min(p, 1 - 1e-9)));
  let worst = Number.POSITIVE_INFINITY;
  for (let round = 1; round <= SOLVER_MAX_ROUNDS; round++) {
    const inc = straw2Inclusion(w, picks);
    worst = 0;
    const next = w.map((wi, i) => {
      const t = target[i]!;
      const p = Math.min(inc[i]!, 1 - 1e-15);
      worst = Math.max(worst, Math.abs(t / p - 1), Math.abs((1 - t) / (1 - p) - 1));
      return (wi * Math.log1p(-t)) / Math.log1p(-p);
    });
    const max = Math.max(...next);
    w = next.map((x) => x / max);
    if (worst < SOLVER_TOLERANCE) return { weights: w, rounds: round };
  }
  if (worst < SOLVER_ACCEPTABLE) return { weights: w, rounds: SOLVER_MAX_ROUNDS };
  // The iteration is a contraction in practice (4-20 rounds); not converging is a bug to see.
  throw new Error(
    `engine invariant violated: straw2 weight solver did not converge in ${SOLVER_MAX_ROUNDS} rounds`,
  );
}

/**
 * Probability that straw2 with weights w, choosing `picks` members, includes each member:
 *   pi_i = integral_0^inf w_i e^{-w_i t} P[fewer than picks of the others arrive before t] dt
 * integrated in ln t; the count of the others is Poisson-binomial (prefix/suffix tables).
 */
export function straw2Inclusion(weights: readonly number[], picks: number): number[] {
  const n = weights.length;
  let wMax = 0;
  let wMin = Number.POSITIVE_INFINITY;
  for (const x of weights) {
    invariant(x > 0 && Number.isFinite(x), `straw2 weight ${x}`);
    wMax = Math.max(wMax, x);
    wMin = Math.min(wMin, x);
  }
  const uLo = Math.log(1e-12 / wMax);
  const uHi = Math.log(60 / wMin);
  const points = Math.min(MAX_GRID_POINTS, Math.ceil((uHi - uLo) / LOG_STEP) + 1);
  const du = (uHi - uLo) / (points - 1);
  const P = picks;
  const pre = new Float64Array((n + 1) * P);
  const sufCum = new Float64Array((n + 2) * P);
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  const acc = new Float64Array(n);
  const suf = new Float64Array(P);
  for (let g = 0; g < points; g++) {
    const t = Math.exp(uLo + g * du);
    for (let j = 0; j < n; j++) {
      q[j] = Math.exp(-weights[j]! * t);
      p[j] = -Math.expm1(-weights[j]! * t);
    }
    // prefix: pre[j*P + c] = P[c of members 0..j-1 arrived], c < P
    pre.fill(0, 0, P);
    pre[0] = 1;
    for (let j = 0; j < n; j++) {
      const from = j * P;
      const to = from + P;
      const pj = p[j]!;
      const qj = q[j]!;
      pre[to] = pre[from]! * qj;
      for (let c = 1; c < P; c++) pre[to + c] = pre[from + c]! * qj + pre[from + c - 1]! * pj;
    }
    // suffix, cumulative: sufCum[j*P + c] = P[at most c of members j..n-1 arrived]
    suf.fill(0);
    suf[0] = 1;
    for (let c = 0; c < P; c++) sufCum[n * P + c] = 1;
    for (let j = n - 1; j >= 0; j--) {
      const pj = p[j]!;
      const qj = q[j]!;
      for (let c = P - 1; c >= 1; c--) suf[c] = suf[c]! * qj + suf[c - 1]! * pj;
      suf[0] = suf[0]! * qj;
      let cum = 0;
      for (let c = 0; c < P; c++) {
        cum += suf[c]!;
        sufCum[j * P + c] = cum;
      }
    }
    // weight of this grid point: trapezoid (half at both ends)
    const edge = g === 0 || g === points - 1 ? 0.5 : 1;
    for (let i = 0; i < n; i++) {
      let fewer = 0;
      const preBase = i * P;
      const sufBase = (i + 1) * P;
      for (let a = 0; a < P; a++) fewer += pre[preBase + a]! * sufCum[sufBase + (P - 1 - a)]!;
      const wt = weights[i]! * t;
      acc[i] = acc[i]! + edge * wt * q[i]! * fewer;
    }
  }
  const tLo = Math.exp(uLo);
  return Array.from(acc, (x, i) => x * du + weights[i]! * tLo);
}

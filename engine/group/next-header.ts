/**
 * The header of the next op a member makes on top of a folded state (docs/group-log.md section 4):
 * clock + 1 and the current heads as parents. The highest-clock head is always among the parents,
 * so the new op's clock is exactly one more than its largest parent's and never breaks the fold's
 * clock-step bound (MAX_CLOCK_STEP), however many heads there are.
 */
import { GroupError } from './errors.ts';
import { MAX_PARENTS, type OpHeader } from './ops.ts';
import type { GroupState } from './state.ts';

/** Per state returned by the fold: the head with the highest clock (ties: the smallest hash). */
const topHeads = new WeakMap<object, string>();

/** Called by the fold for each state that has heads. */
export function rememberTopHead(state: object, hash: string): void {
  topHeads.set(state, hash);
}

/**
 * The header of the next op a member (or a candidate holding the log) makes on top of `state`:
 * clock + 1 and the current heads as parents. With more than MAX_PARENTS heads: the highest-clock
 * head and the smallest others (the rest stay heads and are named by a later op).
 */
export function nextHeader(state: GroupState, atMs: number): OpHeader {
  if (state.groupId === null) throw new GroupError('invalid-argument', 'the state has no group yet');
  if (!Number.isSafeInteger(atMs) || atMs < 0)
    throw new GroupError('invalid-argument', `atMs must be a whole number >= 0`);
  let parents = state.heads.slice(0, MAX_PARENTS);
  const top = topHeads.get(state);
  if (state.heads.length > MAX_PARENTS) {
    if (top === undefined)
      throw new GroupError('invalid-argument', 'nextHeader takes a state returned by foldGroup');
    if (!parents.includes(top)) parents = [top, ...parents.slice(0, MAX_PARENTS - 1)].sort();
  }
  return { group: state.groupId, clock: state.clock + 1, atMs, parents };
}

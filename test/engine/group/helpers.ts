/** Shared fixtures for the group tests: named identities, tokens, and a tiny op-building world. */
import { sha256 } from '@noble/hashes/sha2.js';
import {
  type Agreement,
  deriveMemberKeys,
  foldGroup,
  type GroupOp,
  type GroupState,
  inviteTokenHash,
  type MemberKeys,
  memberIdFromPublicKey,
  nextHeader,
  type OpBody,
  signOp,
  toHex,
} from '../../../engine/index.ts';

const keyCache = new Map<number, MemberKeys>();
/** The identity derived from the recovery secret of 32 bytes all equal to `n`. */
export function keysOf(n: number): MemberKeys {
  let k = keyCache.get(n);
  if (k === undefined) {
    k = deriveMemberKeys(new Uint8Array(32).fill(n));
    keyCache.set(n, k);
  }
  return k;
}
export const idOf = (n: number): string => memberIdFromPublicKey(keysOf(n).publicKey);

/** A 32-byte invite token (hex) for a label, and its hash. */
export function tokenOf(label: string): { token: string; tokenHash: string } {
  const token = toHex(sha256(new TextEncoder().encode(`token:${label}`)));
  return { token, tokenHash: inviteTokenHash(token) };
}

export const T0 = 1_700_000_000_000;
export const DAY_MS = 24 * 3600 * 1000;
export const AGREEMENT: Agreement = { ratio: 2, tolerance: 1 };

/** Creates a group founded by `founder`; returns its create op. */
export function createOp(founder: number, agreement: Agreement = AGREEMENT, atMs = T0): GroupOp {
  return signOp(
    keysOf(founder),
    { group: null, clock: 0, atMs, parents: [] },
    {
      kind: 'create',
      agreement,
      name: `member-${founder}`,
      addresses: [`/ip4/127.0.0.1/tcp/${4000 + founder}`],
    },
  );
}

/** Signs `body` by `author` on top of the fold of `ops` (clock + 1, heads as parents). */
export function opOn(ops: readonly GroupOp[], author: number, body: OpBody, atMs = T0): GroupOp {
  return signOp(keysOf(author), nextHeader(foldGroup(ops, atMs), atMs), body);
}

/** A replica: an op list that grows by signing on top of itself. */
export class Replica {
  ops: GroupOp[];
  constructor(ops: readonly GroupOp[] = []) {
    this.ops = [...ops];
  }
  state(nowMs = T0): GroupState {
    return foldGroup(this.ops, nowMs);
  }
  act(author: number, body: OpBody, atMs = T0): GroupOp {
    const op = opOn(this.ops, author, body, atMs);
    this.ops.push(op);
    return op;
  }
  receive(ops: readonly GroupOp[]): void {
    const known = new Set(this.ops.map((o) => o.hash));
    for (const op of ops) if (!known.has(op.hash)) this.ops.push(op);
  }
}

/** The parts of a state that mean something to members (no op bookkeeping). */
export function semantic(s: GroupState) {
  return {
    groupId: s.groupId,
    agreement: s.agreement,
    members: s.members,
    pending: s.pending,
    invites: s.invites,
    removed: s.removed,
    outcomes: s.outcomes,
    placement: s.placement,
  };
}

/**
 * The join protocol's two ends on a daemon (docs/protocols.md section 3). The inviter's desk
 * admits a candidate presenting a live invite of this member, hands it only the header its request
 * takes (never the group's members, addresses or pledges before approval), and keeps its request
 * only once it is checked to be the candidate's own, unexpired request for that invite and to
 * apply: nothing a code holder sends reaches the op log otherwise. Every failed attempt counts
 * against the invite; after MAX_JOIN_ATTEMPTS the invite is refused until the inviter restarts or
 * makes a new one. The candidate's end signs its request on the offered header.
 */
import {
  decodeOp,
  EngineError,
  foldGroup,
  type GroupOp,
  inviteTokenHash,
  nextHeader,
  type SigningKeys,
  signOp,
  toHex,
} from '../../../engine/index.ts';
import { nodeEd25519Signer, nodeEd25519Verifier } from '../../crypto/ed25519.ts';
import { NetError } from '../../net/errors.ts';
import type { JoinHeader, JoinHost, JoinOffer, JoinOutcome } from '../../net/join.ts';
import type { GroupService } from './group-service.ts';

/** Failed join attempts (refused requests, streams cut before a request) an invite survives. */
export const MAX_JOIN_ATTEMPTS = 5;
/** Invites whose failures are remembered at once (the oldest forgotten first). */
const MAX_TRACKED_INVITES = 4096;

export interface JoinDeskOptions {
  group: GroupService;
  self: string;
  log: (line: string) => void;
  /** A candidate's join stream ended: it may be cut off now (the access policy changed). */
  joinerLeft: () => void;
  now?: () => number;
}

export class JoinDesk implements JoinHost {
  private readonly verify = nodeEd25519Verifier();
  /** Failed attempts per invite token hash. */
  private readonly failures = new Map<string, number>();

  constructor(private readonly options: JoinDeskOptions) {}

  private get group(): GroupService {
    return this.options.group;
  }
  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** The candidate's request presenting this token, if the log holds one. */
  private ownRequest(candidate: string, tokenHash: string): GroupOp | undefined {
    return this.group.log
      .ops()
      .find((op) => op.kind === 'request' && op.author === candidate && op.tokenHash === tokenHash);
  }

  admitHello(candidate: string, token: Uint8Array): JoinOffer {
    const state = this.group.state;
    if (state === null || state.groupId === null || !this.group.selfIsMember)
      throw new NetError('invalid-invite', 'this node is not a member of a group');
    const tokenHash = inviteTokenHash(toHex(token));
    const resumed = this.ownRequest(candidate, tokenHash);
    if (resumed === undefined) {
      const invite = state.invites.find((i) => i.tokenHash === tokenHash);
      if (invite === undefined) {
        const ops = this.group.log.ops();
        const used = ops.some((op) => op.kind === 'request' && op.tokenHash === tokenHash);
        const issued = ops.find((op) => op.kind === 'invite' && op.tokenHash === tokenHash);
        if (used) throw new NetError('invalid-invite', 'this invite was already used');
        if (issued?.kind === 'invite' && issued.expiresAtMs <= this.now())
          throw new NetError('invalid-invite', 'this invite expired');
        throw new NetError('invalid-invite', 'unknown invite');
      }
      if (invite.by !== this.options.self)
        throw new NetError('invalid-invite', 'this invite was issued by another member: ask them');
      const failed = this.failures.get(tokenHash) ?? 0;
      if (failed >= MAX_JOIN_ATTEMPTS)
        throw new NetError(
          'invalid-invite',
          `this invite failed ${failed} times (at most ${MAX_JOIN_ATTEMPTS}): ask for a new one`,
        );
    }
    this.group.activeJoiners.add(candidate);
    const header = nextHeader(state, this.now());
    return {
      groupId: state.groupId,
      clock: header.clock,
      parents: [...header.parents],
      ops: resumed === undefined ? [] : [resumed.bytes],
    };
  }

  async acceptRequest(candidate: string, token: Uint8Array, bytes: Uint8Array): Promise<string> {
    const tokenHash = inviteTokenHash(toHex(token));
    let op: GroupOp;
    try {
      op = decodeOp(bytes, { verify: this.verify });
    } catch (error) {
      if (error instanceof EngineError)
        throw new NetError('bad-message', `the request op does not verify: ${error.message}`);
      throw error;
    }
    if (op.kind !== 'request' || op.author !== candidate || op.tokenHash !== tokenHash)
      throw new NetError('bad-message', 'expected the candidate’s own request presenting the invite token');
    const state = this.group.state;
    if (state === null || state.groupId === null) throw new NetError('internal', 'no group');
    if (this.group.log.has(op.hash)) {
      // A candidate resuming its wait: the request is already kept.
      if (
        state.pending.some((p) => p.request === op.hash) ||
        state.outcomes.some((o) => o.request === op.hash)
      )
        return op.hash;
      const dropped = state.dropped.find((d) => d.hash === op.hash);
      throw new NetError('invalid-invite', `the request was not accepted: ${dropped?.reason ?? 'unknown'}`);
    }
    const invite = state.invites.find((i) => i.tokenHash === tokenHash && i.by === this.options.self);
    if (invite === undefined) throw new NetError('invalid-invite', 'this invite is no longer live');
    if (this.now() > invite.expiresAtMs || op.atMs > invite.expiresAtMs)
      throw new NetError('invalid-invite', 'this invite expired');
    // Would it apply? Judged on a trial fold; the log and the disk are untouched until it does.
    const trial = foldGroup([...this.group.log.ops(), op], this.now(), { groupId: state.groupId });
    if (!trial.pending.some((p) => p.request === op.hash)) {
      const dropped = trial.dropped.find((d) => d.hash === op.hash);
      throw new NetError('invalid-invite', `the request was not accepted: ${dropped?.reason ?? 'unknown'}`);
    }
    this.group.receive([op.bytes]);
    if (!this.group.state?.pending.some((p) => p.request === op.hash))
      throw new Error(`join: the request ${op.hash} applied on trial but not in the log`);
    // (receive refolded: the change event tells the other members)
    this.options.log(`join request from ${candidate} (${op.kind === 'request' ? op.name : ''})`);
    return op.hash;
  }

  attemptFailed(candidate: string, token: Uint8Array): void {
    const tokenHash = inviteTokenHash(toHex(token));
    if (this.ownRequest(candidate, tokenHash) !== undefined) return; // its request is kept: a resume
    const failed = (this.failures.get(tokenHash) ?? 0) + 1;
    this.failures.delete(tokenHash);
    if (this.failures.size >= MAX_TRACKED_INVITES) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(tokenHash, failed);
    this.options.log(`join attempt ${failed} of ${MAX_JOIN_ATTEMPTS} with an invite failed (${candidate})`);
  }

  outcome(request: string): JoinOutcome | null {
    return this.group.state?.outcomes.find((o) => o.request === request)?.outcome ?? null;
  }

  allOps(): Uint8Array[] {
    return this.group.allOps();
  }

  finished(candidate: string): void {
    this.group.activeJoiners.delete(candidate);
    this.options.joinerLeft();
  }
}

/**
 * The candidate's request op on the inviter's offered header (or the one it already made with
 * this token, when the inviter hands it back: the same request resumes its wait).
 */
export function makeJoinRequest(
  keys: SigningKeys,
  self: string,
  offer: JoinHeader,
  token: Uint8Array,
  body: { name: string; addresses: string[] },
  nowMs: number,
): Uint8Array {
  const tokenHex = toHex(token);
  const tokenHash = inviteTokenHash(tokenHex);
  const verify = nodeEd25519Verifier();
  for (const bytes of offer.ops) {
    try {
      const op = decodeOp(bytes, { verify });
      if (op.kind === 'request' && op.author === self && op.tokenHash === tokenHash) return op.bytes;
    } catch (error) {
      if (!(error instanceof EngineError)) throw error;
    }
  }
  const op = signOp(
    keys,
    { group: offer.groupId, clock: offer.clock, atMs: nowMs, parents: offer.parents },
    { kind: 'request', name: body.name, addresses: body.addresses, token: tokenHex },
    { sign: nodeEd25519Signer() },
  );
  return op.bytes;
}

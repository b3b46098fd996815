/**
 * The rules of each op kind (docs/group-log.md section 4), applied by the fold in (clock, hash)
 * order to the group's state as it stands at that op. Each rule returns null when the op applies
 * or the reason it is dropped; a dropped op changes nothing, except that a request spends the
 * invite token it presents whatever happens next: also before its invite in the order, and also
 * when the request was never judged (its bytes, token included, are in the set all the same).
 */
import type { Agreement } from '../capacity.ts';
import { invariant } from '../errors.ts';
import type { GroupOp } from './ops.ts';
import type { DropReason, PendingRequest, RemovedMember, RequestOutcome } from './state.ts';

export interface MutableMember {
  id: string;
  name: string;
  addresses: readonly string[];
  pledgeBytes: number;
  sinceMs: number;
  sinceClock: number;
  invitedBy: string | null;
}

export interface Invite {
  tokenHash: string;
  by: string;
  expiresAtMs: number;
  op: string;
  used: boolean;
  cancelled: boolean;
}

type OpOf<K extends GroupOp['kind']> = Extract<GroupOp, { kind: K }>;

/** The group's state while the fold runs: what each applied op changed. */
export class GroupRules {
  readonly members = new Map<string, MutableMember>();
  readonly pending = new Map<string, PendingRequest>();
  readonly invites = new Map<string, Invite>();
  /** Unused invites by inviter, so a removal cancels them without scanning every invite. */
  private readonly openInvitesBy = new Map<string, Set<Invite>>();
  /** Token hashes presented before their invite applied: such an invite is born spent. */
  private readonly presentedEarly = new Set<string>();
  readonly removed = new Map<string, RemovedMember>();
  readonly outcomes: RequestOutcome[] = [];
  agreement: Agreement | null = null;
  founded = false;

  /** Applies `op` if its kind's rules hold; otherwise returns why it is dropped. */
  apply(op: GroupOp): DropReason | null {
    if (op.kind === 'create') return this.create(op);
    if (op.kind === 'request') return this.request(op);
    // Every other kind: only a current member authors it.
    const author = this.members.get(op.author);
    if (author === undefined) return 'not-a-member';
    switch (op.kind) {
      case 'invite':
        return this.invite(op);
      case 'approve':
      case 'reject':
        return this.decide(op);
      case 'remove':
        return this.remove(op);
      case 'pledge':
        author.pledgeBytes = op.pledgeBytes;
        return null;
      case 'agree':
        this.agreement = op.agreement;
        return null;
      case 'addresses':
        // The member's own latest word (ops apply in (clock, hash) order).
        author.addresses = op.addresses;
        return null;
      default:
        invariant(false, `unhandled op kind ${(op as GroupOp).kind}`);
    }
  }

  private create(op: OpOf<'create'>): null {
    invariant(!this.founded, 'only one create op has the group hash');
    this.founded = true;
    this.agreement = op.agreement;
    this.members.set(op.author, {
      id: op.author,
      name: op.name,
      addresses: op.addresses,
      pledgeBytes: 0,
      sinceMs: op.atMs,
      sinceClock: op.clock,
      invitedBy: null,
    });
    return null;
  }

  /**
   * Spends the token a request presents. The first request that presents a token spends it,
   * whatever happens next (late, already a member, already waiting, dropped unjudged, or ordered
   * before its invite): a token seen in gossip can never be redeemed by someone else.
   * Returns the invite as it was before, or undefined when none has applied yet.
   */
  spendToken(tokenHash: string): { used: boolean; cancelled: boolean; invite: Invite } | undefined {
    const invite = this.invites.get(tokenHash);
    if (invite === undefined) {
      this.presentedEarly.add(tokenHash);
      return undefined;
    }
    const before = { used: invite.used, cancelled: invite.cancelled, invite };
    invite.used = true;
    this.openInvitesBy.get(invite.by)?.delete(invite);
    return before;
  }

  private request(op: OpOf<'request'>): DropReason | null {
    const spent = this.spendToken(op.tokenHash!);
    if (spent === undefined || spent.cancelled) return 'unknown-token';
    if (spent.used) return 'token-used';
    const invite = spent.invite;
    if (op.atMs > invite.expiresAtMs) return 'token-expired';
    if (this.members.has(op.author)) return 'already-member';
    if (this.pending.has(op.author)) return 'duplicate-request';
    this.pending.set(op.author, {
      candidate: op.author,
      request: op.hash,
      name: op.name,
      addresses: op.addresses,
      invitedBy: invite.by,
      atMs: op.atMs,
      clock: op.clock,
    });
    return null;
  }

  private invite(op: OpOf<'invite'>): DropReason | null {
    if (this.invites.has(op.tokenHash)) return 'duplicate-token';
    const invite: Invite = {
      tokenHash: op.tokenHash,
      by: op.author,
      expiresAtMs: op.expiresAtMs,
      op: op.hash,
      used: this.presentedEarly.has(op.tokenHash),
      cancelled: false,
    };
    this.invites.set(op.tokenHash, invite);
    if (invite.used) return null;
    const open = this.openInvitesBy.get(op.author);
    if (open === undefined) this.openInvitesBy.set(op.author, new Set([invite]));
    else open.add(invite);
    return null;
  }

  private decide(op: OpOf<'approve'> | OpOf<'reject'>): DropReason | null {
    const p = this.pending.get(op.candidate);
    if (p === undefined || p.request !== op.request) return 'no-pending-request';
    if (p.invitedBy !== op.author) return 'not-inviter';
    this.pending.delete(op.candidate);
    this.outcomes.push({
      candidate: p.candidate,
      request: p.request,
      outcome: op.kind === 'approve' ? 'approved' : 'rejected',
      op: op.hash,
      by: op.author,
    });
    if (op.kind === 'approve') {
      this.removed.delete(p.candidate);
      this.members.set(p.candidate, {
        id: p.candidate,
        name: p.name,
        addresses: p.addresses,
        pledgeBytes: 0,
        sinceMs: op.atMs,
        sinceClock: op.clock,
        invitedBy: p.invitedBy,
      });
    }
    return null;
  }

  private remove(op: OpOf<'remove'>): DropReason | null {
    const target = op.member;
    const p = this.pending.get(target);
    if (!this.members.has(target) && p === undefined) return 'not-pending-or-member';
    this.members.delete(target);
    if (p !== undefined) this.cancelRequest(p, op);
    this.removed.set(target, { id: target, by: op.author, atMs: op.atMs, clock: op.clock, op: op.hash });
    // What the removed member set in motion dies with it: its invites and the requests it must decide.
    for (const invite of this.openInvitesBy.get(target) ?? []) invite.cancelled = true;
    this.openInvitesBy.delete(target);
    for (const q of [...this.pending.values()]) if (q.invitedBy === target) this.cancelRequest(q, op);
    return null;
  }

  private cancelRequest(p: PendingRequest, op: GroupOp): void {
    this.pending.delete(p.candidate);
    this.outcomes.push({
      candidate: p.candidate,
      request: p.request,
      outcome: 'cancelled',
      op: op.hash,
      by: op.author,
    });
  }
}

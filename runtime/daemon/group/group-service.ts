/**
 * The group as this member sees it: the op log (verified once, on disk), its fold, the ops this
 * member authors, and the access policy derived from it (who may connect, who may use what).
 * Reconciliation with the other members runs on connect, after every change and periodically.
 */
import { EventEmitter } from 'node:events';
import {
  type Agreement,
  foldGroup,
  type GroupOp,
  type GroupState,
  nextHeader,
  type OpBody,
  OpLog,
  type SigningKeys,
  type SyncIndex,
  signOp,
  syncIndex,
} from '../../../engine/index.ts';
import { nodeEd25519Signer, nodeEd25519Verifier } from '../../crypto/ed25519.ts';
import type { AccessPolicy } from '../../net/access.ts';
import { GROUP_PROTOCOL } from '../../net/group-sync.ts';
import { GrantedCircuits } from '../../net/guests.ts';
import { JOIN_PROTOCOL } from '../../net/join.ts';
import { OpFile } from './op-file.ts';

export class GroupServiceError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'GroupServiceError';
    this.code = code;
  }
}

export interface GroupServiceEvents {
  change: [state: GroupState];
}

export class GroupService extends EventEmitter<GroupServiceEvents> {
  readonly log: OpLog;
  private groupIdValue: string | null;
  private stateValue: GroupState | null = null;
  private index: SyncIndex | null = null;
  private readonly sign = nodeEd25519Signer();
  /** Candidates this member's relay server carried to a member, and when (net/guests.ts). */
  private readonly guestCircuits = new GrantedCircuits();
  /** Relays this member reserves on: they may connect though not members. */
  readonly trustedPeers = new Set<string>();
  /** Candidates whose join stream is open here: they keep their connection until it ends. */
  readonly activeJoiners = new Set<string>();
  /** When the last invite this member issued expires, used or not (0: none). */
  private myInvitesUntilMs = 0;

  private constructor(
    private readonly file: OpFile,
    readonly self: string,
    private readonly keys: SigningKeys,
    groupId: string | null,
    private readonly now: () => number,
  ) {
    super();
    this.log = new OpLog({ verify: nodeEd25519Verifier() });
    this.groupIdValue = groupId;
  }

  static open(
    dir: string,
    self: string,
    keys: SigningKeys,
    now: () => number = Date.now,
  ): { service: GroupService; warnings: string[] } {
    const { file, ops, groupId, warnings } = OpFile.open(dir);
    const service = new GroupService(file, self, keys, groupId, now);
    for (const bytes of ops) {
      const r = service.log.add(bytes);
      if (r.status === 'rejected') throw new Error(`the op log on disk holds a bad op: ${r.error.message}`);
    }
    service.refold();
    return { service, warnings };
  }

  get groupId(): string | null {
    return this.groupIdValue;
  }

  /** The folded state; null before this node founded or joined a group. */
  get state(): GroupState | null {
    return this.stateValue;
  }

  isMember(id: string): boolean {
    return this.stateValue?.members.some((m) => m.id === id) ?? false;
  }

  get selfIsMember(): boolean {
    return this.isMember(this.self);
  }

  refold(): void {
    this.index = null;
    if (this.groupIdValue === null) {
      this.stateValue = null;
      return;
    }
    const ops = this.log.ops();
    this.stateValue = foldGroup(ops, this.now(), { groupId: this.groupIdValue });
    let until = 0;
    for (const op of ops)
      if (op.kind === 'invite' && op.author === this.self) until = Math.max(until, op.expiresAtMs);
    this.myInvitesUntilMs = until;
    this.emit('change', this.stateValue);
  }

  syncIndex(): SyncIndex {
    if (this.index === null) this.index = syncIndex(this.log.hashes());
    return this.index;
  }

  opBytes(hash: string): Uint8Array | undefined {
    return this.log.get(hash)?.bytes;
  }

  allOps(): Uint8Array[] {
    return this.log.ops().map((o) => o.bytes);
  }

  /** Verifies and keeps ops (from the network); refolds once if any was new. */
  receive(ops: readonly Uint8Array[]): { added: number; rejected: number } {
    const fresh: Uint8Array[] = [];
    let rejected = 0;
    for (const bytes of ops) {
      const r = this.log.add(bytes);
      if (r.status === 'added') fresh.push(r.op.bytes);
      else if (r.status === 'rejected') rejected++;
    }
    if (fresh.length > 0) {
      this.file.append(fresh);
      this.refold();
    }
    return { added: fresh.length, rejected };
  }

  /** Authors an op on top of the current state and keeps it. */
  author(body: OpBody): GroupOp {
    const state = this.stateValue;
    if (state === null)
      throw new GroupServiceError(
        'no-group',
        'this node has no group yet: run `pb-node create` or `pb-node join <code>`',
      );
    if (body.kind !== 'request' && !this.selfIsMember) {
      throw new GroupServiceError('not-a-member', 'this node is not a member of its group (removed?)');
    }
    const op = signOp(this.keys, nextHeader(state, this.now()), body, { sign: this.sign });
    this.log.addOp(op);
    this.file.append([op.bytes]);
    this.refold();
    return op;
  }

  /** Founds a group: the create op. */
  create(agreement: Agreement, name: string, addresses: string[]): string {
    if (this.groupIdValue !== null)
      throw new GroupServiceError('has-group', 'this node already belongs to a group');
    const op = signOp(
      this.keys,
      { group: null, clock: 1, atMs: this.now(), parents: [] },
      { kind: 'create', agreement, name, addresses },
      { sign: this.sign },
    );
    this.log.addOp(op);
    this.file.append([op.bytes]);
    this.adoptGroupId(op.hash);
    return op.hash;
  }

  /** Takes a group (after an approved join). */
  adopt(groupId: string, ops: readonly Uint8Array[]): void {
    if (this.groupIdValue !== null && this.groupIdValue !== groupId) {
      throw new GroupServiceError('has-group', 'this node already belongs to another group');
    }
    this.receive(ops);
    this.adoptGroupId(groupId);
  }

  private adoptGroupId(groupId: string): void {
    this.groupIdValue = groupId;
    this.file.setGroupId(groupId);
    this.refold();
  }

  /**
   * Who may do what, from the fold: members everywhere; candidates with a request waiting for
   * this member, and anyone until this member's last invite expires (used or not), on the join
   * protocol only;
   * a removed member may connect as a guest and is refused on every protocol (unless invited
   * anew), so its syncs say why; a relay this member reserves on may read
   * the op log (`/pb/group/1`: a standalone relay learns the members from it). Everyone but
   * members and those relays is a guest (capped, reaped when idle: net/guests.ts). A node
   * without a group protects nothing but serves nothing either.
   */
  policy(): AccessPolicy {
    const state = this.stateValue;
    const self = this.self;
    if (state === null) {
      return {
        mayConnect: () => true,
        mayUse: () => false,
        mayRelay: () => false,
        isGuest: (peer) => !this.trustedPeers.has(peer),
      };
    }
    const members = new Set(state.members.map((m) => m.id));
    const removed = new Set(state.removed.map((r) => r.id));
    const myCandidates = new Set(state.pending.filter((p) => p.invitedBy === self).map((p) => p.candidate));
    const now = this.now();
    // An invite of this member not yet expired, also a used one: a stranger presenting a used code
    // reaches the join desk and hears "already used" instead of a refused connection.
    const liveInvite = this.myInvitesUntilMs > now;
    // A relay this member reserves on is trusted only while it is not a removed member (members
    // run relays too; a removed one must learn its removal, not keep reading the log).
    const trusted = { has: (peer: string): boolean => this.trustedPeers.has(peer) && !removed.has(peer) };
    const joiners = this.activeJoiners;
    const mayJoin = (peer: string): boolean =>
      !members.has(peer) && (myCandidates.has(peer) || joiners.has(peer) || liveInvite);
    // A removed member may connect (as a guest) only to be refused on every protocol: that is
    // how it learns of its removal; a refused connection would tell it nothing.
    const mayConnect = (peer: string): boolean =>
      peer === self || members.has(peer) || trusted.has(peer) || removed.has(peer) || mayJoin(peer);
    return {
      mayConnect,
      mayUse: (peer, protocol) =>
        protocol === JOIN_PROTOCOL
          ? mayJoin(peer)
          : members.has(peer) || (protocol === GROUP_PROTOCOL && trusted.has(peer)),
      // Reservations for members; circuits to members, from members or candidates (a removed
      // member is neither): the destination's own gate admits a non-member on join alone.
      mayRelay: (source, destination) => {
        if (destination === null) return members.has(source);
        if (!members.has(destination) || removed.has(source)) return false;
        if (!members.has(source)) this.guestCircuits.note(source);
        return true;
      },
      circuitGrantedAtMs: (peer) => this.guestCircuits.grantedAtMs(peer),
      isGuest: (peer) => peer !== self && !members.has(peer) && !trusted.has(peer),
    };
  }

  close(): void {
    this.file.close();
  }
}

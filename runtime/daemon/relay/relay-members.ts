/**
 * Who the standalone relay serves: the members of the groups it was told (by group id). It holds
 * no member list of its own; a peer proves membership by the group log it holds. When an unknown
 * peer asks for a reservation or a relayed connection, the relay pulls that peer's op log over
 * `/pb/group/1` into a copy of its own, verifies every op, and folds it from the group's create op
 * (whose hash is the group id). If the fold names the peer a member, the relay keeps the merged
 * log; otherwise it throws the copy away, so a stranger can neither make itself a member nor
 * bloat what the relay keeps. Members refresh the relay's log each time they prove themselves.
 */
import { foldGroup, OpLog, syncIndex } from '../../../engine/index.ts';
import { nodeEd25519Verifier } from '../../crypto/ed25519.ts';
import type { AccessPolicy } from '../../net/access.ts';
import { syncWithPeer } from '../../net/group-sync.ts';
import { GrantedCircuits } from '../../net/guests.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { Limiter } from '../../net/serve.ts';

/** A proof (one log pull) may take this long; the peer then stays a guest. */
export const PROOF_TIMEOUT_MS = 10_000;
/** A member proven this recently is not asked again. */
export const PROOF_FRESH_MS = 60_000;
/** Proofs running at once, and waiting (more are refused at once). */
const MAX_CONCURRENT_PROOFS = 4;
const MAX_WAITING_PROOFS = 32;

class GroupView {
  log = new OpLog({ verify: nodeEd25519Verifier() });
  members = new Set<string>();

  constructor(readonly groupId: string) {}

  copy(): OpLog {
    const log = new OpLog({ verify: nodeEd25519Verifier() });
    for (const op of this.log.ops()) log.addOp(op);
    return log;
  }

  static membersOf(log: OpLog, groupId: string): Set<string> {
    return new Set(foldGroup(log.ops(), Date.now(), { groupId }).members.map((m) => m.id));
  }
}

export class RelayMembers {
  private readonly groups: GroupView[];
  private readonly limiter = new Limiter(MAX_CONCURRENT_PROOFS, MAX_WAITING_PROOFS);
  private readonly running = new Map<string, Promise<void>>();
  /** When each member last proved itself (members only: bounded by the groups' size). */
  private readonly provenAtMs = new Map<string, number>();
  private node: PbLibp2p | null = null;
  /** Guests granted a circuit to a member, and when. */
  private readonly guestCircuits = new GrantedCircuits();

  constructor(
    groupIds: readonly string[],
    private readonly log: (t: string) => void = () => undefined,
  ) {
    if (groupIds.length === 0) throw new Error('a relay serves at least one group');
    for (const id of groupIds) {
      if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`--group ${id}: a group id is 64 hex digits`);
    }
    this.groups = [...new Set(groupIds)].map((id) => new GroupView(id));
  }

  private mayRelay(source: string, destination: string | null): boolean {
    if (destination === null) return this.isMember(source);
    if (!this.isMember(destination)) return false;
    if (this.sameGroup(source, destination)) return true;
    if (this.isMember(source)) return false;
    this.guestCircuits.note(source);
    return true;
  }

  attach(node: PbLibp2p): void {
    this.node = node;
  }

  isMember(peer: string): boolean {
    return this.groups.some((g) => g.members.has(peer));
  }

  private sameGroup(a: string, b: string): boolean {
    return this.groups.some((g) => g.members.has(a) && g.members.has(b));
  }

  /**
   * Anyone may connect (to prove itself, as a guest); only members reserve. A circuit goes to a
   * member only: from a member of its group, or from a peer that is a member of no group served
   * here (a candidate joining through the relay when every member is behind a router; the
   * member's own gate admits it only on the join protocol, and only while it has an invite out).
   */
  policy(): AccessPolicy {
    return {
      mayConnect: () => true,
      mayUse: () => false,
      mayRelay: (source, destination) => this.mayRelay(source, destination),
      circuitGrantedAtMs: (peer) => this.guestCircuits.grantedAtMs(peer),
      isGuest: (peer) => !this.isMember(peer),
      learn: (peer) => this.learn(peer),
    };
  }

  /**
   * Pulls `peer`'s log (one pull per peer at a time; a member proven within PROOF_FRESH_MS is
   * not asked again). A peer that fails to prove membership is disconnected: to try again it
   * must connect again, within the guest caps.
   */
  learn(peer: string): Promise<void> {
    const running = this.running.get(peer);
    if (running !== undefined) return running;
    const proven = this.provenAtMs.get(peer);
    if (proven !== undefined && this.isMember(peer) && Date.now() - proven < PROOF_FRESH_MS)
      return Promise.resolve();
    const p = this.prove(peer).finally(() => this.running.delete(peer));
    this.running.set(peer, p);
    return p;
  }

  private async prove(peer: string): Promise<void> {
    const node = this.node;
    if (node === null) return;
    const release = await this.limiter.acquire(PROOF_TIMEOUT_MS);
    try {
      for (const group of this.groups) {
        const log = group.copy();
        const pulled = syncWithPeer(node, peer, {
          index: () => syncIndex(log.hashes()),
          opBytes: (h) => log.get(h)?.bytes,
          receive: async (_p, ops) => ops.filter((bytes) => log.add(bytes).status === 'added').length,
        });
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no log within ${PROOF_TIMEOUT_MS} ms`)),
            PROOF_TIMEOUT_MS,
          );
        });
        try {
          await Promise.race([pulled, timeout]);
        } catch (error) {
          pulled.catch(() => undefined);
          this.log(`${peer}: no proof of membership: ${(error as Error).message}`);
          return;
        } finally {
          clearTimeout(timer);
        }
        const members = GroupView.membersOf(log, group.groupId);
        if (members.has(peer)) {
          const known = group.members.has(peer);
          group.log = log;
          group.members = members;
          for (const p of this.provenAtMs.keys()) if (!this.isMember(p)) this.provenAtMs.delete(p);
          this.provenAtMs.set(peer, Date.now());
          if (!known) this.log(`${peer}: member of ${group.groupId.slice(0, 12)}, ${members.size} members`);
          return;
        }
      }
      // A guest: held within the guest caps (guests.ts) and closed when idle, not cut off here,
      // so a candidate's circuit to a member survives its failed proof.
      this.log(`${peer}: not a member of a group this relay serves`);
    } finally {
      release();
    }
  }
}

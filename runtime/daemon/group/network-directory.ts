/**
 * The group as a ShardDirectory: each member other than the owner is a RemoteShardStore over
 * `/pb/shard/1` on this daemon's libp2p node (docs/design.md §7). The owner's pipeline runs on it
 * exactly as it runs on local directories in local mode.
 */
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { type GroupState, layoutHolders } from '../../../engine/index.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { RemoteShardStore, type UploadGate } from '../../net/remote-shard-store.ts';
import { RetryingShardStore, type RetryOptions } from '../../store/retrying-shard-store.ts';
import { type ShardDirectory, type ShardStore, ShardStoreError } from '../../store/shard-store.ts';

/** A shard holder as the pipeline's config sees it (`dir` is unused over the network). */
export interface NetworkMember {
  id: string;
  dir: string;
  pledgeBytes: number;
}

/** Bound on members one directory reaches (a group is small; the fold bounds it too). */
export const MAX_DIRECTORY_MEMBERS = 1000;

/** The owner's shard holders: every member but `owner` that pledged disk, sorted by id. */
export function holdersOf(state: GroupState, owner: string): NetworkMember[] {
  const out = layoutHolders(state.members, owner).map((m) => ({
    id: m.id,
    dir: '',
    pledgeBytes: m.pledgeBytes,
  }));
  if (out.length > MAX_DIRECTORY_MEMBERS)
    throw new ShardStoreError('io', `more than ${MAX_DIRECTORY_MEMBERS} shard holders`);
  return out;
}

/** A member's announced addresses that parse, without a trailing /p2p/<its own id>. */
export function announcedMultiaddrs(member: {
  readonly id: string;
  readonly addresses: readonly string[];
}): Multiaddr[] {
  return member.addresses.flatMap((a) => {
    try {
      const ma = multiaddr(a);
      const last = ma.getComponents().at(-1);
      return last?.name === 'p2p' && last.value === member.id ? [ma.decapsulateCode(421)] : [ma];
    } catch {
      return [];
    }
  });
}

/**
 * Each member's store retries transient failures (a dropped stream, a member restarting) with
 * backoff (retrying-shard-store.ts); refusals and missing shards come back at once.
 */
export class NetworkShardDirectory implements ShardDirectory {
  private readonly stores = new Map<string, ShardStore>();

  constructor(
    node: PbLibp2p,
    holders: readonly NetworkMember[],
    options: { maxInFlight?: number; retry?: RetryOptions; uploadGate?: UploadGate } = {},
  ) {
    if (holders.length > MAX_DIRECTORY_MEMBERS)
      throw new ShardStoreError('io', `more than ${MAX_DIRECTORY_MEMBERS} shard holders`);
    for (const h of holders) {
      if (this.stores.has(h.id)) throw new ShardStoreError('io', `member ${h.id} is listed twice`);
      const remote = new RemoteShardStore(node, h.id, {
        ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
        ...(options.uploadGate === undefined ? {} : { uploadGate: options.uploadGate }),
      });
      this.stores.set(h.id, new RetryingShardStore(remote, options.retry));
    }
  }

  members(): string[] {
    return [...this.stores.keys()].sort();
  }

  storeFor(memberId: string): ShardStore {
    const store = this.stores.get(memberId);
    if (store === undefined)
      throw new ShardStoreError('not-found', `member ${memberId} holds no shards here`);
    return store;
  }
}

/**
 * Local mode: each simulated member is a directory. Resolves member ids to their DirShardStore.
 */
import { DirShardStore } from './dir-shard-store.ts';
import { type ShardDirectory, type ShardStore, ShardStoreError } from './shard-store.ts';

export interface LocalMember {
  id: string;
  dir: string;
  pledgeBytes: number;
}

export class LocalShardDirectory implements ShardDirectory {
  private readonly stores: Map<string, ShardStore>;

  private constructor(stores: Map<string, ShardStore>) {
    this.stores = stores;
  }

  static async open(
    members: LocalMember[],
    options: { durable?: boolean; verifyPuts?: boolean } = {},
  ): Promise<LocalShardDirectory> {
    const stores = new Map<string, ShardStore>();
    for (const member of members) {
      if (stores.has(member.id)) throw new ShardStoreError('io', `member ${member.id} is listed twice`);
      stores.set(
        member.id,
        await DirShardStore.open(member.dir, {
          capacityBytes: member.pledgeBytes,
          ...(options.durable === undefined ? {} : { durable: options.durable }),
          ...(options.verifyPuts === undefined ? {} : { verifyPuts: options.verifyPuts }),
        }),
      );
    }
    return new LocalShardDirectory(stores);
  }

  members(): string[] {
    return [...this.stores.keys()].sort();
  }

  storeFor(memberId: string): ShardStore {
    const store = this.stores.get(memberId);
    if (!store) throw new ShardStoreError('not-found', `no store for member ${memberId}`);
    return store;
  }
}

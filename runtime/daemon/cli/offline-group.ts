/**
 * The browse verbs (`snapshots`, `ls`, `find`, `diff`, `restore`, `check`) when no daemon runs on
 * the data directory: the command opens the group itself for the one call, as recovery does
 * (recovery.ts), but from the data directory's own secret, group log and index. It takes the
 * daemon's lock (`daemon.pid`: no daemon starts meanwhile), starts a client-only libp2p node
 * with the member's identity (it listens nowhere, serves nothing, relays nothing and connects
 * only to the group's members and relays), learns their routes from the group log, runs the
 * same control method in-process (browse-service.ts) and stops the node.
 */
import { resolve } from 'node:path';
import { foldGroup, memberIdFromPublicKey, OpLog, relaysIn } from '../../../engine/index.ts';
import { memberKeysOf, nodeEd25519Verifier } from '../../crypto/ed25519.ts';
import { createDialOnlyNode } from '../../net/node.ts';
import { lockDataDir, type Repository } from '../../pipeline/repository.ts';
import { browseMethods, locateOwnerShards } from '../backup/browse-service.ts';
import { groupRepositoryConfig, openGroupRepository } from '../backup/group-repository.ts';
import { loadConfig, paths, readSecret } from '../config/config.ts';
import { ControlError } from '../control/control.ts';
import { NetworkShardDirectory } from '../group/network-directory.ts';
import { OpFile } from '../group/op-file.ts';
import { acquirePidLock } from '../pid-lock.ts';
import { learnGroupRoutes } from '../recovery/recovery-dial.ts';
import { FormerMembersTolerant } from '../shards/shard-locations.ts';

/** Methods that work without a daemon. */
export const OFFLINE_METHODS = new Set(['snapshots', 'ls', 'find', 'diff', 'restore', 'check']);

export async function callOffline(
  dir: string,
  method: string,
  params: Record<string, unknown>,
  onEvent: (event: string, data: unknown) => void = () => {},
): Promise<unknown> {
  if (!OFFLINE_METHODS.has(method)) throw new ControlError('unknown-method', `${method} needs the daemon`);
  const dataDir = resolve(dir);
  const secret = readSecret(dataDir);
  const config = loadConfig(dataDir);
  const lock = acquirePidLock(dataDir);
  try {
    const keys = memberKeysOf(secret);
    const self = memberIdFromPublicKey(keys.publicKey);
    const { file, ops, groupId } = OpFile.open(paths(dataDir).group);
    file.close();
    if (groupId === null)
      throw new ControlError('no-group', `${dataDir} is not in a group yet: no snapshots on a group`);
    const log = new OpLog({ verify: nodeEd25519Verifier() });
    for (const bytes of ops) log.add(bytes);
    const state = foldGroup(log.ops(), Date.now(), { groupId });
    if (!state.members.some((m) => m.id === self))
      throw new ControlError('no-group', `this node is not a member of the group ${groupId.slice(0, 16)}`);
    const allowed = new Set(state.members.map((m) => m.id).filter((id) => id !== self));
    const node = await createDialOnlyNode(keys, allowed);
    try {
      const relays = relaysIn([...config.relays, ...state.members.flatMap((m) => m.addresses)]);
      await learnGroupRoutes(node, state, self, relays, allowed);
      const repoConfig = groupRepositoryConfig(dataDir, state, self, config.directories);
      const everyone = state.members
        .filter((m) => m.id !== self)
        .map((m) => ({ id: m.id, dir: '', pledgeBytes: Math.max(1, m.pledgeBytes) }));
      const withRepository = async <T>(
        _what: string,
        fn: (repo: Repository) => Promise<T>,
        options: { locate?: boolean } = {},
      ): Promise<T> => {
        const directory = new FormerMembersTolerant(new NetworkShardDirectory(node, everyone));
        const repo = await openGroupRepository(repoConfig, secret, directory);
        let unlock: (() => void) | null = null;
        try {
          unlock = lockDataDir(repoConfig.dataDir);
          if (options.locate === true)
            await locateOwnerShards(
              node,
              repo,
              everyone.map((m) => m.id),
            );
          return await fn(repo);
        } finally {
          unlock?.();
          repo.close();
        }
      };
      return await browseMethods(withRepository)[method]!(params, onEvent);
    } finally {
      await Promise.resolve(node.stop()).catch(() => undefined);
    }
  } finally {
    lock.release();
  }
}

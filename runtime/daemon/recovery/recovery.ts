/**
 * Catastrophe recovery (docs/design.md §10): with only the recovery secret and one member's
 * address, get every file back.
 *
 *  1. Derive the identity from the secret; start a client-only libp2p node with that key (its
 *     PeerId is the member id the group still lists).
 *  2. Fetch the group op log from that one member (`/pb/group/1`), fold it: the members, their
 *     pledges and addresses.
 *  3. Fetch this owner's signed head from the same member (`/pb/head/1`); verify it (engine
 *     signature, then the pipeline head's own signature and encryption) to learn the newest
 *     snapshot id.
 *  4. Reach the members (NetworkShardDirectory); if the local index is gone, rebuild it from the
 *     members' shards (`rebuild-index`); restore the head's snapshot, every object verified.
 *
 * Nothing is served by the recovering node; it connects only to the group's members.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import {
  decodeHead as decodeSignedHead,
  foldGroup,
  type GroupState,
  memberIdFromPublicKey,
  OpLog,
  syncIndex,
} from '../../../engine/index.ts';
import { memberKeysOf, nodeEd25519Verifier } from '../../crypto/ed25519.ts';
import { syncWithPeer } from '../../net/group-sync.ts';
import { getHead } from '../../net/head-protocol.ts';
import { createDialOnlyNode, type PbLibp2p } from '../../net/node.ts';
import { RemoteShardStore } from '../../net/remote-shard-store.ts';
import { lockDataDir, type Repository } from '../../pipeline/repository.ts';
import { decodeHead as decodePipelineHead } from '../../pipeline/snapshot.ts';
import { writeFileAtomic } from '../../store/atomic-file.ts';
import {
  type ListedShard,
  type ShardDirectory,
  type ShardStore,
  ShardStoreError,
} from '../../store/shard-store.ts';
import { groupRepositoryConfig, openGroupRepository } from '../backup/group-repository.ts';
import {
  initDataDir,
  type NodeConfig,
  parseConfig,
  paths,
  readSecret,
  renderConfig,
} from '../config/config.ts';
import { ControlError } from '../control/control.ts';
import { holdersOf, NetworkShardDirectory } from '../group/network-directory.ts';
import { OpFile } from '../group/op-file.ts';
import { locateShards } from '../shards/shard-locations.ts';
import { formatSize } from '../units.ts';
import { RecoveryCache } from './recovery-cache.ts';
import {
  describeDialError,
  dialNamedMember,
  groupRelays,
  learnGroupRoutes,
  refusedError,
} from './recovery-dial.ts';
import { wordsToSecret } from './secret-words.ts';

export interface RecoveryOptions {
  peer: string;
  secret: Uint8Array;
  /** Restore under this directory (each root at target + its original path); default in place. */
  target?: string;
  /** Where the rebuilt index is kept (`<dataDir>/backup`). */
  dataDir: string;
  /** Settings for a data directory created by the recovery (`--test-network` in tests). */
  configOverrides?: Partial<NodeConfig>;
  progress: (line: string) => void;
  /** The restore's bytes (a progress bar); without it, `progress` gets a line every 10%. */
  onRestoreProgress?: (p: { bytesWritten: number; bytesTotal: number; files: number }) => void;
}

export interface RecoverySummary {
  owner: string;
  members: number;
  headSeq: number;
  snapshotId: string;
  rebuilt: {
    stripes: number;
    snapshots: number;
    unreadableStripes: string[];
    /** Members offline during the rebuild ("id: reason"); their shards were not needed. */
    unreachableMembers: string[];
    incompleteStripes: number;
  } | null;
  /** With the owner's own index: its rows checked against the holders' listings (shard-locations.ts). */
  located: { moved: number; missing: number; unreachable: string[] } | null;
  /** Shards the restore could not use ("stripe/idx on member: reason") and stripes it rebuilt. */
  badShards: string[];
  rebuiltStripes: number;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** The data directory, ready for `pb-node start` as the same member. */
  dataDir: string;
  directories: string[];
  seconds: number;
}

/** The secret from a file holding 64 hex characters or the 17 secret words. */
export function parseSecretText(text: string): Uint8Array {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Uint8Array.from(Buffer.from(t, 'hex'));
  try {
    return wordsToSecret(t);
  } catch (error) {
    throw new ControlError(
      'bad-secret',
      `the recovery secret is 17 words (or 64 hex characters): ${(error as Error).message}`,
    );
  }
}

interface FetchedGroup {
  state: GroupState;
  groupId: string;
  ops: Uint8Array[];
}

async function fetchGroup(node: PbLibp2p, peer: string): Promise<FetchedGroup> {
  const log = new OpLog({ verify: nodeEd25519Verifier() });
  await syncWithPeer(node, peer, {
    index: () => syncIndex(log.hashes()),
    opBytes: (h) => log.get(h)?.bytes,
    receive: async (_p, ops) => {
      let added = 0;
      for (const bytes of ops) if (log.add(bytes).status === 'added') added++;
      return added;
    },
  });
  const creates = log.ops().filter((o) => o.kind === 'create');
  if (creates.length !== 1)
    throw new ControlError(
      'bad-group',
      `${peer} sent a log with ${creates.length} group foundings, expected 1`,
    );
  const groupId = creates[0]!.hash;
  return {
    state: foldGroup(log.ops(), Date.now(), { groupId }),
    groupId,
    ops: log.ops().map((o) => o.bytes),
  };
}

/**
 * Makes `dataDir` this member's pb-node data directory again: the secret and a config (created
 * if missing; an existing one must hold the same secret), the group log (if it has none), the
 * member's name and pledge as the group knows them. `pb-node start` then rejoins as the same member.
 */
function prepareDataDir(
  dataDir: string,
  secret: Uint8Array,
  self: string,
  group: FetchedGroup,
  overrides: Partial<NodeConfig>,
): boolean {
  const p = paths(dataDir);
  const me = group.state.members.find((m) => m.id === self)!;
  const pid = Number(
    fs.existsSync(join(dataDir, 'daemon.pid')) ? fs.readFileSync(join(dataDir, 'daemon.pid'), 'utf8') : 0,
  );
  if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive)
      throw new ControlError(
        'already-running',
        `a pb-node daemon (pid ${pid}) runs on ${dataDir}: stop it first`,
      );
  }
  if (fs.existsSync(p.secret) || fs.existsSync(p.config)) {
    const held = memberIdFromPublicKey(memberKeysOf(readSecret(dataDir)).publicKey);
    if (held !== self)
      throw new ControlError(
        'wrong-secret',
        `${dataDir} belongs to another identity (${held}); choose another --dir for ${self}`,
      );
  }
  const created = !fs.existsSync(p.secret) && !fs.existsSync(p.config);
  if (created) initDataDir(dataDir, me.name, { pledgeBytes: me.pledgeBytes, ...overrides }, secret);
  const { file, groupId } = OpFile.open(p.group);
  try {
    if (groupId === null) {
      file.append(group.ops);
      file.setGroupId(group.groupId);
    } else if (groupId !== group.groupId) {
      throw new ControlError('has-group', `${dataDir} belongs to another group (${groupId})`);
    }
  } finally {
    file.close();
  }
  return created;
}

/**
 * A data directory this recovery created gets the member's settings back: the config text the
 * snapshot carries, with the name and pledge the group knows, the restored directories, and the
 * recovery's own settings (relays, `--test-network`) over it. A text that no longer reads is
 * said and the fresh config stays.
 */
function restoreSettings(
  dataDir: string,
  text: string,
  me: { name: string; pledgeBytes: number },
  overrides: Partial<NodeConfig>,
  progress: (line: string) => void,
): void {
  let saved: NodeConfig;
  try {
    saved = parseConfig(text, 'the config kept in the snapshot');
  } catch (error) {
    progress(
      `warning: the config kept in the snapshot does not read (${(error as Error).message}); a fresh one is used`,
    );
    return;
  }
  const config = { ...saved, name: me.name, pledgeBytes: me.pledgeBytes, directories: [], ...overrides };
  writeFileAtomic(paths(dataDir).config, Buffer.from(renderConfig(config)));
  progress("settings restored from the snapshot (this recovery's options over them)");
}

/** Sets the config's `directories` (the restored roots) when the config has none. */
function adoptDirectories(dataDir: string, directories: string[]): string[] {
  const file = paths(dataDir).config;
  const config = parseConfig(fs.readFileSync(file, 'utf8'), file);
  if (config.directories.length > 0) return config.directories;
  writeFileAtomic(file, Buffer.from(renderConfig({ ...config, directories })));
  return directories;
}

export async function recover(options: RecoveryOptions): Promise<RecoverySummary> {
  const started = performance.now();
  const { progress } = options;
  let address: ReturnType<typeof multiaddr>;
  try {
    address = multiaddr(options.peer);
  } catch (error) {
    throw new ControlError('bad-argument', `--peer ${options.peer}: ${(error as Error).message}`);
  }
  const peer = address.getComponents().findLast((c) => c.name === 'p2p')?.value;
  if (peer === undefined)
    throw new ControlError('bad-argument', '--peer must be a full address ending in /p2p/<member id>');
  const keys = memberKeysOf(options.secret);
  const self = memberIdFromPublicKey(keys.publicKey);
  if (peer === self)
    throw new ControlError('bad-argument', '--peer names this identity itself: name another member');
  progress(`identity ${self}`);
  // Allowed peers grow from the one named member to the group's members once the log is known.
  const allowed = new Set<string>([peer]);
  const node = await createDialOnlyNode(keys, allowed);
  let repo: Repository | null = null;
  let cache: RecoveryCache | null = null;
  let unlock: (() => void) | null = null;
  try {
    progress(`connecting to ${peer}`);
    await dialNamedMember(node, address, peer, allowed, progress);
    let group: FetchedGroup;
    try {
      group = await fetchGroup(node, peer);
    } catch (error) {
      if (error instanceof ControlError) throw error;
      throw refusedError(peer, self, describeDialError(error));
    }
    const { state } = group;
    if (!state.members.some((m) => m.id === self)) {
      throw new ControlError(
        'not-a-member',
        `this identity (${self}) is not a member of the group ${peer} belongs to (removed, or another secret?)`,
      );
    }
    progress(`group: ${state.members.length} members`);
    let signed: ReturnType<typeof decodeSignedHead>;
    try {
      signed = decodeSignedHead(await getHead(node, peer, self), nodeEd25519Verifier());
    } catch (error) {
      throw new ControlError(
        'no-head',
        `${peer} holds no valid head of this owner: ${(error as Error).message}`,
      );
    }
    if (signed.owner !== self) throw new ControlError('bad-head', `${peer} sent the head of another owner`);
    const head = decodePipelineHead(signed.body, keys);
    const snapshotId = head.snapshotId.toString('hex');
    progress(`head ${signed.seq}: snapshot ${snapshotId.slice(0, 16)}`);
    for (const m of state.members) allowed.add(m.id);
    const relays = groupRelays(options.peer, state);
    await learnGroupRoutes(node, state, self, relays, allowed);
    const overrides: Partial<NodeConfig> = {
      relays: relays.map((r) => r.address).filter((r) => !r.endsWith(`/p2p/${self}`)),
      ...options.configOverrides,
    };
    const created = prepareDataDir(options.dataDir, options.secret, self, group, overrides);
    const config = groupRepositoryConfig(options.dataDir, state, self, []);
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const directory = new OfflineAware(new NetworkShardDirectory(node, holdersOf(state, self)));
    cache = new RecoveryCache(config.dataDir, progress);
    repo = await openGroupRepository(config, options.secret, cache.directory(directory));
    unlock = lockDataDir(config.dataDir);
    let rebuilt: RecoverySummary['rebuilt'] = null;
    let located: RecoverySummary['located'] = null;
    if (repo.index.listSnapshots().some((s) => s.id.equals(head.snapshotId))) {
      // The owner's own index: repairs may have moved shards since it was written.
      const owner = repo.owner;
      const r = await locateShards(repo.index, repo.directory.members(), (member) =>
        new RemoteShardStore(node, member).listDetailed(owner),
      );
      for (const line of r.unreachable) directory.offline.add(line.split(':')[0]!);
      located = { moved: r.moved, missing: r.missing, unreachable: r.unreachable };
      progress(
        `index checked against ${r.listed.length} members' listings: ${r.moved} shards moved to their current holders` +
          (r.unreachable.length > 0 ? ` (${r.unreachable.length} member(s) offline)` : ''),
      );
    } else {
      if (repo.index.listSnapshots().length > 0)
        throw new ControlError(
          'stale-index',
          `the index in ${config.dataDir} does not know snapshot ${snapshotId.slice(0, 16)}: move it away and retry`,
        );
      progress(`rebuilding the index from ${repo.directory.members().length} members' shards`);
      const { rebuildIndex } = await import('../../pipeline/rebuild-index.ts');
      const name = (id: string): string => state.members.find((m) => m.id === id)?.name ?? id;
      await cache.open();
      const r = await rebuildIndex(repo.index, directory, repo.keys, repo.owner, config.dataDir, {
        plan: repo.plan,
        keepDataShards: cache.keep,
        onProgress: (line) => {
          const id = line.split(' ')[0]!;
          progress(line.replace(id, `${name(id)} (${id})`));
        },
      });
      // Members offline now are not asked again during the restore (no retries per stripe).
      for (const line of r.unreachableMembers) directory.offline.add(line.split(':')[0]!);
      rebuilt = {
        stripes: r.stripes,
        snapshots: r.snapshots,
        unreadableStripes: r.unreadableStripes,
        unreachableMembers: r.unreachableMembers,
        incompleteStripes: r.incompleteStripes,
      };
      progress(
        `index rebuilt: ${r.stripes} stripes, ${r.snapshots} snapshots` +
          (r.unreachableMembers.length > 0
            ? ` (${r.unreachableMembers.length} member(s) offline; ${r.incompleteStripes} stripes from the shards of the others)`
            : ''),
      );
      for (const s of r.unreadableStripes) progress(`warning: stripe ${s} has too few readable shards`);
      if (!repo.index.listSnapshots().some((s) => s.id.equals(head.snapshotId)))
        throw new ControlError(
          'incomplete',
          `the members' shards do not hold the head's snapshot ${snapshotId.slice(0, 16)}: not restorable now`,
        );
      // The rebuilt index numbers its heads 1..n; the group holds seq `signed.seq`. Adopt the
      // group's head (the owner's own, verified above) so the next backup continues its sequence.
      adoptHead(repo, config.dataDir, signed.body);
    }
    const { ObjectReader } = await import('../../pipeline/stripe-reader.ts');
    const { decodeSnapshot } = await import('../../pipeline/tree.ts');
    const snapshot = decodeSnapshot(
      await new ObjectReader(repo.index, repo.directory, repo.keys, 1).read(head.snapshotId),
    );
    await cache.settle(snapshot.bytes);
    const roots = snapshot.roots.map((r) => r.path.toString());
    const me = state.members.find((m) => m.id === self)!;
    if (created && typeof snapshot.config === 'string')
      restoreSettings(options.dataDir, snapshot.config, me, overrides, progress);
    const { restore } = await import('../../pipeline/restore.ts');
    let lastPercent = -1;
    const summary = await restore(repo, {
      snapshot: snapshotId,
      ...(options.target === undefined ? {} : { target: options.target }),
      onProgress: (p) => {
        if (options.onRestoreProgress !== undefined) {
          options.onRestoreProgress(p);
          return;
        }
        const percent = p.bytesTotal === 0 ? 100 : Math.floor((100 * p.bytesWritten) / p.bytesTotal);
        if (percent >= lastPercent + 10 || (percent === 100 && lastPercent !== 100)) {
          lastPercent = percent;
          progress(
            `restore ${percent}%: ${formatSize(p.bytesWritten)} of ${formatSize(p.bytesTotal)}, ${p.files} files`,
          );
        }
      },
    });
    const directories = adoptDirectories(
      options.dataDir,
      roots.map((r) => (options.target === undefined ? r : join(options.target, r))),
    );
    progress(
      `${options.dataDir} is ready: \`pb-node start --dir ${options.dataDir}\` goes on backing up as ${state.members.find((m) => m.id === self)?.name}`,
    );
    return {
      owner: self,
      members: state.members.length,
      headSeq: signed.seq,
      snapshotId,
      rebuilt,
      located,
      badShards: summary.badShards,
      rebuiltStripes: summary.rebuiltStripes,
      files: summary.files,
      dirs: summary.dirs,
      symlinks: summary.symlinks,
      bytes: summary.bytes,
      dataDir: options.dataDir,
      directories,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await cache?.remove().catch((error) => progress(`could not remove ${cache?.root}: ${String(error)}`));
    unlock?.();
    repo?.close();
    await Promise.resolve(node.stop()).catch(() => undefined);
  }
}

/** A directory whose members found offline fail at once (reads use the other shards). */
class OfflineAware implements ShardDirectory {
  readonly offline = new Set<string>();
  constructor(private readonly inner: ShardDirectory) {}
  members(): string[] {
    return this.inner.members();
  }
  storeFor(id: string): ShardStore {
    const store = this.inner.storeFor(id);
    const down = (): never => {
      throw new ShardStoreError('io', `member ${id} was offline during the recovery`);
    };
    const offline = this.offline;
    return {
      put: async (shardId, bytes) => (offline.has(id) ? down() : store.put(shardId, bytes)),
      get: async (shardId) => (offline.has(id) ? down() : store.get(shardId)),
      has: async (shardId) => (offline.has(id) ? down() : store.has(shardId)),
      list: async () => (offline.has(id) ? down() : store.list()),
      delete: async (shardId) => (offline.has(id) ? down() : store.delete(shardId)),
      usage: async () => (offline.has(id) ? down() : store.usage()),
      ...(store.listOwned === undefined
        ? {}
        : {
            listOwned: async (owner: string) =>
              offline.has(id) ? down() : (store.listOwned as (o: string) => Promise<ListedShard[]>)(owner),
          }),
      ...(store.readInto === undefined
        ? {}
        : {
            readInto: async (
              shardId: string,
              offset: number,
              into: Uint8Array,
              at: number,
              length: number,
            ) => (offline.has(id) ? down() : store.readInto!(shardId, offset, into, at, length)),
          }),
    };
  }
}

/** Makes `pipelineHead` (verified by the caller) the index's head if it is newer. */
function adoptHead(repo: Repository, dataDir: string, pipelineHead: Uint8Array): void {
  const current = repo.index.getMeta('head');
  const seq = decodePipelineHead(pipelineHead, repo.keys).headSeq;
  if (current !== undefined && decodePipelineHead(Buffer.from(current, 'base64'), repo.keys).headSeq >= seq)
    return;
  repo.index.setMeta('head', Buffer.from(pipelineHead).toString('base64'));
  writeFileAtomic(join(dataDir, 'head'), pipelineHead);
}

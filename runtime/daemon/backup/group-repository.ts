/**
 * The owner's repository over the group (docs/design.md §6): the pipeline's local config built
 * from the folded group state (the holders and their pledges), the repository opened over a
 * network shard directory, and the head pushed to every member.
 */
import { join } from 'node:path';
import { type GroupState, signHead } from '../../../engine/index.ts';
import { nodeEd25519Signer } from '../../crypto/ed25519.ts';
import { putHead, StaleHeadError } from '../../net/head-protocol.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { type LocalConfig, openRepository, type Repository } from '../../pipeline/repository.ts';
import { decodeHead as decodePipelineHead } from '../../pipeline/snapshot.ts';
import type { ShardDirectory } from '../../store/shard-store.ts';
import { ControlError } from '../control/control.ts';
import { holdersOf } from '../group/network-directory.ts';

export const BACKUP_SUBDIR = 'backup';
export const PUT_JOURNAL_FILE = 'put-journal';
/** Bound on one head push (a member that does not answer is skipped; it gets the next one). */
const HEAD_PUSH_TIMEOUT_MS = 20_000;

export interface HeadPushReport {
  seq: number;
  storedOn: string[];
  failed: { member: string; reason: string }[];
}

/** The pipeline's config for this owner over the group (members are the shard holders). */
export function groupRepositoryConfig(dataDir: string, state: GroupState, self: string, sources: string[]) {
  if (state.agreement === null)
    throw new ControlError('no-agreement', 'the group has no agreement yet: nothing to back up onto');
  const members = holdersOf(state, self);
  if (members.length === 0)
    throw new ControlError('no-holders', 'no other member has pledged disk yet: nothing to back up onto');
  const config: LocalConfig = {
    dataDir: join(dataDir, BACKUP_SUBDIR),
    secretFile: join(dataDir, 'secret'),
    agreement: state.agreement,
    members,
    sources,
  };
  return config;
}

export async function openGroupRepository(
  config: LocalConfig,
  secret: Uint8Array,
  directory: ShardDirectory,
): Promise<Repository> {
  return openRepository(config, { secret, directory });
}

/** The engine-signed head around the pipeline head in the index; null before the first snapshot. */
export function networkHead(repo: Repository): { seq: number; bytes: Uint8Array } | null {
  const b64 = repo.index.getMeta('head');
  if (b64 === undefined) return null;
  const inner = Buffer.from(b64, 'base64');
  const { headSeq } = decodePipelineHead(inner, repo.keys);
  const head = signHead(repo.keys, headSeq, inner, nodeEd25519Signer());
  return { seq: headSeq, bytes: head.bytes };
}

/** Sends `head` to every member but `self`, in parallel; each push bounded in time. */
export async function pushHead(
  node: PbLibp2p,
  state: GroupState,
  self: string,
  head: { seq: number; bytes: Uint8Array },
): Promise<HeadPushReport> {
  const report: HeadPushReport = { seq: head.seq, storedOn: [], failed: [] };
  const others = state.members.map((m) => m.id).filter((id) => id !== self);
  await Promise.all(
    others.map(async (member) => {
      try {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer in time')), HEAD_PUSH_TIMEOUT_MS);
        });
        try {
          await Promise.race([putHead(node, member, head.bytes), timeout]);
        } finally {
          clearTimeout(timer);
        }
        report.storedOn.push(member);
      } catch (error) {
        // A member already holding this very seq (a re-push) has it; a newer one is an alarm:
        // this owner's index is behind the group (restored from an old copy?).
        if (error instanceof StaleHeadError && error.heldSeq === head.seq) {
          report.storedOn.push(member);
          return;
        }
        const reason =
          error instanceof StaleHeadError
            ? `it holds a newer head (seq ${error.heldSeq}): this index is behind the group`
            : (error as Error).message;
        report.failed.push({ member, reason });
      }
    }),
  );
  report.storedOn.sort();
  return report;
}

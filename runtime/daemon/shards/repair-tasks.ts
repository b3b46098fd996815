/**
 * Performing one planned task (docs/design.md §9) with the pipeline's own code: shard files are
 * decoded and built by shard-format.ts, rebuilt by erasure.ts; nothing here knows the format.
 *
 * - Repair (this member is the repairer): read k shards of the stripe, its own first; every one
 *   is verified by its store (SHA-256 of the file = its id), then here: its trailer must name the
 *   stripe, owner, k, m, index and size, carry the same k+m body hashes as the repairer's own
 *   shard, and its body must hash to its entry. Decode, re-encode, check every rebuilt body
 *   against those hashes, push each missing shard to its new holder. Done only when each push is
 *   acknowledged (the holder answers after its fsync).
 * - Migration (this member is the new holder): fetch the shard from the old holder, verify it the
 *   same way, store it here (durable), then ask the old holder to delete its copy, naming this
 *   member; the old holder re-checks with the engine and with this member before it deletes.
 * Every transfer first takes its bytes from the bandwidth bucket.
 */
import {
  copiesAt,
  type InventoryStripe,
  type MigrationTask,
  type RepairTask,
  type ShardCopy,
} from '../../../engine/index.ts';
import { NetError } from '../../net/errors.ts';
import type { RemoteShardStore } from '../../net/remote-shard-store.ts';
import { encodeParity, reconstructData } from '../../pipeline/erasure.ts';
import { buildShards, decodeShard, type ShardHeader, sha256 } from '../../pipeline/shard-format.ts';
import type { TokenBucket } from '../upload/token-bucket.ts';

export class RepairTaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepairTaskError';
  }
}

/** The stripe's owner deleted it while the task ran (a prune): nothing to repair, no failure. */
export class StripeGoneError extends RepairTaskError {
  constructor(message: string) {
    super(message);
    this.name = 'StripeGoneError';
  }
}

/**
 * A holder answered `gone`: the owner deleted that stripe's shard there (owner-deletes.ts). Local
 * stores throw the NetError itself; a remote store wraps it as its cause.
 */
function isGone(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++)
    if (e instanceof NetError && e.code === 'gone') return true;
  return false;
}

export interface TaskDeps {
  readonly self: string;
  /** This member's own store (gets verified; puts durable and recorded in its catalog). */
  readonly local: {
    get(id: string): Promise<Uint8Array>;
    putFrom(from: string, id: string, bytes: Uint8Array): Promise<void>;
  };
  readonly remote: (member: string) => RemoteShardStore;
  readonly bucket: TokenBucket;
  /** Members that answered this round (candidates to read from). */
  readonly online: ReadonlySet<string>;
  /** Counts bytes as they move (fetched and pushed). */
  readonly onBytes: (bytes: number) => void;
}

export interface TaskResult {
  readonly shardsPushed: number;
}

/** Fetches one copy (locally if it is this member's) and checks it against the stripe. */
async function fetchVerified(
  stripe: InventoryStripe,
  index: number,
  copy: ShardCopy,
  reference: Buffer[] | null,
  deps: TaskDeps,
): Promise<{ header: ShardHeader; body: Buffer; bytes: Uint8Array }> {
  let bytes: Uint8Array;
  if (copy.member === deps.self) bytes = await deps.local.get(copy.shardId);
  else {
    await deps.bucket.take(stripe.fileBytes);
    bytes = await deps.remote(copy.member).get(copy.shardId);
    deps.onBytes(bytes.length);
  }
  const { header, body } = decodeShard(bytes, true);
  if (
    header.stripeId !== stripe.stripeId ||
    header.owner !== stripe.ownerText ||
    header.k !== stripe.k ||
    header.m !== stripe.m ||
    header.index !== index ||
    header.bodyBytes !== stripe.bodyBytes ||
    bytes.length !== stripe.fileBytes
  ) {
    throw new RepairTaskError(
      `shard ${copy.shardId} on ${copy.member} is not shard ${index} of ${stripe.stripeId} as listed`,
    );
  }
  if (reference !== null && !header.bodyHashes.every((h, i) => h.equals(reference[i]!))) {
    throw new RepairTaskError(
      `shard ${copy.shardId} on ${copy.member} names other body hashes than the rest of ${stripe.stripeId}`,
    );
  }
  return { header, body, bytes };
}

export async function performRepair(
  task: RepairTask,
  stripe: InventoryStripe,
  deps: TaskDeps,
): Promise<TaskResult> {
  const { k, m } = stripe;
  if (task.repairer !== deps.self) throw new RepairTaskError('not this member’s repair');
  // Where each index can be read: the planned sources first (repairer first), then any other
  // copy on a member that answered this round.
  const order: { index: number; copy: ShardCopy }[] = [];
  const seen = new Set<string>();
  const push = (index: number, copy: ShardCopy): void => {
    const key = `${index}/${copy.member}`;
    if (seen.has(key)) return;
    seen.add(key);
    order.push({ index, copy });
  };
  for (const source of task.sources) {
    for (const copy of stripe.copies) if (copy.member === source) push(copy.index, copy);
  }
  for (const copy of stripe.copies) {
    if (deps.online.has(copy.member) || copy.member === deps.self) push(copy.index, copy);
  }
  const bodies: (Buffer | null)[] = new Array(k + m).fill(null);
  let reference: Buffer[] | null = null;
  let good = 0;
  const problems: string[] = [];
  let gone = false;
  for (const { index, copy } of order) {
    if (good === k) break;
    if (bodies[index] !== null) continue;
    try {
      const { header, body } = await fetchVerified(stripe, index, copy, reference, deps);
      reference ??= header.bodyHashes;
      bodies[index] = body;
      good++;
    } catch (error) {
      gone ||= isGone(error);
      problems.push(`${index} on ${copy.member.slice(-8)}: ${(error as Error).message}`);
    }
  }
  if (gone && (good < k || reference === null))
    throw new StripeGoneError(`stripe ${stripe.stripeId}: its owner deleted it (${problems.join('; ')})`);
  if (good < k || reference === null) {
    throw new RepairTaskError(
      `stripe ${stripe.stripeId}: only ${good} of the ${k} shards needed could be read (${problems.join('; ')})`,
    );
  }
  const data = await reconstructData(k, m, bodies, stripe.bodyBytes);
  const parity = await encodeParity(k, m, data, stripe.bodyBytes);
  const all: Buffer[] = [];
  for (let i = 0; i < k; i++) all.push(data.subarray(i * stripe.bodyBytes, (i + 1) * stripe.bodyBytes));
  for (let i = 0; i < m; i++) all.push(parity.subarray(i * stripe.bodyBytes, (i + 1) * stripe.bodyBytes));
  for (const [i, body] of all.entries()) {
    if (!sha256(body).equals(reference[i]!))
      throw new RepairTaskError(
        `stripe ${stripe.stripeId}: rebuilt shard ${i} does not match its recorded hash`,
      );
  }
  const files = buildShards(stripe.stripeId, stripe.ownerText, k, m, all);
  let shardsPushed = 0;
  const failures: string[] = [];
  for (const move of task.moves) {
    const file = files[move.shardIndex]!;
    if (file.bytes.length !== stripe.fileBytes)
      throw new RepairTaskError(
        `stripe ${stripe.stripeId}: rebuilt shard ${move.shardIndex} has the wrong size`,
      );
    try {
      await deps.bucket.take(file.bytes.length);
      await deps.remote(move.to).put(file.id, file.bytes);
      deps.onBytes(file.bytes.length);
      shardsPushed++;
    } catch (error) {
      if (isGone(error)) throw new StripeGoneError(`stripe ${stripe.stripeId}: ${(error as Error).message}`);
      failures.push(`shard ${move.shardIndex} to ${move.to.slice(-8)}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) throw new RepairTaskError(`stripe ${stripe.stripeId}: ${failures.join('; ')}`);
  return { shardsPushed };
}

export async function performMigration(
  task: MigrationTask,
  stripe: InventoryStripe,
  deps: TaskDeps,
): Promise<TaskResult> {
  if (task.to !== deps.self) throw new RepairTaskError('not a migration to this member');
  const copy = copiesAt(stripe.copies, task.shardIndex).find((c) => c.member === task.from);
  if (copy === undefined)
    throw new RepairTaskError(`${task.from} lists no shard ${task.shardIndex} of ${stripe.stripeId}`);
  // The id is the SHA-256 of the whole file (checked by the store) and the trailer matches the
  // listing: the very shard the old holder keeps, byte for byte.
  let bytes: Uint8Array;
  try {
    ({ bytes } = await fetchVerified(stripe, task.shardIndex, copy, null, deps));
    await deps.local.putFrom(deps.self, copy.shardId, bytes);
  } catch (error) {
    if (isGone(error)) throw new StripeGoneError(`stripe ${stripe.stripeId}: ${(error as Error).message}`);
    throw error;
  }
  await deps.remote(task.from).deleteMigrated(copy.shardId, deps.self);
  return { shardsPushed: 1 };
}

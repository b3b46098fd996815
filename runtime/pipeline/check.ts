/**
 * `check`: is every snapshot restorable? The structure check reads every snapshot and tree
 * object (verified) and confirms that every object they name is in the index, in a stripe the
 * index knows, with a row for each of the stripe's k+m shards. With `readData` a subset of the
 * stripes (a percentage, chosen at random; 100 = all) is fetched shard by shard: every shard's
 * file must hash to its id (the store checks it), decode, match the index and carry its body
 * hash; then every object in the stripe is opened and authenticated.
 */
import { randomInt } from 'node:crypto';
import { PipelineError } from './errors.ts';
import type { Repository } from './repository.ts';
import { decodeShard } from './shard-format.ts';
import type { ObjectReader } from './stripe-reader.ts';
import { decodeSnapshot, decodeTree, ENTRY_DIR, ENTRY_FILE } from './tree.ts';

/** Bound on the problems one check lists (the count goes on). */
export const MAX_LISTED_PROBLEMS = 1000;

export interface CheckSummary {
  snapshots: number;
  trees: number;
  objects: number;
  stripes: number;
  /** With readData: stripes whose every shard was fetched and verified. */
  stripesRead: number;
  shardsRead: number;
  problems: string[];
  problemCount: number;
  ok: boolean;
}

export interface CheckOptions {
  readData?: boolean;
  /** Percentage of the stripes read with readData (0 < n <= 100; default 100). */
  subsetPercent?: number;
}

export async function checkRepository(
  repo: Repository,
  reader: ObjectReader,
  options: CheckOptions = {},
): Promise<CheckSummary> {
  const percent = options.subsetPercent ?? 100;
  if (!(percent > 0 && percent <= 100))
    throw new PipelineError(
      'invalid-argument',
      `--subset must be a percentage above 0 and at most 100, got ${percent}`,
    );
  const summary: CheckSummary = {
    snapshots: 0,
    trees: 0,
    objects: 0,
    stripes: 0,
    stripesRead: 0,
    shardsRead: 0,
    problems: [],
    problemCount: 0,
    ok: true,
  };
  const problem = (text: string): void => {
    summary.problemCount++;
    summary.ok = false;
    if (summary.problems.length < MAX_LISTED_PROBLEMS) summary.problems.push(text);
  };
  const seenObjects = new Set<string>();
  const stripes = new Set<number>();
  const object = (id: Buffer, what: string): void => {
    const key = id.toString('hex');
    if (seenObjects.has(key)) return;
    seenObjects.add(key);
    const row = repo.index.getObject(id);
    if (row === undefined) problem(`${what}: object ${key.slice(0, 16)} is not in the index`);
    else stripes.add(row.stripeSeq);
  };
  const seenTrees = new Set<string>();
  const walk = async (path: string, tree: Buffer[]): Promise<void> => {
    const key = tree.map((t) => t.toString('hex')).join('');
    if (seenTrees.has(key)) return;
    seenTrees.add(key);
    summary.trees++;
    for (const t of tree) object(t, `tree of ${path}`);
    let entries: ReturnType<typeof decodeTree>;
    try {
      entries = decodeTree(await reader.readAll(tree));
    } catch (error) {
      problem(`directory ${path}: ${(error as Error).message}`);
      return;
    }
    for (const e of entries) {
      const child = `${path === '/' ? '' : path}/${e.name.toString('utf8')}`;
      if (e.type === ENTRY_DIR) await walk(child, e.tree);
      else if (e.type === ENTRY_FILE) for (const c of e.chunks) object(c, `file ${child}`);
    }
  };
  for (const s of repo.index.listSnapshots()) {
    summary.snapshots++;
    const id = s.id.toString('hex');
    object(s.id, `snapshot ${id.slice(0, 16)}`);
    let snapshot: ReturnType<typeof decodeSnapshot>;
    try {
      snapshot = decodeSnapshot(await reader.read(s.id));
    } catch (error) {
      problem(`snapshot ${id.slice(0, 16)}: ${(error as Error).message}`);
      continue;
    }
    for (const root of snapshot.roots) await walk(root.path.toString('utf8'), root.dir.tree);
  }
  summary.objects = seenObjects.size;
  summary.stripes = stripes.size;
  for (const seq of stripes) {
    const row = repo.index.getStripe(seq);
    if (row === undefined) {
      problem(`stripe ${seq} is named by objects but not in the index`);
      continue;
    }
    const idx = new Set(repo.index.getShards(seq).map((s) => s.idx));
    if (idx.size !== row.k + row.m)
      problem(`stripe ${row.stripeId}: the index places ${idx.size} of its ${row.k + row.m} shards`);
  }
  if (options.readData === true) await readStripes(repo, reader, [...stripes], percent, summary, problem);
  return summary;
}

/** Stripes whose object ids one pass over the index collects. */
const CHECK_BATCH_STRIPES = 64;

/** Fetches and verifies every shard of `percent` of the stripes, then opens their objects. */
async function readStripes(
  repo: Repository,
  reader: ObjectReader,
  all: number[],
  percent: number,
  summary: CheckSummary,
  problem: (text: string) => void,
): Promise<void> {
  const want = Math.min(all.length, Math.ceil((all.length * percent) / 100));
  const chosen = [...all];
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
  }
  const picked = chosen.slice(0, want).sort((a, b) => a - b);
  // The objects of a batch of stripes come from one pass over the index's objects (bounded ids).
  let ids = new Map<number, Buffer[]>();
  for (const [n, seq] of picked.entries()) {
    if (n % CHECK_BATCH_STRIPES === 0)
      ids = repo.index.objectIdsOfStripes(picked.slice(n, n + CHECK_BATCH_STRIPES));
    const stripe = repo.index.getStripe(seq);
    if (stripe === undefined) continue; // reported above
    let good = 0;
    for (const s of repo.index.getShards(seq)) {
      try {
        const { header } = decodeShard(await repo.directory.storeFor(s.member).get(s.shardId), true);
        if (
          header.stripeId !== stripe.stripeId ||
          header.index !== s.idx ||
          header.bodyBytes !== stripe.shardBytes
        )
          throw new PipelineError('corrupt', 'its header does not match the index');
        summary.shardsRead++;
        good++;
      } catch (error) {
        problem(`stripe ${stripe.stripeId} shard ${s.idx} on ${s.member}: ${(error as Error).message}`);
      }
    }
    if (good < stripe.k) continue; // the objects cannot be read; the shards are named above
    try {
      for (const id of ids.get(seq) ?? []) await reader.read(id);
      summary.stripesRead++;
    } catch (error) {
      problem(`stripe ${stripe.stripeId}: ${(error as Error).message}`);
    }
  }
}

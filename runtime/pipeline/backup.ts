/**
 * One backup run: scan the sources into trees, store a snapshot object, flush the last stripe,
 * then record the snapshot and the new head in one index transaction and write the head file.
 * A run killed at any point leaves a consistent index; the next run re-reads only the files
 * whose chunks were not all committed, and stores only chunks not stored before.
 */
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ExcludePatternError } from '../../engine/index.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { chunkId, sealChunk } from './chunk-crypto.ts';
import { ChunkPool } from './chunk-pool.ts';
import { EmptySourcesError, PipelineError } from './errors.ts';
import { KIND_SNAPSHOT } from './index-db.ts';
import type { Repository } from './repository.ts';
import { type ScanHooks, Scanner, type ScanStats } from './scan.ts';
import { decodeHead, encodeHead } from './snapshot.ts';
import { StripeWriter, type StripeWriterStats } from './stripe-writer.ts';
import { encodeSnapshot, type Snapshot } from './tree.ts';

export interface BackupOptions {
  nowMs?: () => number;
  hooks?: ScanHooks;
  /** Back up even when every source is empty although the last snapshot was not (docs/design.md §10). */
  allowEmpty?: boolean;
  onStripe?: (seq: number) => void;
  /** Exclude patterns for this run, besides the config's `exclude` (engine/exclude.ts). */
  exclude?: readonly string[];
  /** The member's config text, kept in the snapshot (daemon mode: a recovery restores it). */
  configText?: string | null;
  /** Paths always left out besides the repository's data directory (a daemon's data directory). */
  excludePaths?: readonly string[];
}

export interface BackupSummary {
  snapshotId: string;
  timeMs: number;
  scan: ScanStats;
  stored: StripeWriterStats;
  warnings: string[];
  seconds: number;
}

/** The scanner of a run, with its excludes; a bad pattern is an invalid-config error naming it. */
function newScanner(
  repo: Repository,
  options: BackupOptions,
  parts: Pick<ConstructorParameters<typeof Scanner>[0], 'index' | 'writer' | 'pool' | 'keys'>,
): Scanner {
  const paths = [
    repo.config.dataDir,
    ...repo.config.members.map((m) => m.dir),
    ...(options.excludePaths ?? []),
  ];
  try {
    return new Scanner({
      ...parts,
      exclude: {
        patterns: [...(repo.config.exclude ?? []), ...(options.exclude ?? [])],
        paths: paths.filter((p) => p !== '').map((p) => resolve(p)),
      },
      ...(options.hooks ? { hooks: options.hooks } : {}),
    });
  } catch (error) {
    if (error instanceof ExcludePatternError) throw new PipelineError('invalid-config', error.message);
    throw error;
  }
}

export async function backup(repo: Repository, options: BackupOptions = {}): Promise<BackupSummary> {
  const started = performance.now();
  const nowMs = options.nowMs ?? Date.now;
  const { index, keys } = repo;
  const previous = index.listSnapshots().at(-1);
  const pool = new ChunkPool(repo.workers, { dataKey: keys.dataKey, chunkIdKey: keys.chunkIdKey });
  const writer = new StripeWriter({
    index,
    directory: repo.directory,
    owner: repo.owner,
    dataKey: keys.dataKey,
    plan: repo.plan,
    k: repo.k,
    m: repo.m,
    targetBytes: repo.stripeBytes,
    nowMs,
    ...(options.onStripe ? { onCommitted: options.onStripe } : {}),
  });
  try {
    const scanner = newScanner(repo, options, { index, writer, pool, keys });
    const roots = [];
    for (const source of repo.config.sources)
      roots.push(await scanner.saveRoot(Buffer.from(resolve(source))));
    if (scanner.stats.files === 0 && previous && previous.files > 0 && !options.allowEmpty) {
      throw new EmptySourcesError(previous.files);
    }
    const timeMs = nowMs();
    const snapshot: Snapshot = {
      timeMs,
      host: hostname(),
      roots,
      files: scanner.stats.files,
      bytes: scanner.stats.bytes,
      warnings: scanner.warnings,
      config: options.configText ?? null,
    };
    const plain = encodeSnapshot(snapshot);
    const id = chunkId(keys.chunkIdKey, plain);
    const { sealed, codec } = sealChunk(keys.dataKey, id, plain);
    await writer.add(id, KIND_SNAPSHOT, sealed, plain.length, codec);
    await writer.flush();
    const oldHead = index.getMeta('head');
    const headSeq = oldHead ? decodeHead(Buffer.from(oldHead, 'base64'), keys).headSeq + 1 : 1;
    const head = encodeHead({ owner: repo.owner, headSeq, snapshotId: id, timeMs }, keys);
    index.addSnapshot({ id, timeMs, files: snapshot.files, bytes: snapshot.bytes }, head);
    writeFileAtomic(join(repo.config.dataDir, 'head'), head);
    return {
      snapshotId: id.toString('hex'),
      timeMs,
      scan: { ...scanner.stats },
      stored: { ...writer.stats },
      warnings: scanner.warnings,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    await writer.drain();
    throw error;
  } finally {
    await pool.close();
  }
}

/**
 * Browsing and restoring the owner's snapshots on the group (docs/group-backup.md, "Browse and
 * restore"): the control methods `snapshots`, `ls`, `find`, `diff`, `restore` and `check` check
 * their parameters here and run the pipeline's browse.ts, restore.ts and check.ts over the
 * owner's repository (BackupService.withRepository: the shards are read from the members). Only
 * the stripes holding the snapshot and tree objects and the chosen files' data are fetched.
 */
import { isAbsolute } from 'node:path';
import { compileGlob, GlobError } from '../../../engine/index.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { RemoteShardStore } from '../../net/remote-shard-store.ts';
import {
  absolutePath,
  browseReader,
  diffSnapshots,
  findPaths,
  listPath,
  snapshotList,
} from '../../pipeline/browse.ts';
import { checkRepository } from '../../pipeline/check.ts';
import { PipelineError } from '../../pipeline/errors.ts';
import type { Repository } from '../../pipeline/repository.ts';
import { restore } from '../../pipeline/restore.ts';
import { OVERWRITE_POLICIES, type OverwritePolicy } from '../../pipeline/restore-overwrite.ts';
import { ControlError } from '../control/control.ts';
import { locateShards } from '../shards/shard-locations.ts';

/** Bound on the paths and globs one restore names. */
export const MAX_RESTORE_SELECTORS = 1000;
/** At most one restore progress event per this period. */
const PROGRESS_EVERY_MS = 500;

type Progress = (event: string, data: unknown) => void;
/**
 * Opens the owner's repository for one call; with `locate`, the index first follows the shards
 * that repairs moved (locateOwnerShards), so reads go to where the shards are now.
 */
export type WithRepository = <T>(
  what: string,
  fn: (repo: Repository) => Promise<T>,
  options?: { locate?: boolean },
) => Promise<T>;

/** Moves the index rows of shards that now sit on another member (shard-locations.ts). */
export async function locateOwnerShards(
  node: PbLibp2p,
  repo: Repository,
  members: readonly string[],
): Promise<{ moved: number; unreachable: string[] }> {
  const owner = repo.owner;
  const r = await locateShards(repo.index, members, (member) =>
    new RemoteShardStore(node, member).listDetailed(owner),
  );
  return { moved: r.moved, unreachable: r.unreachable };
}

function stringParam(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096)
    throw new ControlError('bad-argument', `${what} must be a non-empty string`);
  return v;
}

function optionalString(v: unknown, what: string): string | undefined {
  return v === undefined || v === null ? undefined : stringParam(v, what);
}

function stringList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_RESTORE_SELECTORS)
    throw new ControlError(
      'bad-argument',
      `${what} must be a list of at most ${MAX_RESTORE_SELECTORS} strings`,
    );
  return v.map((x, i) => stringParam(x, `${what}[${i}]`));
}

function globs(patterns: string[], what: string): ((path: string) => boolean)[] {
  return patterns.map((p) => {
    try {
      return compileGlob(p);
    } catch (error) {
      if (error instanceof GlobError) throw new ControlError('bad-argument', `${what}: ${error.message}`);
      throw error;
    }
  });
}

/** The pipeline's typed errors keep their code over the socket. */
async function asControl<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof PipelineError) throw new ControlError(error.code, error.message);
    throw error;
  }
}

export interface RestoreParams {
  snapshot: string;
  paths: string[];
  include: ((path: string) => boolean)[];
  exclude: ((path: string) => boolean)[];
  target: string | undefined;
  overwrite: OverwritePolicy;
}

/** Checks a restore's parameters; in place (no target) needs an explicit overwrite policy. */
export function restoreParams(params: Record<string, unknown>): RestoreParams {
  const target = optionalString(params.target, 'target');
  if (target !== undefined && !isAbsolute(target))
    throw new ControlError('bad-argument', `target ${target} must be an absolute path`);
  const overwrite = params.overwrite;
  if (overwrite === undefined && target === undefined)
    throw new ControlError(
      'bad-argument',
      'a restore in place (no target) needs an explicit overwrite policy: never, if-newer or always',
    );
  if (overwrite !== undefined && !OVERWRITE_POLICIES.includes(overwrite as OverwritePolicy))
    throw new ControlError('bad-argument', `overwrite must be one of ${OVERWRITE_POLICIES.join(', ')}`);
  let paths: string[];
  try {
    paths = stringList(params.paths, 'paths').map(absolutePath);
  } catch (error) {
    throw error instanceof PipelineError ? new ControlError('bad-argument', error.message) : error;
  }
  return {
    snapshot: optionalString(params.snapshot, 'snapshot') ?? 'latest',
    paths,
    include: globs(stringList(params.include, 'include'), 'include'),
    exclude: globs(stringList(params.exclude, 'exclude'), 'exclude'),
    target,
    overwrite: (overwrite as OverwritePolicy | undefined) ?? 'never',
  };
}

export function browseMethods(
  withRepository: WithRepository,
): Record<string, (params: Record<string, unknown>, progress: Progress) => Promise<unknown>> {
  return {
    snapshots: async () => withRepository('snapshots', async (repo) => snapshotList(repo)),
    ls: async (params) => {
      const snapshot = stringParam(params.snapshot ?? 'latest', 'snapshot');
      const path = optionalString(params.path, 'path');
      return withRepository('ls', (repo) =>
        asControl(() => listPath(repo, browseReader(repo), snapshot, path)),
      );
    },
    find: async (params) => {
      const pattern = stringParam(params.pattern, 'pattern');
      return withRepository('find', (repo) => asControl(() => findPaths(repo, browseReader(repo), pattern)));
    },
    diff: async (params) => {
      const from = stringParam(params.from, 'from');
      const to = stringParam(params.to, 'to');
      return withRepository('diff', (repo) =>
        asControl(() => diffSnapshots(repo, browseReader(repo), from, to)),
      );
    },
    check: async (params) => {
      const subset = params.subsetPercent;
      if (subset !== undefined && (typeof subset !== 'number' || !(subset > 0 && subset <= 100)))
        throw new ControlError('bad-argument', 'subsetPercent must be a number above 0 and at most 100');
      return withRepository(
        'check',
        (repo) =>
          asControl(() =>
            checkRepository(repo, browseReader(repo), {
              readData: params.readData === true,
              ...(subset === undefined ? {} : { subsetPercent: subset }),
            }),
          ),
        { locate: params.readData === true },
      );
    },
    restore: async (params, progress) => {
      const p = restoreParams(params);
      let lastMs = 0;
      return withRepository(
        'restore',
        (repo) =>
          asControl(() =>
            restore(repo, {
              snapshot: p.snapshot,
              ...(p.target === undefined ? {} : { target: p.target }),
              ...(p.paths.length === 0 ? {} : { include: p.paths }),
              ...(p.include.length === 0 && p.exclude.length === 0
                ? {}
                : {
                    filter: (path: string) =>
                      (p.include.length === 0 || p.include.some((m) => m(path))) &&
                      !p.exclude.some((m) => m(path)),
                  }),
              overwrite: p.overwrite,
              onProgress: (s) => {
                const now = Date.now();
                if (now - lastMs < PROGRESS_EVERY_MS && s.bytesWritten < s.bytesTotal) return;
                lastMs = now;
                progress('restore', {
                  bytesWritten: s.bytesWritten,
                  bytesTotal: s.bytesTotal,
                  files: s.files,
                });
              },
            }),
          ),
        { locate: true },
      );
    },
  };
}

/**
 * Local mode (docs/local-mode.md): `pb-node local <verb> -c pb.json`, the members are
 * directories named in the config. `local init`, `backup`, `restore`, `snapshots`, `forget`, `gc`,
 * `rebuild-index`; each takes `--json` (one JSON document on stdout). Progress bars only when
 * stdout is a terminal.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { EXIT_SKIPPED, type Io, overwriteOption, UsageError } from './cli-common.ts';
import { formatSize } from './daemon/units.ts';
import type { Repository } from './pipeline/repository.ts';
import type { OverwritePolicy } from './pipeline/restore-overwrite.ts';

// Each command loads only the modules it needs (start-up time is most of an unchanged re-run).
const load = {
  backup: () => import('./pipeline/backup.ts'),
  restore: () => import('./pipeline/restore.ts'),
  retention: () => import('./pipeline/retention.ts'),
  repository: () => import('./pipeline/repository.ts'),
  progress: () => import('./progress.ts'),
  rebuild: () => import('./pipeline/rebuild-index.ts'),
};

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

async function withRepo<T>(
  configPath: string,
  fn: (repo: Repository) => Promise<T>,
  createSecret = false,
): Promise<T> {
  const { loadConfig, lockDataDir, openRepository } = await load.repository();
  const config = loadConfig(configPath);
  const repo = await openRepository(config, { createSecret });
  let unlock: (() => void) | null = null;
  try {
    unlock = lockDataDir(config.dataDir);
    return await fn(repo);
  } finally {
    unlock?.();
    repo.close();
  }
}

export function registerLocalCommands(program: Command, io: Io): void {
  const local = program
    .command('local')
    .description('local mode: the members are directories named in a config file (-c pb.json)')
    .option('-c, --config <path>', 'local-mode config file (JSON)', process.env.PB_CONFIG ?? 'pb.json');
  const configPath = (): string => local.opts<{ config: string }>().config;
  local
    .command('init')
    .description('create the recovery secret (if missing) and the data directory; show the code')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withRepo(
        configPath(),
        async (repo) => {
          const info = {
            owner: repo.owner,
            dataShards: repo.k,
            parityShards: repo.m,
            members: repo.directory.members(),
          };
          io.out(
            o.json
              ? JSON.stringify(info)
              : `owner ${repo.owner}\ncode ${repo.k}+${repo.m} over ${info.members.length} members`,
          );
        },
        true,
      );
    });

  local
    .command('backup')
    .description('back up the configured sources to the members')
    .option('--json', 'print JSON')
    .option('--allow-empty', 'back up even if every source is empty while the last snapshot was not')
    .action(async (o: { json?: boolean; allowEmpty?: boolean }) => {
      await withRepo(configPath(), async (repo) => {
        const { createProgress, scanDoneBytes, sourceBytes } = await load.progress();
        const doneBytes = scanDoneBytes();
        const progress = await createProgress('backup', {
          tty: io.isTty,
          quiet: Boolean(o.json),
          write: io.err,
        });
        // The total is a second walk of the sources: only for a bar someone sees.
        if (io.isTty && !o.json) void sourceBytes(repo.config.sources).then((t) => progress.setTotal(t));
        const { backup } = await load.backup();
        let summary: Awaited<ReturnType<Awaited<ReturnType<typeof load.backup>>['backup']>>;
        try {
          summary = await backup(repo, {
            allowEmpty: Boolean(o.allowEmpty),
            hooks: { onProgress: (s) => progress.update(doneBytes(s), `${s.files} files`) },
          });
        } finally {
          progress.stop();
        }
        if (o.json) io.out(JSON.stringify(summary));
        else {
          for (const w of summary.warnings) io.err(`warning: ${w}`);
          io.out(
            `snapshot ${summary.snapshotId.slice(0, 16)} saved: ${summary.scan.files} files (${summary.scan.filesUnchanged} unchanged), ` +
              `${formatSize(summary.scan.bytes)}, read ${formatSize(summary.scan.bytesRead)}, ${summary.stored.stripes} stripes, ` +
              `${formatSize(summary.stored.shardBytesWritten)} of shards written in ${summary.seconds.toFixed(1)} s`,
          );
        }
      });
    });

  local
    .command('restore')
    .description('restore a snapshot (default the newest) in place or under --target')
    .option('--snapshot <id>', 'snapshot id or unique prefix', 'latest')
    .option('--target <dir>', 'restore under this directory instead of in place')
    .option('--path <path>', 'only this original absolute path and below')
    .option('--json', 'print JSON')
    .addOption(overwriteOption())
    .action(
      async (o: {
        snapshot: string;
        target?: string;
        path?: string;
        json?: boolean;
        overwrite?: OverwritePolicy;
      }) => {
        if (o.target === undefined && o.overwrite === undefined)
          throw new UsageError(
            'a restore in place (no --target) needs an explicit --overwrite never|if-newer|always',
          );
        await withRepo(configPath(), async (repo) => {
          const { createProgress } = await load.progress();
          const progress = await createProgress('restore', {
            tty: io.isTty,
            quiet: Boolean(o.json),
            write: io.err,
          });
          const { restore } = await load.restore();
          let summary: Awaited<ReturnType<Awaited<ReturnType<typeof load.restore>>['restore']>>;
          try {
            summary = await restore(repo, {
              snapshot: o.snapshot,
              ...(o.target ? { target: o.target } : {}),
              ...(o.path ? { include: o.path } : {}),
              overwrite: o.overwrite ?? 'never',
              onProgress: (p) => {
                progress.setTotal(p.bytesTotal);
                progress.update(p.bytesWritten);
              },
            });
          } finally {
            progress.stop();
          }
          if (summary.skipped.length > 0) process.exitCode = EXIT_SKIPPED;
          if (o.json) io.out(JSON.stringify(summary));
          else {
            for (const t of summary.tornFiles)
              io.err(`warning: ${t} changed while it was backed up and may be torn`);
            for (const s of summary.skipped) io.err(`warning: skipped ${s.path}: ${s.reason}`);
            io.out(
              `restored ${summary.files} files, ${summary.dirs} dirs, ${summary.symlinks} symlinks, ${formatSize(summary.bytes)} ` +
                `in ${summary.seconds.toFixed(1)} s${summary.rebuiltStripes ? ` (${summary.rebuiltStripes} stripes rebuilt from parity)` : ''}`,
            );
          }
        });
      },
    );

  local
    .command('snapshots')
    .description('list snapshots')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withRepo(configPath(), async (repo) => {
        const list = repo.index.listSnapshots().map((s) => ({
          id: s.id.toString('hex'),
          time: new Date(s.timeMs).toISOString(),
          files: s.files,
          bytes: s.bytes,
        }));
        if (o.json) io.out(JSON.stringify(list));
        else if (list.length === 0) io.out('no snapshots');
        else
          for (const s of list)
            io.out(`${s.id.slice(0, 16)}  ${s.time}  ${s.files} files  ${formatSize(s.bytes)}`);
      });
    });

  local
    .command('forget')
    .description('forget snapshots outside the policy (then `gc` frees their stripes)')
    .option('--keep-last <n>', 'keep the n newest snapshots', count)
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the n newest days', count)
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the n newest weeks', count)
    .option('--prune', 'run gc afterwards')
    .option('--json', 'print JSON')
    .action(
      async (o: {
        keepLast?: number;
        keepDaily?: number;
        keepWeekly?: number;
        prune?: boolean;
        json?: boolean;
      }) => {
        await withRepo(configPath(), async (repo) => {
          const snaps = repo.index
            .listSnapshots()
            .map((s) => ({ id: s.id.toString('hex'), timeMs: s.timeMs }));
          const policy = {
            ...(o.keepLast === undefined ? {} : { keepLast: o.keepLast }),
            ...(o.keepDaily === undefined ? {} : { keepDaily: o.keepDaily }),
            ...(o.keepWeekly === undefined ? {} : { keepWeekly: o.keepWeekly }),
          };
          const { collectGarbage, selectForget } = await load.retention();
          const { keep, forget } = selectForget(snaps, policy);
          repo.index.deleteSnapshots(forget.map((s) => Buffer.from(s.id, 'hex')));
          const gc = o.prune ? await collectGarbage(repo) : null;
          if (o.json)
            io.out(JSON.stringify({ kept: keep.map((s) => s.id), forgotten: forget.map((s) => s.id), gc }));
          else {
            io.out(`kept ${keep.length}, forgot ${forget.length} snapshot(s)`);
            if (gc)
              io.out(
                `gc: deleted ${gc.stripesDeleted} stripes (${gc.shardsDeleted} shards), kept ${gc.stripesKept}`,
              );
          }
        });
      },
    );

  local
    .command('gc')
    .description('delete stripes no snapshot needs, and orphan shards of interrupted runs')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withRepo(configPath(), async (repo) => {
        const { collectGarbage } = await load.retention();
        const gc = await collectGarbage(repo);
        if (o.json) io.out(JSON.stringify(gc));
        else
          io.out(
            `gc: deleted ${gc.stripesDeleted} stripes (${gc.shardsDeleted} shards) and ${gc.orphanShardsDeleted} orphan shards; ` +
              `kept ${gc.stripesKept} (${gc.partlyLiveStripes} partly live)`,
          );
      });
    });
  local
    .command('rebuild-index')
    .description("rebuild a lost index from the members' shards (into an empty data directory)")
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withRepo(configPath(), async (repo) => {
        const { rebuildIndex } = await load.rebuild();
        const summary = await rebuildIndex(
          repo.index,
          repo.directory,
          repo.keys,
          repo.owner,
          repo.config.dataDir,
        );
        if (o.json) io.out(JSON.stringify(summary));
        else {
          io.out(
            `rebuilt ${summary.stripes} stripes, ${summary.objects} objects, ${summary.snapshots} snapshots`,
          );
          for (const s of summary.unreadableStripes)
            io.err(`warning: stripe ${s} has too few readable shards`);
        }
      });
    });
}

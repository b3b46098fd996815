/**
 * The owner's verbs on the group (docs/group-backup.md, "Browse and restore"), all through the
 * daemon of the data directory (`--dir`, default ~/.pb or $PB_DIR):
 *   pb-node backup [--exclude GLOB]...       back up the configured directories now
 *   pb-node forget --keep-last N [--prune]   retention across the holders
 *   pb-node snapshots | ls <snap> [path] | find <glob> | diff <a> <b> | check [--read-data]
 *   pb-node restore [<snap>] [--path P]... [--include G]... [--exclude G]... --target DIR
 *                   [--overwrite never|if-newer|always]
 *   pb-node restore --peer ADDR ...          recovery with the secret (recovery-commands.ts)
 * A snapshot is named by a unique id prefix or `latest`. Local mode is `pb-node local <verb>`.
 */
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { EXIT_FAILED, EXIT_SKIPPED, type Io, overwriteOption, UsageError } from '../../cli-common.ts';
import type { DiffResult, FindMatch, LsEntry, SnapshotInfo } from '../../pipeline/browse.ts';
import type { CheckSummary } from '../../pipeline/check.ts';
import type { RestoreSummary } from '../../pipeline/restore.ts';
import { defaultDataDir, paths } from '../config/config.ts';
import { ControlError, callDaemon } from '../control/control.ts';
import { formatSize } from '../units.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const count = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
};
const percent = (value: string): number => {
  const n = Number(value.replace(/%$/, ''));
  if (!(n > 0 && n <= 100)) throw new InvalidArgumentError('expected a percentage above 0 and at most 100');
  return n;
};

/**
 * The daemon of `dir` answers; with none running, the browse verbs open the group themselves for
 * this one call (offline-group.ts).
 */
async function daemonCall(
  dir: string,
  method: string,
  params: Record<string, unknown> = {},
  onEvent?: (e: string, d: unknown) => void,
): Promise<unknown> {
  try {
    return await callDaemon(paths(resolve(dir)).socket, method, params, onEvent);
  } catch (error) {
    if (!(error instanceof ControlError && error.code === 'not-running')) throw error;
    const { callOffline } = await import('./offline-group.ts');
    return callOffline(dir, method, params, onEvent);
  }
}

const typeChar = (t: string): string => (t === 'dir' ? 'd' : t === 'symlink' ? 'l' : '-');

function lsLine(e: LsEntry): string {
  return `${typeChar(e.type)} ${e.mode.toString(8).padStart(4, '0')} ${formatSize(e.size).padStart(10)}  ${e.mtime}  ${e.path}${e.target === undefined ? '' : ` -> ${e.target}`}`;
}

function diffLines(d: DiffResult): string[] {
  const lines = [`diff ${d.from.slice(0, 16)} -> ${d.to.slice(0, 16)}`];
  const mark = { content: 'M', type: 'T', metadata: 'U' } as const;
  for (const a of d.added) lines.push(`+ ${a.path}`);
  for (const r of d.removed) lines.push(`- ${r.path}`);
  for (const c of d.changed) lines.push(`${mark[c.what]} ${c.path}`);
  lines.push(
    `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed${d.truncated ? ' (list cut short)' : ''}`,
  );
  return lines;
}

function checkLines(c: CheckSummary): string[] {
  const lines = [
    `${c.snapshots} snapshots, ${c.trees} trees, ${c.objects} objects in ${c.stripes} stripes` +
      (c.stripesRead > 0 || c.shardsRead > 0
        ? `; read ${c.stripesRead} stripes (${c.shardsRead} shards verified)`
        : ''),
  ];
  for (const p of c.problems) lines.push(`problem: ${p}`);
  lines.push(c.ok ? 'no problems found' : `${c.problemCount} problem(s) found`);
  return lines;
}

export function registerBrowseCommands(program: Command, io: Io): void {
  const withDir = (c: Command): Command =>
    c.option('--dir <dir>', 'data directory', defaultDataDir()).option('--json', 'print JSON');
  const print = (json: boolean | undefined, result: unknown, text: () => string | string[]): void => {
    if (json) io.out(JSON.stringify(result));
    else {
      const t = text();
      io.out(Array.isArray(t) ? t.join('\n') : t);
    }
  };

  withDir(program.command('backup').description('back up the configured directories onto the group now'))
    .option(
      '--allow-empty',
      'back up even if the directories hold almost nothing while the last snapshot did not',
    )
    .option('--exclude <glob>', 'leave out paths matching this glob (repeatable)', collect, [])
    .action(async (o: { dir: string; json?: boolean; allowEmpty?: boolean; exclude: string[] }) => {
      const { groupBackupCommand } = await import('./recovery-commands.ts');
      await groupBackupCommand(
        o.dir,
        { allowEmpty: Boolean(o.allowEmpty), json: Boolean(o.json), exclude: o.exclude },
        io,
      );
    });

  withDir(program.command('forget').description("forget this member's snapshots outside the policy"))
    .option('--keep-last <n>', 'keep the n newest snapshots', count)
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the n newest days', count)
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the n newest weeks', count)
    .option('--prune', 'free the stripes no snapshot needs on every holder')
    .action(
      async (o: {
        dir: string;
        keepLast?: number;
        keepDaily?: number;
        keepWeekly?: number;
        prune?: boolean;
        json?: boolean;
      }) => {
        const { groupForgetCommand } = await import('./recovery-commands.ts');
        await groupForgetCommand(o.dir, o, io);
      },
    );

  withDir(program.command('snapshots').description("list this member's snapshots on the group")).action(
    async (o: { dir: string; json?: boolean }) => {
      const list = (await daemonCall(o.dir, 'snapshots')) as SnapshotInfo[];
      print(o.json, list, () =>
        list.length === 0
          ? 'no snapshots'
          : list.map((s) => `${s.id.slice(0, 16)}  ${s.time}  ${s.files} files  ${formatSize(s.bytes)}`),
      );
    },
  );

  withDir(program.command('ls').description("list a directory of a snapshot (no path: the snapshot's roots)"))
    .argument('<snapshot>', 'snapshot id prefix or latest')
    .argument('[path]', 'a path in the snapshot (relative: against the working directory)')
    .action(async (snapshot: string, path: string | undefined, o: { dir: string; json?: boolean }) => {
      const r = (await daemonCall(o.dir, 'ls', {
        snapshot,
        ...(path === undefined ? {} : { path: resolve(path) }),
      })) as {
        entries: LsEntry[];
      };
      print(o.json, r, () => (r.entries.length === 0 ? '(empty)' : r.entries.map(lsLine)));
    });

  withDir(
    program
      .command('find')
      .description('paths matching a glob in every snapshot, and which snapshots hold them'),
  )
    .argument('<pattern>', "glob: * ? [..] within a name, ** across directories; no '/' matches names")
    .action(async (pattern: string, o: { dir: string; json?: boolean }) => {
      const r = (await daemonCall(o.dir, 'find', { pattern })) as {
        matches: FindMatch[];
        truncated: boolean;
      };
      print(o.json, r, () => [
        ...r.matches.map(
          (m) =>
            `${m.path}${m.type === 'dir' ? '/' : ''}  in ${m.snapshots.length}: ${m.snapshots.map((s) => s.slice(0, 8)).join(' ')}`,
        ),
        `${r.matches.length} path(s)${r.truncated ? ' (list cut short)' : ''}`,
      ]);
    });

  withDir(program.command('diff').description('paths added, removed and changed between two snapshots'))
    .argument('<from>', 'snapshot id prefix or latest')
    .argument('<to>', 'snapshot id prefix or latest')
    .action(async (from: string, to: string, o: { dir: string; json?: boolean }) => {
      const r = (await daemonCall(o.dir, 'diff', { from, to })) as DiffResult;
      print(o.json, r, () => diffLines(r));
    });

  withDir(
    program
      .command('check')
      .description('check that every snapshot is whole; --read-data also fetches and verifies shards'),
  )
    .option('--read-data', 'fetch every shard of the stripes and verify it and their objects')
    .option(
      '--subset <percent>',
      'with --read-data: this share of the stripes, chosen at random (e.g. 10%)',
      percent,
    )
    .action(async (o: { dir: string; json?: boolean; readData?: boolean; subset?: number }) => {
      if (o.subset !== undefined && o.readData !== true)
        throw new UsageError('--subset goes with --read-data');
      const r = (await daemonCall(o.dir, 'check', {
        readData: o.readData === true,
        ...(o.subset === undefined ? {} : { subsetPercent: o.subset }),
      })) as CheckSummary;
      print(o.json, r, () => checkLines(r));
      if (!r.ok) process.exitCode = EXIT_FAILED;
    });

  withDir(
    program
      .command('restore')
      .description(
        'restore a snapshot (default latest), all or some paths, under --target; --peer: recovery',
      ),
  )
    .argument('[snapshot]', 'snapshot id prefix or latest')
    .option('--path <path>', 'only this path and below (repeatable)', collect, [])
    .option('--include <glob>', 'only files and symlinks matching this glob (repeatable)', collect, [])
    .option('--exclude <glob>', 'leave out files and symlinks matching this glob (repeatable)', collect, [])
    .option('--target <dir>', 'restore under this directory (each path at DIR/<its absolute path>)')
    .addOption(overwriteOption())
    .addOption(
      new Option(
        '--peer <multiaddr>',
        "recovery: one member's full address (.../p2p/<id>); asks for the secret",
      ),
    )
    .option('--secret-file <file>', 'recovery: the secret (17 words or 64 hex characters) instead of stdin')
    .option('--test-network', 'recovery: a new data directory listens on loopback only (tests)')
    .action(async (snapshot: string | undefined, o: RestoreFlags) => {
      if (o.peer !== undefined) return recoveryRestore(snapshot, o, io);
      if (o.secretFile !== undefined || o.testNetwork === true)
        throw new UsageError('--secret-file and --test-network go with --peer (recovery)');
      if (o.target === undefined && o.overwrite === undefined)
        throw new UsageError(
          'a restore in place (no --target) needs an explicit --overwrite never|if-newer|always; or restore under --target DIR',
        );
      const { createProgress } = await import('../../progress.ts');
      const progress = await createProgress('restore', {
        tty: io.isTty,
        quiet: Boolean(o.json),
        write: io.err,
      });
      let r: RestoreSummary;
      try {
        r = (await daemonCall(
          o.dir,
          'restore',
          {
            snapshot: snapshot ?? 'latest',
            paths: o.path.map((p) => resolve(p)),
            include: o.include,
            exclude: o.exclude,
            ...(o.target === undefined ? {} : { target: resolve(o.target) }),
            ...(o.overwrite === undefined ? {} : { overwrite: o.overwrite }),
          },
          (event, data) => {
            if (event !== 'restore') return;
            const p = data as { bytesWritten: number; bytesTotal: number; files: number };
            progress.setTotal(p.bytesTotal);
            progress.update(p.bytesWritten, `${p.files} files`);
          },
        )) as RestoreSummary;
      } finally {
        progress.stop();
      }
      if (r.skipped.length > 0) process.exitCode = EXIT_SKIPPED;
      if (o.json) {
        io.out(JSON.stringify(r));
        return;
      }
      for (const t of r.tornFiles) io.err(`warning: ${t} changed while it was backed up and may be torn`);
      for (const s of r.skipped) io.err(`warning: skipped ${s.path}: ${s.reason}`);
      io.out(
        `restored snapshot ${r.snapshotId.slice(0, 16)}: ${r.files} files, ${r.dirs} dirs, ${r.symlinks} symlinks, ${formatSize(r.bytes)}` +
          `${r.unchanged > 0 ? `; ${r.unchanged} already there` : ''}${r.skipped.length > 0 ? `; ${r.skipped.length} skipped` : ''}` +
          `${r.rebuiltStripes ? ` (${r.rebuiltStripes} stripes rebuilt from parity)` : ''}`,
      );
    });
}

interface RestoreFlags {
  dir: string;
  json?: boolean;
  path: string[];
  include: string[];
  exclude: string[];
  target?: string;
  overwrite?: string;
  peer?: string;
  secretFile?: string;
  testNetwork?: boolean;
}

/** `restore --peer`: the newest snapshot, whole, with the secret (the daemon is not running). */
async function recoveryRestore(snapshot: string | undefined, o: RestoreFlags, io: Io): Promise<void> {
  if (
    snapshot !== undefined ||
    o.path.length + o.include.length + o.exclude.length > 0 ||
    o.overwrite !== undefined
  )
    throw new UsageError(
      'restore --peer (recovery) restores the newest snapshot whole; once the daemon runs, restore a snapshot or paths without --peer',
    );
  const { groupRestoreCommand } = await import('./recovery-commands.ts');
  await groupRestoreCommand(
    {
      peer: o.peer!,
      ...(o.secretFile === undefined ? {} : { secretFile: o.secretFile }),
      ...(o.target === undefined ? {} : { target: o.target }),
      dir: o.dir,
      testNetwork: o.testNetwork === true,
      json: Boolean(o.json),
    },
    io,
  );
}

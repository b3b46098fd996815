/**
 * The group forms of `pb-node backup`, `forget` and `restore --peer` (browse-commands.ts
 * registers them; the local forms are `pb-node local <verb>`, local-cli.ts):
 *   pb-node backup --dir D [--exclude GLOB]...   the running daemon of D backs up onto the group
 *   pb-node forget --dir D --keep-last N [--prune]   retention across the holders
 *   pb-node restore --peer ADDR [--secret-file F] [--target T] [--dir D]
 *                                     recovery with the secret and one member's address
 */
import { resolve } from 'node:path';
import { createProgress, scanDoneBytes, sourceBytes } from '../../progress.ts';
import type { ForgetSummary, GroupBackupSummary } from '../backup/backup-service.ts';
import { defaultDataDir, loadConfig, paths } from '../config/config.ts';
import { callDaemon } from '../control/control.ts';
import { readPrivateFile } from '../private-file.ts';
import { formatSize } from '../units.ts';

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** stdout is a terminal: progress bars instead of lines. */
  isTty?: boolean;
}

/** Bound on the secret read from stdin (17 words fit in far less). */
const MAX_SECRET_TEXT_BYTES = 4096;

export async function groupBackupCommand(
  dir: string,
  options: { allowEmpty: boolean; json: boolean; exclude?: string[] },
  io: Io,
): Promise<void> {
  const progress = await createProgress('backup', {
    tty: io.isTty === true,
    quiet: options.json,
    write: io.err,
    // Leaving the call does not stop the daemon's run.
    interrupted: 'interrupted here; the daemon goes on with this backup (`pb-node status` shows it)',
  });
  // The total is a second walk of the directories: only for a bar someone sees.
  if (io.isTty === true && !options.json) {
    try {
      void sourceBytes(loadConfig(resolve(dir)).directories).then((t) => progress.setTotal(t));
    } catch {} // no config: the daemon call below says so
  }
  const doneBytes = scanDoneBytes();
  let files = 0;
  let bytes = 0;
  let stripes = 0;
  let result: GroupBackupSummary;
  try {
    result = (await callDaemon(
      paths(resolve(dir)).socket,
      'backup',
      {
        allowEmpty: options.allowEmpty,
        ...(options.exclude === undefined || options.exclude.length === 0
          ? {}
          : { exclude: options.exclude }),
      },
      (event, data) => {
        if (event === 'stripe') {
          stripes++;
          // Without a terminal each stored stripe is a line, as before the bar (scripts wait for it).
          if (io.isTty !== true && !options.json)
            progress.note(`stripe ${(data as { seq: number }).seq} stored`);
        } else if (event === 'scan') {
          const scan = data as {
            files: number;
            bytes: number;
            bytesRead?: number;
            filesUnchanged?: number;
            bytesUnchanged?: number;
          };
          files = scan.files;
          bytes = doneBytes(scan);
        } else return;
        progress.update(bytes, `${files} files, ${stripes} stripes`);
      },
    )) as GroupBackupSummary;
    progress.update(result.scan.bytes, `${result.scan.files} files, ${result.stored.stripes} stripes`);
  } finally {
    progress.stop();
  }
  if (options.json) {
    io.out(JSON.stringify(result));
    return;
  }
  io.out(
    `snapshot ${result.snapshotId.slice(0, 16)} saved on ${result.holders} members: ${result.scan.files} files, ` +
      `${formatSize(result.scan.bytes)}, ${result.stored.stripes} stripes; head ${result.heads.seq} on ` +
      `${result.heads.storedOn.length} members`,
  );
  for (const f of result.heads.failed) io.err(`warning: head not stored on ${f.member}: ${f.reason}`);
}

export async function groupForgetCommand(
  dir: string,
  o: { keepLast?: number; keepDaily?: number; keepWeekly?: number; prune?: boolean; json?: boolean },
  io: Io,
): Promise<void> {
  const params: Record<string, unknown> = { prune: o.prune === true };
  if (o.keepLast !== undefined) params.keepLast = o.keepLast;
  if (o.keepDaily !== undefined) params.keepDaily = o.keepDaily;
  if (o.keepWeekly !== undefined) params.keepWeekly = o.keepWeekly;
  const r = (await callDaemon(paths(resolve(dir)).socket, 'forget', params)) as ForgetSummary;
  if (o.json) {
    io.out(JSON.stringify(r));
    return;
  }
  io.out(`kept ${r.kept.length}, forgot ${r.forgotten.length} snapshot(s)`);
  if (r.gc)
    io.out(`gc: deleted ${r.gc.stripesDeleted} stripes (${r.gc.shardsDeleted} shards) on the holders`);
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('recovery secret (17 words): ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.length > MAX_SECRET_TEXT_BYTES) throw new Error('the secret on stdin is too long');
    if (process.stdin.isTTY && text.includes('\n')) break;
  }
  return text;
}

export async function groupRestoreCommand(
  options: {
    peer: string;
    secretFile?: string;
    target?: string;
    dir?: string;
    testNetwork?: boolean;
    json: boolean;
  },
  io: Io,
): Promise<void> {
  const { parseSecretText, recover } = await import('../recovery/recovery.ts');
  const text =
    options.secretFile === undefined
      ? await readStdin()
      : readPrivateFile(options.secretFile, 'the secret file', MAX_SECRET_TEXT_BYTES);
  const secret = parseSecretText(text.slice(0, MAX_SECRET_TEXT_BYTES));
  // Progress goes to stderr even with --json (the recovery's steps always did).
  const progress = await createProgress('restore', { tty: io.isTty === true, write: io.err });
  let summary: Awaited<ReturnType<typeof recover>>;
  try {
    summary = await recover({
      peer: options.peer,
      secret,
      dataDir: resolve(options.dir ?? defaultDataDir()),
      ...(options.target === undefined ? {} : { target: resolve(options.target) }),
      ...(options.testNetwork
        ? {
            configOverrides: {
              iceServers: [],
              webrtcBindAddress: '127.0.0.1',
              listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'],
              // As `init --test-network`: any free port, so it never meets another test's daemon.
              dashboard: { host: '127.0.0.1', port: 0 },
            },
          }
        : {}),
      progress: (line) => progress.note(line),
      onRestoreProgress: (p) => {
        progress.setTotal(p.bytesTotal);
        progress.update(p.bytesWritten, `${p.files} files`);
      },
    });
  } finally {
    progress.stop();
  }
  if (options.json) io.out(JSON.stringify(summary));
  else
    io.out(
      `restored snapshot ${summary.snapshotId.slice(0, 16)} (head ${summary.headSeq}): ${summary.files} files, ` +
        `${summary.dirs} dirs, ${summary.symlinks} symlinks, ${formatSize(summary.bytes)} in ${summary.seconds.toFixed(1)} s\n` +
        `this node is ready to go on backing up ${summary.directories.join(', ')}: pb-node start --dir ${summary.dataDir}`,
    );
}

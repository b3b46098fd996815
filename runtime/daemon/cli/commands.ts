/**
 * The daemon's commands (`registerDaemonCommands(program)`): `init` and `start` work on the data
 * directory; the others talk to the running daemon over its control socket. Every command takes
 * `--dir`; `--json` prints the daemon's answer as JSON.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { currentVerb } from '../../cli-common.ts';
import { roomAt, sizeAndBytes } from '../../store/free-space.ts';
import { registerAlertCommands } from '../alerts/commands.ts';
import {
  checkConfig,
  DEFAULT_CONFIG,
  dataDirNotes,
  defaultDataDir,
  initDataDir,
  missingDirectory,
  paths,
} from '../config/config.ts';
import { ControlError, callDaemon } from '../control/control.ts';
import type { StatusReport } from '../status/status-report.ts';
import { durationSetting, formatSize, parseDuration, parseSize } from '../units.ts';
import { formatRate } from '../upload/upload-config.ts';
import type { UploadState } from '../upload/upload-governor.ts';
import { packageVersion } from '../version.ts';
import { registerDocCommands } from './cli-docs.ts';
import { registerConfigCommands } from './config-commands.ts';
import { registerServiceCommands } from './service-commands.ts';

interface Out {
  out: (t: string) => void;
  err: (t: string) => void;
}
const io: Out = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

const sizeArg = (v: string): number => {
  try {
    return parseSize(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};
const durationArg = (v: string): number => {
  try {
    return parseDuration(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};
/** A duration option whose help shows its default as a person writes it ("default: 24h"). */
const durationOption = (flags: string, description: string, defaultMs?: number): Option => {
  const o = new Option(flags, description).argParser(durationArg);
  return defaultMs === undefined ? o : o.default(defaultMs, durationSetting(defaultMs));
};
const numberArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
};

function ago(ms: number | null): string {
  if (ms === null) return 'never';
  const s = Math.round((Date.now() - ms) / 1000);
  return s < 2 ? 'now' : s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}

/** Runs a control call; prints friendly errors and sets the exit code. */
async function call(
  dir: string,
  method: string,
  params: Record<string, unknown>,
  json: boolean,
  render: (r: never) => string,
  onEvent?: (e: string, d: unknown) => void,
): Promise<void> {
  await callResult(dir, method, params, json, render, onEvent);
}

/** `call`, answering the daemon's result (undefined after an error, which it printed). */
async function callResult(
  dir: string,
  method: string,
  params: Record<string, unknown>,
  json: boolean,
  render: (r: never) => string,
  onEvent?: (e: string, d: unknown) => void,
): Promise<unknown> {
  try {
    const result = await callDaemon(paths(dir).socket, method, params, onEvent);
    io.out(json ? JSON.stringify(result) : render(result as never));
    return result;
  } catch (error) {
    const e = error as ControlError;
    if (json) io.out(JSON.stringify({ error: { code: e.code ?? 'internal', message: e.message } }));
    else io.err(`pb-node ${currentVerb() || method}: ${e.message}`);
    process.exitCode = 1;
    return undefined;
  }
}

/** What a refused join says, by the inviter's decision. */
const JOIN_REFUSALS: Record<string, string> = {
  rejected: 'the inviter rejected the request: this node is not a member (ask them for a new invite)',
  cancelled:
    'the request was cancelled: the inviter left or was removed from the group before deciding (ask another member)',
};

/** Refuses a pledge the disk under the new data directory cannot hold (`start` would fail). */
function checkInitPledge(dir: string, pledgeBytes: number): void {
  const reserveDir = DEFAULT_CONFIG.reserveDir;
  const reserveRoot = isAbsolute(reserveDir) ? reserveDir : join(resolvePath(dir), reserveDir);
  const room = roomAt(reserveRoot, pledgeBytes, 0);
  if (!room.fits)
    throw new Error(
      `--pledge ${sizeAndBytes(pledgeBytes)} does not fit the disk: only ${sizeAndBytes(room.freeBytes)} free at ${reserveRoot}; pledge at most ${sizeAndBytes(room.freeBytes)}, or free some space`,
    );
}

/** A config in the first format still works; say once at start how to rewrite it. */
function noteOldConfig(dir: string): void {
  try {
    const file = paths(resolvePath(dir)).config;
    if (checkConfig(readFileSync(file, 'utf8')).format === 'json-lines')
      io.err(`pb-node start: ${file} is in the first format; \`pb-node config upgrade\` rewrites it as TOML`);
  } catch {
    // Daemon.start reports a missing or unreadable config itself.
  }
}

export function registerDaemonCommands(program: Command): void {
  program.version(packageVersion(), '-V, --version', 'print the version of pb-node');
  const withDir = (c: Command): Command =>
    c.option('--dir <dir>', 'data directory', defaultDataDir()).option('--json', 'print JSON');

  withDir(program.command('init').description('create a data directory, a recovery secret and an identity'))
    .requiredOption('--name <name>', 'how the other members see this machine')
    .option('--pledge <size>', 'disk pledged for other members (e.g. 500G)', sizeArg)
    .option('--listen <addrs...>', 'listen addresses')
    .option('--relay <addrs...>', 'relays to reserve a slot on')
    .option('--no-webrtc', 'no WebRTC transport')
    .option('--no-relay-server', 'do not relay for other members')
    .addOption(
      durationOption(
        '--sync-interval <duration>',
        `group reconciliation period (default: ${durationSetting(DEFAULT_CONFIG.syncIntervalMs)})`,
      ),
    )
    .option('--directories <dirs...>', 'directories to back up onto the group')
    .option(
      '--schedule <when>',
      `when backups run by themselves: hourly, daily, off or minutes (default: ${DEFAULT_CONFIG.schedule})`,
    )
    .addOption(
      durationOption(
        '--watch-debounce <duration>',
        `back up this long after the directories stop changing, 0s: off (default: ${durationSetting(DEFAULT_CONFIG.watchDebounceMs)})`,
      ),
    )
    .option('--test-network', 'loopback only, no ICE servers (tests)')
    .action((o: Record<string, unknown>) => {
      try {
        const overrides: Record<string, unknown> = {};
        if (o.pledge !== undefined) overrides.pledgeBytes = o.pledge;
        if (o.listen !== undefined) overrides.listen = o.listen;
        if (o.relay !== undefined) overrides.relays = o.relay;
        if (o.webrtc === false) overrides.webrtc = false;
        if (o.relayServer === false) overrides.relayServer = false;
        if (o.syncInterval !== undefined) overrides.syncIntervalMs = o.syncInterval;
        if (o.schedule !== undefined) overrides.schedule = o.schedule;
        if (o.watchDebounce !== undefined) overrides.watchDebounceMs = o.watchDebounce;
        if (o.directories !== undefined)
          overrides.directories = (o.directories as string[]).map((d) => resolvePath(d));
        if (o.testNetwork === true) {
          overrides.iceServers = [];
          overrides.webrtcBindAddress = '127.0.0.1';
          if (o.listen === undefined) overrides.listen = ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'];
          overrides.dashboard = { host: '127.0.0.1', port: 0 };
        }
        if (o.pledge !== undefined) checkInitPledge(String(o.dir), o.pledge as number);
        const missing = missingDirectory((overrides.directories as string[] | undefined) ?? []);
        if (missing !== null) throw new Error(`--directories: ${missing}`);
        const r = initDataDir(String(o.dir), String(o.name), overrides);
        for (const note of dataDirNotes(r.dir, { ...DEFAULT_CONFIG, ...overrides }))
          io.err(`pb-node init: note: ${note}`);
        if (o.json) io.out(JSON.stringify({ dir: r.dir, words: r.words }));
        else {
          io.out(`Created ${r.dir}.`);
          io.out('Your recovery secret (write it down now; it is shown only once):');
          io.out(`  ${r.words}`);
          io.out(`Then start the daemon: pb-node start --dir ${r.dir}`);
        }
      } catch (error) {
        io.err(`pb-node init: ${(error as Error).message}`);
        process.exitCode = 1;
      }
    });

  withDir(
    program
      .command('start')
      .description('run the daemon in the foreground (logs to stderr and the data directory)'),
  ).action(async (o: { dir: string }) => {
    const { Daemon } = await import('../daemon.ts');
    // Everything the daemon creates in its data directory is its owner's alone (docs/formats.md);
    // the modules also set modes explicitly, this catches what a library creates (SQLite, sockets).
    process.umask(0o077);
    noteOldConfig(o.dir);
    const { exitWhenStopped } = await import('../shutdown.ts');
    const { installLastResort } = await import('../recovery/last-resort.ts');
    try {
      const daemon = await Daemon.start(o.dir);
      installLastResort({ log: (l) => daemon.log(l), onTransportError: () => daemon.relays.dialMissing() });
      await exitWhenStopped(daemon);
    } catch (error) {
      io.err(`pb-node start: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  });

  program
    .command('relay')
    .description('run a standalone circuit relay (for a group without a reachable member)')
    .option('--listen <addrs...>', 'listen addresses', ['/ip4/0.0.0.0/tcp/4002'])
    .option('--key-file <file>', 'keep the relay identity here (created if missing)')
    .requiredOption('--group <ids...>', 'serve the members of these groups (group ids, from `status --json`)')
    .option('--max-reservations <n>', 'relay slots held at once (default 64)', numberArg)
    .action(async (o: { listen: string[]; keyFile?: string; group: string[]; maxReservations?: number }) => {
      const { runStandaloneRelay } = await import('../relay/relay.ts');
      try {
        const options = { listen: o.listen, keyFile: o.keyFile ?? null, groupIds: o.group };
        await runStandaloneRelay(
          o.maxReservations === undefined ? options : { ...options, maxReservations: o.maxReservations },
          io.out,
          io.err,
        );
      } catch (error) {
        io.err(`pb-node relay: ${(error as Error).message}`);
        process.exitCode = 1;
      }
    });

  withDir(
    program
      .command('status')
      .description('is everything backed up, how much more fits, the members, exposure and requests'),
  ).action(async (o: { dir: string; json?: boolean }) => {
    const { renderStatusText } = await import('../status/status-text.ts');
    const { dashboardLink } = await import('../status/status-link.ts');
    await call(o.dir, 'report', {}, o.json === true, (r: StatusReport) =>
      renderStatusText(r, dashboardLink(o.dir, r.dashboard.url)),
    );
  });

  withDir(program.command('create').description('found a new group with this node as its first member'))
    .option('--ratio <n>', 'pledge n bytes per byte backed up', numberArg, 1.5)
    .option('--tolerance <f>', 'members lost at once that every stripe survives', numberArg, 1)
    .action((o: { dir: string; json?: boolean; ratio: number; tolerance: number }) =>
      call(
        o.dir,
        'create',
        { ratio: o.ratio, tolerance: o.tolerance },
        o.json === true,
        (r: { groupId: string }) => `Founded group ${r.groupId}.`,
      ),
    );

  withDir(program.command('invite').description('print a one-time invite code'))
    .addOption(durationOption('--expires <duration>', 'how long the code stays valid', 24 * 3600 * 1000))
    .action((o: { dir: string; json?: boolean; expires: number }) =>
      call(o.dir, 'invite', { expiresMs: o.expires }, o.json === true, (r: { code: string }) => r.code),
    );

  withDir(
    program.command('join').description('ask to join a group with an invite code and wait for the decision'),
  )
    .argument('<code>', 'the invite code')
    .addOption(durationOption('--wait <duration>', 'how long to wait for the decision', 10 * 60 * 1000))
    .action(async (code: string, o: { dir: string; json?: boolean; wait: number }) => {
      const tty = process.stderr.isTTY;
      const spinner = ['|', '/', '-', '\\'];
      let n = 0;
      const result = await callResult(
        o.dir,
        'join',
        { code, waitMs: o.wait },
        o.json === true,
        (r: { outcome: string; members?: number }) =>
          r.outcome === 'approved' ? `\nApproved: this node is now one of ${r.members} members.` : '',
        (event, data) => {
          if (o.json) return;
          if (event === 'waiting') {
            const s = Math.round(((data as { sinceMs: number }).sinceMs ?? 0) / 1000);
            const text = `waiting for the inviter's decision ${spinner[n++ % 4]} ${s}s`;
            if (tty) process.stderr.write(`\r${text}`);
            else io.err(text);
          } else if (event === 'connecting') io.err('connecting to the inviter...');
          else if (event === 'retrying') io.err(`retrying: ${(data as { reason: string }).reason}`);
        },
      );
      // Not admitted: the inviter's decision, and a failed exit (scripts must not go on).
      const outcome = (result as { outcome?: string } | undefined)?.outcome;
      if (outcome !== undefined && outcome !== 'approved') {
        if (!o.json) io.err(`pb-node join: ${JOIN_REFUSALS[outcome] ?? `the request was ${outcome}`}`);
        process.exitCode = 1;
      }
    });

  withDir(program.command('requests').description('join requests waiting for a decision')).action(
    (o: { dir: string; json?: boolean }) =>
      call(
        o.dir,
        'requests',
        {},
        o.json === true,
        (r: { candidate: string; name: string; mine: boolean }[]) =>
          r.length === 0
            ? 'no requests waiting'
            : r
                .map((p) => `${p.name}  ${p.candidate}${p.mine ? '' : '  (another member decides)'}`)
                .join('\n'),
      ),
  );

  for (const verb of ['approve', 'reject'] as const) {
    withDir(program.command(verb).description(`${verb} a join request`))
      .argument('<who>', 'name or id of the candidate')
      .action((who: string, o: { dir: string; json?: boolean }) =>
        call(
          o.dir,
          verb,
          { who },
          o.json === true,
          (r: { name: string }) => `${verb === 'approve' ? 'Approved' : 'Rejected'} ${r.name}.`,
        ),
      );
  }

  withDir(program.command('remove').description('remove a member (this node included)'))
    .argument('<who>', 'name or id')
    .action((who: string, o: { dir: string; json?: boolean }) =>
      call(o.dir, 'remove', { who }, o.json === true, (r: { name: string }) => `Removed ${r.name}.`),
    );

  withDir(program.command('members').description('the group members, with when each was last seen')).action(
    (o: { dir: string; json?: boolean }) =>
      call(
        o.dir,
        'members',
        {},
        o.json === true,
        (r: { id: string; name: string; pledgeBytes: number; self: boolean; lastSeenMs: number | null }[]) =>
          r
            .map(
              (m) =>
                `${m.self ? '*' : ' '} ${m.name.padEnd(16)} ${formatSize(m.pledgeBytes).padStart(10)}  ${m.self ? 'this node' : ago(m.lastSeenMs)}  ${m.id}`,
            )
            .join('\n'),
      ),
  );

  withDir(program.command('pledge').description('change the disk pledged for other members'))
    .argument('<size>', 'e.g. 500G', sizeArg)
    .action((bytes: number, o: { dir: string; json?: boolean }) =>
      call(
        o.dir,
        'pledge',
        { bytes },
        o.json === true,
        (r: { pledgeBytes: number; reservationBytes: number }) =>
          `Pledge ${formatSize(r.pledgeBytes)}; ${formatSize(r.reservationBytes)} reserved on disk.`,
      ),
    );

  withDir(program.command('agreement').description("change the group's agreement"))
    .requiredOption('--ratio <n>', 'pledge n bytes per byte backed up', numberArg)
    .requiredOption('--tolerance <f>', 'members lost at once that every stripe survives', numberArg)
    .action((o: { dir: string; json?: boolean; ratio: number; tolerance: number }) =>
      call(
        o.dir,
        'agreement',
        { ratio: o.ratio, tolerance: o.tolerance },
        o.json === true,
        (r: { ratio: number; tolerance: number }) => `Agreement: ratio ${r.ratio}, tolerance ${r.tolerance}.`,
      ),
    );

  registerAlertCommands(program);
  registerConfigCommands(program, io);
  registerServiceCommands(program, io);
  registerDocCommands(program, io.out);

  const uploadLine = (r: UploadState): string =>
    r.paused
      ? `Uploads (backups and repairs) paused until ${new Date(r.pausedUntilMs ?? 0).toLocaleString()}; \`pb-node resume\` resumes them.`
      : `Uploads run (cap now: ${formatRate(r.bytesPerSecond)}).`;
  withDir(program.command('pause').description('pause uploads (backups and repairs) for a while'))
    .addOption(
      durationOption('--for <duration>', 'how long (e.g. 2h); default until `pb-node resume` (at most 7d)'),
    )
    .action((o: { dir: string; json?: boolean; for?: number }) =>
      call(o.dir, 'pause', o.for === undefined ? {} : { forMs: o.for }, o.json === true, uploadLine),
    );
  withDir(program.command('resume').description('resume paused uploads')).action(
    (o: { dir: string; json?: boolean }) => call(o.dir, 'resume', {}, o.json === true, uploadLine),
  );

  withDir(program.command('stop').description('stop the daemon')).action(
    (o: { dir: string; json?: boolean }) => call(o.dir, 'stop', {}, o.json === true, () => 'stopping'),
  );
}

export { ControlError };

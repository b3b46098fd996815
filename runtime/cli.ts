/**
 * pb-node command line (commander). Daemon mode is the default: the verbs act on the group
 * through the daemon of the data directory (`--dir`, default ~/.pb or $PB_DIR): the daemon's
 * commands (init, start, invite, join, members, ...) in daemon/cli/commands.ts, the owner's
 * backup, forget, snapshots, ls, find, diff, check and restore in daemon/cli/browse-commands.ts.
 * Local mode (members are directories, `-c pb.json`) is its own group: `pb-node local <verb>`
 * (local-cli.ts). Commands take `--json` (one JSON document on stdout, errors as
 * { error: { code, message } }); progress bars only when stdout is a terminal. Exit codes in
 * cli-common.ts.
 *
 * The command groups are loaded when needed: `pb-node local <verb>` loads only local-cli.ts and
 * what it uses, never libp2p or the daemon (the packaged CLI is split into chunks, one per group,
 * runtime/bin/build.mjs). That takes about 0.18 s off the start of every local command
 * (docs/design.md §6.1).
 */

import { Command } from 'commander';
import {
  currentVerb,
  defaultIo,
  EXIT_FAILED,
  EXIT_USAGE,
  type Io,
  noteVerb,
  UsageError,
} from './cli-common.ts';
import { surviveLostStdio } from './daemon/daemon-log.ts';
import { EmptySourcesError, PipelineError } from './pipeline/errors.ts';

/**
 * The program with every command, or (`onlyLocal`) with the local-mode group alone: the daemon's
 * and the owner's verbs, and their modules, are then not loaded.
 */
export async function buildProgram(io: Io = defaultIo, json = false, onlyLocal = false): Promise<Command> {
  const program = new Command('pb-node');
  program
    .description('pb: cooperative peer backup')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      // Under --json a usage error is one JSON document on stdout (main), not text.
      outputError: (s, write) => {
        if (!json) write(s);
      },
    })
    .hook('preAction', (_program, action) => noteVerb(action));
  const [local, browse, daemon] = await Promise.all([
    import('./local-cli.ts'),
    onlyLocal ? null : import('./daemon/cli/browse-commands.ts'),
    onlyLocal ? null : import('./daemon/cli/commands.ts'),
  ]);
  browse?.registerBrowseCommands(program, io);
  local.registerLocalCommands(program, io);
  daemon?.registerDaemonCommands(program);
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  // `pb-node find '*' | head`: once the reader goes, the command finishes with its own exit code
  // and prints no unhandled EPIPE; a daemon or relay goes on (daemon-log.ts).
  surviveLostStdio();
  const json = argv.includes('--json');
  try {
    // argv: node, the script, then the verb (local mode's verbs all sit under `local`).
    const program = await buildProgram(io, json, argv[2] === 'local');
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    const e = error as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      if (json)
        io.out(
          JSON.stringify({ error: { code: 'usage', message: (e.message ?? '').replace(/^error: /, '') } }),
        );
      return EXIT_USAGE;
    }
    // A bad value the daemon or the pipeline refused is a usage error too.
    const usage =
      error instanceof UsageError ||
      e.code === 'bad-argument' ||
      (e.code === 'invalid-argument' && !(error instanceof EmptySourcesError));
    const code = usage ? 'usage' : error instanceof PipelineError ? error.code : (e.code ?? 'error');
    const message = e.message ?? String(error);
    const verb = currentVerb();
    if (json) io.out(JSON.stringify({ error: { code, message } }));
    else io.err(`pb-node${verb ? ` ${verb}` : ''}: ${message}`);
    return usage ? EXIT_USAGE : EXIT_FAILED;
  }
}

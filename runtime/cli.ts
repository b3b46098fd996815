/**
 * pb-node command line (commander). Daemon mode is the default: the verbs act on the group
 * through the daemon of the data directory (`--dir`, default ~/.pb or $PB_DIR): the daemon's
 * commands (init, start, invite, join, members, ...) in daemon/cli/commands.ts, the owner's
 * backup, forget, snapshots, ls, find, diff, check and restore in daemon/cli/browse-commands.ts.
 * Local mode (members are directories, `-c pb.json`) is its own group: `pb-node local <verb>`
 * (local-cli.ts). Commands take `--json` (one JSON document on stdout, errors as
 * { error: { code, message } }); progress bars only when stdout is a terminal. Exit codes in
 * cli-common.ts.
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
import { registerBrowseCommands } from './daemon/cli/browse-commands.ts';
import { registerDaemonCommands } from './daemon/cli/commands.ts';
import { registerLocalCommands } from './local-cli.ts';
import { EmptySourcesError, PipelineError } from './pipeline/errors.ts';

export function buildProgram(io: Io = defaultIo, json = false): Command {
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
  registerBrowseCommands(program, io);
  registerLocalCommands(program, io);
  registerDaemonCommands(program);
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const json = argv.includes('--json');
  const program = buildProgram(io, json);
  try {
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

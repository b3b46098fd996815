/**
 * pb-node command line. The daemon's commands live in daemon/commands.ts
 * (`registerDaemonCommands`); the local-mode commands (backup, restore, ...) join this program
 * when the branches merge.
 */
import { Command } from 'commander';
import { registerDaemonCommands } from './daemon/commands.ts';

export function buildProgram(): Command {
  const program = new Command('pb-node');
  program.description('pb: cooperative peer backup');
  registerDaemonCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.stderr.write(`pb-node: ${(error as Error).message}\n`);
    return 1;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

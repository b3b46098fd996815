/**
 * What every pb-node command shares: the output channels, the exit codes and the usage error.
 *
 * Exit codes (docs/group-backup.md, "Exit codes"): 0 done; 1 failed (the message says why);
 * 2 usage (an unknown option or command, a missing argument, a bad value; under --json the
 * answer is `{"error":{"code":"usage","message":...}}`); 3 a restore finished but left some
 * paths alone under its overwrite policy (each named as a warning and in the JSON `skipped`).
 */
import { type Command, Option } from 'commander';
import { OVERWRITE_POLICIES } from './pipeline/restore-overwrite.ts';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_SKIPPED = 3;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  isTty: boolean;
}

/** A command line that does not make sense (exit 2); thrown by actions after commander's checks. */
export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const overwriteOption = (): Option =>
  new Option(
    '--overwrite <policy>',
    'an existing file that differs: never (skip it, the default), if-newer, always',
  ).choices(OVERWRITE_POLICIES);

let verbNow = '';

/** The verb the user typed (`status`, `alerts test`, `local backup`), for error messages. */
export function currentVerb(): string {
  return verbNow;
}

export function noteVerb(command: Command): void {
  const words: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) words.unshift(c.name());
  verbNow = words.join(' ');
}

export const defaultIo: Io = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  isTty: Boolean(process.stdout.isTTY),
};

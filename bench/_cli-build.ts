/**
 * How the daemon benchmarks run pb as it is installed: the CLI built from this tree
 * (runtime/bin/build.mjs; `--package`: as the npm package ships it), put in place of the tsx
 * entry that the test helpers start, and their `--flag value` options.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Wrap } from '../test/runtime/daemon/_cluster.ts';

/** Builds the CLI from this tree and returns its entry file (`packaged`: the npm package's bundle). */
export function buildCli(packaged: boolean): string {
  const root = join(import.meta.dirname, '..');
  return execFileSync(
    process.execPath,
    [join(root, 'runtime/bin/build.mjs'), ...(packaged ? ['--package'] : [])],
    { encoding: 'utf8' },
  ).trim();
}

/**
 * A command prefix that runs `entry` with `nodeArgs` in place of the test helpers' tsx entry;
 * `exec` keeps the pid, so /proc/<pid> is the daemon's.
 */
export function entryWrap(entry: string, nodeArgs: readonly string[] = []): Wrap {
  // sh -c SCRIPT ENTRY NODE TSX-ENTRY ARGS...: $0 = ENTRY, $1 = node, $2 = the tsx entry (dropped).
  const extra = nodeArgs.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return ['sh', '-c', `node="$1"; shift 2; exec "$node" ${extra} "$0" "$@"`, entry];
}

/** The value after `flag` in `args`; null when the flag is absent; throws when it has none. */
export function optionValue(args: readonly string[], flag: string): string | null {
  const at = args.indexOf(flag);
  if (at < 0) return null;
  const v = args[at + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${flag} wants a value`);
  return v;
}

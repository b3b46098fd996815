/**
 * `state.json` in the data directory (config.ts lists its files): what the daemon changed at run time that the config does not
 * say (the pledge set with `pb-node pledge`). Written atomically and durably.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { type NodeConfig, paths } from './config/config.ts';

export interface DaemonState {
  pledgeBytes: number;
}

/** The saved state, or the config's values where there is none (or it is unreadable). */
export function readState(dir: string, config: NodeConfig): DaemonState {
  try {
    const s = JSON.parse(fs.readFileSync(paths(dir).state, 'utf8')) as DaemonState;
    if (Number.isSafeInteger(s.pledgeBytes) && s.pledgeBytes >= 0) return s;
  } catch {}
  return { pledgeBytes: config.pledgeBytes };
}

export function writeState(dir: string, state: DaemonState): void {
  if (!Number.isSafeInteger(state.pledgeBytes) || state.pledgeBytes < 0)
    throw new Error(`state: pledgeBytes ${state.pledgeBytes} is not a byte count`);
  writeFileAtomic(paths(dir).state, new TextEncoder().encode(JSON.stringify(state)));
}

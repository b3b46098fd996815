#!/usr/bin/env node
// `pnpm test:faults [--long] [vitest args]`: the fault suite (test/faults) alone. --long sets
// PB_FAULTS_LONG=1, which the tests read for their large counts (docs/faults.md).
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const long = args.includes('--long');
const rest = args.filter((a) => a !== '--long');
const env = { ...process.env, ...(long ? { PB_FAULTS_LONG: '1' } : {}) };
const r = spawnSync('pnpm', ['exec', 'vitest', 'run', 'test/faults', ...rest], { stdio: 'inherit', env });
process.exit(r.status ?? 1);

/**
 * A tree with more entries than a call's arguments can hold: a restore of 200,000 files failed
 * with "Maximum call stack size exceeded" (a list spread into push; Node's default stack takes
 * about 125,000 arguments). The CLI runs here with a stack of 120 KiB, which takes about 15,000,
 * so 20,000 empty files (they go through the same lists) show it in a few seconds.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, localRepo } from '../faults/_local.ts';
import { tempDir } from './helpers.ts';

const FILES = 20_000;
const DIRS = 20;
const STACK_KIB = 120;

function pbSmallStack(config: string, args: string[]): unknown {
  const r = spawnSync(
    process.execPath,
    [`--stack-size=${STACK_KIB}`, BIN, 'local', '-c', config, ...args, '--json'],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  expect(r.status, `pb-node ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}

describe('a restore of very many files', () => {
  it(`restores ${FILES} files with a small stack: no list of files is spread into a call`, async () => {
    const root = tempDir('many');
    try {
      const { config, src } = await localRepo(root);
      for (let d = 0; d < DIRS; d++) {
        fs.mkdirSync(join(src, `d${d}`));
        for (let f = 0; f < FILES / DIRS; f++) fs.closeSync(fs.openSync(join(src, `d${d}`, `f${f}`), 'w'));
      }
      expect(pbSmallStack(config, ['backup'])).toMatchObject({ scan: { files: FILES } });
      const target = join(root, 'out');
      expect(pbSmallStack(config, ['restore', '--target', target])).toMatchObject({ files: FILES });
      let found = 0;
      for (const d of fs.readdirSync(join(target, src))) found += fs.readdirSync(join(target, src, d)).length;
      expect(found).toBe(FILES);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 240_000);
});

/**
 * `init --directories` and the data directory (docs/config.md "Excludes"): a directory that does
 * not exist is refused by name; a data directory inside a backed-up directory is allowed (backups
 * always leave it out) with a note naming both paths; a bad `exclude` pattern is a config problem.
 * The real CLI.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkConfig } from '../../../runtime/daemon/config/config.ts';
import { cli } from './_cluster.ts';

const TIMEOUT = 60_000;
const root = fs.mkdtempSync(join(tmpdir(), 'pb-initdirs-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('init --directories', () => {
  it(
    'refuses a directory that does not exist, naming it, and creates nothing',
    async () => {
      const dir = join(root, 'a');
      const missing = join(root, 'no-such-dir');
      const r = await cli(['init', '--dir', dir, '--name', 'a', '--directories', missing, '--test-network']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`the directory ${missing} cannot be backed up: it does not exist`);
      expect(fs.existsSync(join(dir, 'config'))).toBe(false);
    },
    TIMEOUT,
  );

  it(
    'a data directory inside a backed-up directory: created, with a note naming both paths',
    async () => {
      const home = join(root, 'home');
      fs.mkdirSync(home);
      const dir = join(home, '.pb');
      const r = await cli(['init', '--dir', dir, '--name', 'b', '--directories', home, '--test-network']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(
        `note: the data directory ${dir} lies inside the backed-up directory ${home}; backups always leave it out`,
      );
      expect(fs.existsSync(join(dir, 'config'))).toBe(true);
    },
    TIMEOUT,
  );

  it('a bad exclude pattern is a config problem with its line', () => {
    const r = checkConfig(['name = "x"', 'exclude = ["*.tmp", "[oops"]'].join('\n'));
    expect(r.config).toBeNull();
    expect(r.problems).toEqual([{ line: 2, message: expect.stringContaining('exclude pattern "[oops"') }]);
    expect(checkConfig('name = "x"\nexclude = ["*.tmp"]').config?.exclude).toEqual(['*.tmp']);
  });
});

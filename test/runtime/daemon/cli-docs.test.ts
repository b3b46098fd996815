/**
 * Shell completion and the man page come from the commander definitions: every command and
 * option pb-node has is in them. The bash script is run by a real bash; the page by man.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../../runtime/cli.ts';
import { cli } from './_cluster.ts';

const TIMEOUT = 60_000;
const root = fs.mkdtempSync(join(tmpdir(), 'pb-docs-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const has = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

/** What bash completes for `pb-node <words...> <cur>`, sourcing the generated script. */
function bashComplete(script: string, words: string[]): string[] {
  const file = join(root, 'pb-node.bash');
  fs.writeFileSync(file, script);
  const all = ['pb-node', ...words];
  const program = `source ${JSON.stringify(file)}; COMP_WORDS=(${all.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${all.length - 1}; _pb_node; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', program], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

describe('completion and man page', () => {
  it(
    'bash completes commands, nested commands and each command its own options',
    async () => {
      const r = await cli(['completion', 'bash']);
      expect(r.code, r.stderr).toBe(0);
      expect(bashComplete(r.stdout, ['con'])).toEqual(['config']);
      expect(bashComplete(r.stdout, ['config', ''])).toEqual(
        expect.arrayContaining(['check', 'upgrade', 'show']),
      );
      expect(bashComplete(r.stdout, ['config', 'check', '--'])).toEqual(['--dir', '--file', '--help']);
      expect(bashComplete(r.stdout, ['invite', '--exp'])).toEqual(['--expires']);
      expect(bashComplete(r.stdout, ['service', 'install', '--dr'])).toEqual(['--dry-run']);
      expect(bashComplete(r.stdout, ['--ver'])).toEqual(['--version']);
    },
    TIMEOUT,
  );

  it(
    'zsh and fish scripts name every command; each parses in its shell where installed',
    async () => {
      const program = await buildProgram();
      const names = program.commands.map((c) => c.name());
      expect(names).toEqual(
        expect.arrayContaining(['init', 'start', 'config', 'service', 'completion', 'man']),
      );
      for (const shell of ['zsh', 'fish'] as const) {
        const r = await cli(['completion', shell]);
        expect(r.code, r.stderr).toBe(0);
        for (const name of names) expect(r.stdout, `${shell}: ${name}`).toMatch(new RegExp(`\\b${name}\\b`));
        const file = join(root, `pb-node.${shell}`);
        fs.writeFileSync(file, r.stdout);
        if (has(shell)) {
          const check = spawnSync(shell, shell === 'zsh' ? ['-n', file] : ['--no-execute', file], {
            encoding: 'utf8',
          });
          expect(check.status, check.stderr).toBe(0);
        }
      }
      expect((await cli(['completion', 'tcsh'])).code).toBe(2);
    },
    TIMEOUT,
  );

  it(
    'the man page lists every command and option, with defaults in human units, and man reads it',
    async () => {
      const r = await cli(['man']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^\.TH PB\\-NODE 1 /);
      for (const c of (await buildProgram()).commands)
        expect(r.stdout).toContain(`pb\\-node ${c.name().replace(/-/g, '\\-')}`);
      expect(r.stdout).toContain('how long the code stays valid (default: 24h)');
      expect(r.stdout).not.toContain(process.env.HOME ?? '/nonexistent-home');
      if (has('man')) {
        const page = join(root, 'pb-node.1');
        fs.writeFileSync(page, r.stdout);
        const text = execFileSync('man', ['-l', page], {
          encoding: 'utf8',
          env: { ...process.env, MANWIDTH: '100' },
        });
        expect(text).toMatch(/pb-node config check \[options\]/);
        expect(text).toMatch(/--dry-run/);
      }
    },
    TIMEOUT,
  );
});

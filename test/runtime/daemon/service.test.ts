/**
 * `pb-node service install|uninstall|status` with a temporary HOME: --dry-run writes nothing,
 * --files-only writes and removes the unit without systemctl. The real CLI as its own process.
 */

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { renderService } from '../../../runtime/daemon/cli/service-unit.ts';
import { BIN } from './_cluster.ts';

const TIMEOUT = 60_000;
const root = fs.mkdtempSync(join(tmpdir(), 'pb-service-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function pb(
  args: string[],
  env: Record<string, string>,
): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: TIMEOUT,
    });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}

describe('service', () => {
  it(
    'install --dry-run prints the user unit for ~/.config/systemd/user and the systemctl calls, and writes nothing',
    async () => {
      const home = join(root, 'dry');
      fs.mkdirSync(home);
      const dir = join(home, 'data dir');
      const r = await pb(['service', 'install', '--dry-run', '--dir', dir], {
        HOME: home,
        PB_SERVICE_PLATFORM: 'linux',
      });
      expect(r.code, r.stderr).toBe(0);
      const unit = join(home, '.config', 'systemd', 'user', 'pb-node.service');
      expect(r.stdout).toContain(`would write ${unit}:`);
      expect(r.stdout).toContain(
        `ExecStart=${process.execPath} ${fs.realpathSync(BIN)} start --dir "${dir}"`,
      );
      expect(r.stdout).toContain('WantedBy=default.target');
      expect(r.stdout).toContain('would run: systemctl --user daemon-reload');
      expect(r.stdout).toContain('would run: systemctl --user enable --now pb-node.service');
      expect(r.stdout).not.toMatch(/@[A-Z_]+@/);
      expect(fs.readdirSync(home)).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'install --files-only writes the unit, status sees it, uninstall removes it',
    async () => {
      const home = join(root, 'files');
      fs.mkdirSync(home);
      const env = { HOME: home, PB_SERVICE_PLATFORM: 'linux', XDG_CONFIG_HOME: join(home, 'xdg') };
      const unit = join(home, 'xdg', 'systemd', 'user', 'pb-node.service');
      const none = await pb(['service', 'status', '--files-only'], env);
      expect(none.code).toBe(3);
      expect(none.stdout).toContain('not installed');
      const install = await pb(['service', 'install', '--files-only', '--dir', join(home, 'pb')], env);
      expect(install.code, install.stderr).toBe(0);
      expect(fs.readFileSync(unit, 'utf8')).toContain(`--dir ${join(home, 'pb')}`);
      const status = await pb(['service', 'status', '--files-only', '--dir', join(home, 'pb')], env);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toBe(`installed: ${unit}\n`);
      const other = await pb(['service', 'status', '--files-only', '--dir', join(home, 'elsewhere')], env);
      expect(other.stdout).toContain('differs from what this pb-node would write');
      const gone = await pb(['service', 'uninstall', '--files-only'], env);
      expect(gone.code, gone.stderr).toBe(0);
      expect(fs.existsSync(unit)).toBe(false);
    },
    TIMEOUT,
  );

  it(
    'the system unit for a NAS and the macOS launch agent, from the shipped templates',
    async () => {
      const home = join(root, 'sys');
      fs.mkdirSync(home);
      const sys = await pb(['service', 'install', '--system', '--dry-run'], {
        HOME: home,
        PB_SERVICE_PLATFORM: 'linux',
      });
      expect(sys.code, sys.stderr).toBe(0);
      expect(sys.stdout).toContain('would write /etc/systemd/system/pb-node.service:');
      expect(sys.stdout).toContain('User=pb');
      expect(sys.stdout).toContain('start --dir /var/lib/pb');
      expect(sys.stdout).toContain('would run: systemctl enable --now pb-node.service');
      const mac = await pb(['service', 'install', '--dry-run', '--dir', join(home, 'a&b')], {
        HOME: home,
        PB_SERVICE_PLATFORM: 'darwin',
      });
      expect(mac.code, mac.stderr).toBe(0);
      expect(mac.stdout).toContain(
        `would write ${join(home, 'Library', 'LaunchAgents', 'org.pb.pb-node.plist')}:`,
      );
      expect(mac.stdout).toContain(`<string>${join(home, 'a&amp;b')}</string>`);
      expect(mac.stdout).toContain('would run: launchctl load -w');
      expect(fs.readdirSync(home)).toEqual([]);
      const bad = await pb(['service', 'install', '--system', '--dry-run'], {
        HOME: home,
        PB_SERVICE_PLATFORM: 'darwin',
      });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('--system is for systemd');
    },
    TIMEOUT,
  );

  it('refuses paths a unit cannot hold and user names that are not names', () => {
    const input = { kind: 'systemd-user' as const, home: '/h', node: '/n', bin: '/b', dir: '/d', user: 'me' };
    expect(() => renderService('@DIR@', { ...input, dir: '/a\nb' })).toThrow(/newline/);
    expect(() => renderService('@USER@', { ...input, user: 'x; rm' })).toThrow(/not a user name/);
    expect(renderService('ExecStart=@NODE@ @PB_NODE@ @DIR@', { ...input, dir: '/a "b"' })).toBe(
      'ExecStart=/n /b "/a \\"b\\""',
    );
  });
});

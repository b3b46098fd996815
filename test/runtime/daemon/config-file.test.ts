/**
 * The config file as a person meets it: TOML with human units written by `init`, the first
 * format (`key = JSON value`) still read and rewritten by `config upgrade`, every problem with its
 * line from `config check`, and help texts with defaults in human units. Real files, the real CLI.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_CONFIG,
  loadConfig,
  parseConfig,
  renderConfig,
} from '../../../runtime/daemon/config/config.ts';
import { cli } from './_cluster.ts';

const TIMEOUT = 60_000;
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const root = fs.mkdtempSync(join(tmpdir(), 'pb-config-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A config as the first format wrote it (before TOML): JSON values, milliseconds, bytes. */
const FIRST_FORMAT = `# pb-node configuration: one \`key = JSON value\` per line; lines starting with # are comments.

# How the other members see this machine (1 to 64 characters).
name = "nas"

listen = ["/ip4/0.0.0.0/tcp/4001","/p2p-circuit","/webrtc"]
announce = []
relays = []
relayServer = true
webrtc = true
iceServers = [{"urls":"stun:stun.l.google.com:19302"}]
webrtcBindAddress = null
directories = ["/srv/photos"]
pledgeBytes = 2000000000
reserveDir = "shards"
mail = {"host":null,"port":587,"secure":false,"starttls":"auto","user":null,"passwordFile":null,"from":null,"to":[]}
alerts = {"exposureGraceMs":3600000,"noBackupMs":259200000,"pledgeNearlyFullFraction":0.9,"joinRequestAfterMs":0,"checkIntervalMs":60000}
schedule = "daily"
watchDebounceMs = 30000
syncIntervalMs = 30000
dashboard = null
repair = {"intervalMs":300000,"graceMs":86400000,"settleMs":600000,"bytesPerSecond":4194304,"concurrency":2,"maxTasks":200,"auditBytesPerRound":67108864}
emptyFraction = 0.05
upload = "off"
uploadWindows = [{"hours":"22:00-07:00","upload":"10MB/s"}]
`;

describe('config file', () => {
  it(
    'init writes TOML with human units: --pledge 2G is pledge = "2G", read back as 2e9 bytes',
    async () => {
      const dir = join(root, 'init');
      const r = await cli(['init', '--dir', dir, '--name', 'laptop', '--pledge', '2G', '--test-network']);
      expect(r.code, r.stderr).toBe(0);
      const text = fs.readFileSync(join(dir, 'config'), 'utf8');
      expect(text).toMatch(/^version = 2$/m);
      expect(text).toMatch(/^pledge = "2G"$/m);
      expect(text).toMatch(/^watchDebounce = "30s"$/m);
      expect(text).toMatch(/^repair = \{ interval = "5m", grace = "24h", .*rate = "4MiB\/s"/m);
      expect(loadConfig(dir)).toMatchObject({ name: 'laptop', pledgeBytes: 2e9, watchDebounceMs: 30_000 });
      const check = await cli(['config', 'check', '--dir', dir]);
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toContain(': good');
    },
    TIMEOUT,
  );

  it('docs/config.md lists every key the config file holds, with the default init writes', () => {
    const doc = fs.readFileSync(join(import.meta.dirname, '../../../docs/config.md'), 'utf8');
    const text = renderConfig({
      ...DEFAULT_CONFIG,
      mail: { ...DEFAULT_CONFIG.mail, host: 'h', to: ['a@b.c'] },
    });
    const rows = [...text.matchAll(/^(\w+) = (.*)$/gm)];
    expect(rows.length).toBeGreaterThan(20);
    for (const [, key, value] of rows) {
      if (key === 'mail' || key === 'alerts' || key === 'repair') {
        for (const [, k, v] of value!.matchAll(/(\w+) = ("[^"]*"|\[[^\]]*\]|[\w.]+)/g)) {
          if (key === 'mail' && (k === 'host' || k === 'to')) continue;
          expect(doc, `${key}.${k}`).toMatch(new RegExp(`\\| \`${key}\\.${k}\` +\\| \`${escapeRe(v!)}\``));
        }
      } else if (key !== 'name') {
        expect(doc, key).toMatch(new RegExp(`\\| \`${key}\` +\\| \`${escapeRe(value!)}\``));
      }
    }
  });

  it('every key renders and reads back; sections and human keys a person writes are read too', () => {
    expect(parseConfig(renderConfig(DEFAULT_CONFIG), 'c')).toEqual(DEFAULT_CONFIG);
    const c = parseConfig(
      [
        'name = "nas"',
        'pledge = "1.5TiB"',
        'syncInterval = "1m"',
        'schedule = "6h"',
        'dashboard = false',
        '[repair]',
        'grace = "48h"',
        'rate = "off"',
        '[alerts]',
        'noBackup = "7d"',
        '[mail]',
        'host = "smtp.example.org"',
        'to = ["me@example.org"]',
      ].join('\n'),
      'c',
    );
    expect(c).toMatchObject({
      name: 'nas',
      pledgeBytes: 1.5 * 2 ** 40,
      syncIntervalMs: 60_000,
      schedule: 360,
      dashboard: null,
      repair: { graceMs: 48 * 3_600_000, bytesPerSecond: 0, intervalMs: DEFAULT_CONFIG.repair.intervalMs },
      alerts: { noBackupMs: 7 * 86_400_000 },
      mail: { host: 'smtp.example.org', to: ['me@example.org'], port: 587 },
    });
  });

  it(
    'a first-format file is read as it was, and `config upgrade` rewrites it as TOML keeping config.old',
    async () => {
      const dir = join(root, 'old');
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.writeFileSync(join(dir, 'config'), FIRST_FORMAT, { mode: 0o600 });
      const before = loadConfig(dir);
      expect(before).toMatchObject({ name: 'nas', pledgeBytes: 2e9, dashboard: null, schedule: 'daily' });
      const check = await cli(['config', 'check', '--dir', dir]);
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toContain('`pb-node config upgrade` rewrites it as TOML');

      const dry = await cli(['config', 'upgrade', '--dir', dir, '--dry-run']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(/^pledge = "2G"$/m);
      expect(fs.readFileSync(join(dir, 'config'), 'utf8')).toBe(FIRST_FORMAT);

      const up = await cli(['config', 'upgrade', '--dir', dir]);
      expect(up.code, up.stderr).toBe(0);
      expect(fs.readFileSync(join(dir, 'config.old'), 'utf8')).toBe(FIRST_FORMAT);
      const toml = fs.readFileSync(join(dir, 'config'), 'utf8');
      expect(toml).toMatch(/^dashboard = false$/m);
      expect(toml).toMatch(/^uploadWindows = \[\{ hours = "22:00-07:00", upload = "10MB\/s" \}\]$/m);
      expect(loadConfig(dir)).toEqual(before);
      const again = await cli(['config', 'upgrade', '--dir', dir]);
      expect(again.stdout).toContain('already current TOML');
    },
    TIMEOUT,
  );

  it(
    '`config check` prints every problem with its line and exits 1; nothing is changed',
    async () => {
      const file = join(root, 'bad.toml');
      const bad = [
        'name = "nas"', // 1
        'pledge = "lots"', // 2
        'watchDebounce = 30000', // 3
        'nmae = "x"', // 4
        'emptyFraction = 2', // 5
        'directories = ["relative/path"]', // 6
      ].join('\n');
      fs.writeFileSync(file, bad);
      const r = await cli(['config', 'check', '--file', file]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toEqual([
        `${file}:2: pledge: "lots" is not a size (examples: 500G, 1.5T, 800MB, 64MiB, 1048576)`,
        `${file}:3: watchDebounce takes a text with a unit, e.g. watchDebounce = "24h" (or watchDebounceMs = a number)`,
        `${file}:4: unknown setting "nmae"`,
        `${file}:5: emptyFraction must be a number from 0 to 1`,
        `${file}:6: directories must be absolute paths`,
        `5 problems in ${file}`,
      ]);
      fs.writeFileSync(file, 'name = "nas"\nlisten = [\n');
      const syntax = await cli(['config', 'check', '--file', file]);
      expect(syntax.code).toBe(1);
      expect(syntax.stderr).toMatch(new RegExp(`^${file}:3: not TOML: `, 'm'));
      const up = await cli(['config', 'upgrade', '--file', file]);
      expect(up.code).toBe(1);
      expect(fs.readFileSync(file, 'utf8')).toBe('name = "nas"\nlisten = [\n');
      expect(fs.existsSync(`${file}.old`)).toBe(false);
    },
    TIMEOUT,
  );

  it(
    '--version prints the package version; help texts show defaults in human units',
    async () => {
      const pkg = JSON.parse(fs.readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8'));
      const v = await cli(['--version']);
      expect(v.code).toBe(0);
      expect(v.stdout.trim()).toBe(pkg.version);
      const invite = await cli(['invite', '--help']);
      expect(invite.stdout).toMatch(/--expires <duration> +how long the code stays valid \(default: 24h\)/);
      const join_ = await cli(['join', '--help']);
      expect(join_.stdout).toContain('(default: 10m)');
      expect(`${invite.stdout}${join_.stdout}`).not.toMatch(/default: \d{4,}/);
    },
    TIMEOUT,
  );
});

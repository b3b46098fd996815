/**
 * `pb-node service install|uninstall|status`: runs the daemon as a service of this machine (a
 * systemd user unit, a systemd system unit with --system, a launchd agent on macOS), from the
 * templates in packaging/. `--dry-run` prints what it would write and run, and changes nothing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultDataDir } from '../config/config.ts';
import { planService, type ServiceKind, type ServicePlan } from './service-unit.ts';

interface Io {
  out: (t: string) => void;
  err: (t: string) => void;
}

interface ServiceOptions {
  dir?: string;
  system?: boolean;
  user?: string;
  platform?: string;
  dryRun?: boolean;
  filesOnly?: boolean;
}

/** Bound on a service manager command (systemctl, launchctl). */
const COMMAND_TIMEOUT_MS = 30_000;

function kindFor(o: ServiceOptions): ServiceKind {
  const platform = o.platform ?? process.platform;
  if (platform === 'darwin') {
    if (o.system)
      throw new Error('--system is for systemd; on macOS the service is a launch agent of your user');
    return 'launchd';
  }
  if (platform !== 'linux')
    throw new Error(`no service definition for ${platform} (linux: systemd, darwin: launchd)`);
  return o.system ? 'systemd-system' : 'systemd-user';
}

function plan(o: ServiceOptions): ServicePlan {
  const kind = kindFor(o);
  const home = process.env.HOME ?? homedir();
  const dir = resolve(o.dir ?? (kind === 'systemd-system' ? '/var/lib/pb' : defaultDataDir()));
  return planService({
    kind,
    home,
    configHome: process.env.XDG_CONFIG_HOME,
    node: process.execPath,
    bin: fs.realpathSync(process.argv[1] ?? 'pb-node'),
    dir,
    user: o.user ?? (kind === 'systemd-system' ? 'pb' : userInfo().username),
  });
}

const shown = (argv: string[]): string => argv.join(' ');

function run(argv: string[], io: Io): boolean {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (r.error !== undefined || r.status !== 0) {
    io.err(`${shown(argv)} failed: ${(r.error?.message ?? r.stderr.trim()) || `exit ${r.status}`}`);
    return false;
  }
  return true;
}

export function serviceInstall(o: ServiceOptions, io: Io): number {
  const p = plan(o);
  if (o.dryRun) {
    io.out(`would write ${p.file}:`);
    io.out(p.text.trimEnd());
    if (!o.filesOnly) for (const c of p.enable) io.out(`would run: ${shown(c)}`);
    return 0;
  }
  if (fs.existsSync(p.file) && fs.readFileSync(p.file, 'utf8') !== p.text)
    io.out(`replacing ${p.file} (it differs from this pb-node's)`);
  fs.mkdirSync(dirname(p.file), { recursive: true });
  fs.writeFileSync(p.file, p.text, { mode: 0o644 });
  io.out(`wrote ${p.file}`);
  if (o.filesOnly) return 0;
  for (const c of p.enable) if (!run(c, io)) return 1;
  io.out(`pb-node runs as a service now (${p.kind}); \`pb-node service status\` shows it.`);
  if (p.kind === 'systemd-user')
    io.out('To keep it running while you are logged out: loginctl enable-linger $USER');
  return 0;
}

export function serviceUninstall(o: ServiceOptions, io: Io): number {
  const p = plan(o);
  const [stop, ...after] = p.disable;
  if (o.dryRun) {
    if (!o.filesOnly && stop) io.out(`would run: ${shown(stop)}`);
    io.out(`would remove ${p.file}`);
    if (!o.filesOnly) for (const c of after) io.out(`would run: ${shown(c)}`);
    return 0;
  }
  if (!fs.existsSync(p.file)) {
    io.out(`no service installed (${p.file} does not exist)`);
    return 0;
  }
  if (!o.filesOnly && stop && !run(stop, io)) return 1;
  fs.rmSync(p.file);
  io.out(`removed ${p.file}`);
  if (!o.filesOnly) for (const c of after) run(c, io);
  return 0;
}

export function serviceStatus(o: ServiceOptions, io: Io): number {
  const p = plan(o);
  if (!fs.existsSync(p.file)) {
    io.out(`not installed (${p.file} does not exist); \`pb-node service install\` installs it`);
    return 3;
  }
  const current = fs.readFileSync(p.file, 'utf8') === p.text;
  io.out(
    `installed: ${p.file}${current ? '' : ' (differs from what this pb-node would write: reinstall it)'}`,
  );
  if (o.filesOnly) return 0;
  const r = spawnSync(p.status[0]!, p.status.slice(1), { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (r.error !== undefined) {
    io.err(`${shown(p.status)}: ${r.error.message}`);
    return 1;
  }
  io.out(r.stdout.trimEnd());
  return r.status ?? 1;
}

export function registerServiceCommands(program: Command, io: Io): void {
  const service = program
    .command('service')
    .description('run the daemon as a service: systemd (Linux) or launchd (macOS)');
  const common = (c: Command): Command =>
    c
      .option('--dir <dir>', 'data directory (default: $PB_DIR or ~/.pb; with --system: /var/lib/pb)')
      .option('--system', 'a system unit for an always-on machine (a NAS), run as --user')
      .option('--user <name>', 'the account a --system unit runs as (default: pb)')
      .option('--dry-run', 'print what would be written and run; change nothing')
      .option('--files-only', 'write or remove the file only; run no systemctl or launchctl')
      .addHelpText('after', '\nThe definitions come from packaging/ in the pb package (docs/service.md).');
  const act = (f: (o: ServiceOptions, io: Io) => number) => (o: ServiceOptions & { platform?: string }) => {
    try {
      process.exitCode = f({ ...o, platform: process.env.PB_SERVICE_PLATFORM ?? o.platform }, io);
    } catch (error) {
      io.err(`pb-node service: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  };
  common(service.command('install').description('write the unit (or plist), enable and start it')).action(
    act(serviceInstall),
  );
  common(service.command('uninstall').description('stop and disable the service, remove its file')).action(
    act(serviceUninstall),
  );
  common(service.command('status').description('is the service installed and running')).action(
    act(serviceStatus),
  );
}

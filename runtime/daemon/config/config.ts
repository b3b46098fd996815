/**
 * The data directory and its config file (`pb-node init`).
 *
 * Layout of the data directory (0700; everything in it 0700 or 0600, docs/formats.md):
 *   secret          the recovery secret, 64 hex characters (0600); shown once as words at init
 *   config          commented settings in TOML (config-file.ts reads it; docs/config.md)
 *   state.json      what the daemon changes itself (the pledge)
 *   alerts.json     open alert episodes and unsent alert mails (alerts/monitor.ts)
 *   group/          the group op log (ops.bin) and the group id
 *   shards/         other members' shards and the pledge reservation file
 *   heads/          owners' signed heads
 *   control.sock    the daemon's Unix socket (0600) while it runs
 *   pb-node.log     the daemon's log
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { containingDirectory, RECOVERY_SECRET_BYTES } from '../../../engine/index.ts';
import { type AlertConfig, DEFAULT_ALERTS, DEFAULT_MAIL, type MailConfig } from '../alerts/config.ts';
import { PrivateFileError, readPrivateFile } from '../private-file.ts';
import { secretToWords } from '../recovery/secret-words.ts';
import { DEFAULT_REPAIR_CONFIG, type RepairConfig } from '../shards/repair-config.ts';
import { type ConfigReading, readConfigText, renderConfigToml } from './config-file.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface NodeConfig {
  name: string;
  listen: string[];
  announce: string[];
  relays: string[];
  relayServer: boolean;
  webrtc: boolean;
  iceServers: { urls: string | string[]; username?: string; credential?: string }[];
  webrtcBindAddress: string | null;
  directories: string[];
  /** Exclude patterns (engine/exclude.ts); the data directory is always left out. */
  exclude: string[];
  pledgeBytes: number;
  reserveDir: string;
  mail: MailConfig;
  alerts: AlertConfig;
  schedule: string | number;
  watchDebounceMs: number;
  syncIntervalMs: number;
  /** The dashboard (runtime/daemon/dashboard/): null for none; port 0 picks a free port. */
  dashboard: { host: string; port: number; allowRemote?: boolean } | null;
  repair: RepairConfig;
  emptyFraction: number;
  /** Cap on everything this member uploads (backups and repairs): "2MB/s", or "off". */
  upload: string | number;
  /** Other caps at some hours of the local day: [{"hours": "22:00-07:00", "upload": "10MB/s"}]. */
  uploadWindows: { hours: string; upload: string | number }[];
}

export const DEFAULT_CONFIG: NodeConfig = {
  name: 'member',
  listen: ['/ip4/0.0.0.0/tcp/4001', '/p2p-circuit', '/webrtc'],
  announce: [],
  relays: [],
  relayServer: true,
  webrtc: true,
  iceServers: [{ urls: 'stun:stun.l.google.com:19302' }],
  webrtcBindAddress: null,
  directories: [],
  exclude: [],
  pledgeBytes: 0,
  reserveDir: 'shards',
  mail: DEFAULT_MAIL,
  alerts: DEFAULT_ALERTS,
  schedule: 'hourly',
  watchDebounceMs: 30_000,
  syncIntervalMs: 30_000,
  dashboard: { host: '127.0.0.1', port: 7460 },
  repair: DEFAULT_REPAIR_CONFIG,
  emptyFraction: 0.05,
  upload: 'off',
  uploadWindows: [],
};

export function defaultDataDir(): string {
  return process.env.PB_DIR ?? join(homedir(), '.pb');
}

export const paths = (dir: string) => ({
  secret: join(dir, 'secret'),
  config: join(dir, 'config'),
  state: join(dir, 'state.json'),
  group: join(dir, 'group'),
  heads: join(dir, 'heads'),
  socket: join(dir, 'control.sock'),
  log: join(dir, 'pb-node.log'),
});

/** Where the shards and the pledge reservation live. */
export function reserveRootOf(dir: string, config: Pick<NodeConfig, 'reserveDir'>): string {
  return isAbsolute(config.reserveDir) ? config.reserveDir : join(resolve(dir), config.reserveDir);
}

/**
 * The data directory (or the reservation's) inside a backed-up directory: allowed, because a
 * backup always leaves both out, but said at init and start so nobody is surprised.
 */
export function dataDirNotes(dir: string, config: Pick<NodeConfig, 'reserveDir' | 'directories'>): string[] {
  const notes: string[] = [];
  const dirs = config.directories.map((d) => resolve(d));
  const data = resolve(dir);
  const reserve = reserveRootOf(dir, config);
  // The reservation inside the data directory (the default) is said with it.
  const places: [string, string][] = [['data directory', data]];
  if (containingDirectory(reserve, [data]) === null) places.push(['pledge reservation directory', reserve]);
  for (const [what, path] of places) {
    const inside = containingDirectory(path, dirs);
    if (inside !== null)
      notes.push(
        `the ${what} ${path} lies inside the backed-up directory ${inside}; backups always leave it out`,
      );
  }
  return notes;
}

/** The first of `directories` that does not exist (or is not a directory), with why; null if none. */
export function missingDirectory(directories: readonly string[]): string | null {
  for (const d of directories) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch (error) {
      return `the directory ${d} cannot be backed up: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message}`;
    }
    if (!st.isDirectory()) return `${d} is not a directory`;
  }
  return null;
}

export function renderConfig(config: NodeConfig): string {
  return renderConfigToml(config, Object.keys(DEFAULT_CONFIG));
}

/** Every problem of a config text, each with its line (`pb-node config check`). */
export function checkConfig(text: string): ConfigReading<NodeConfig> {
  return readConfigText(text, DEFAULT_CONFIG);
}

export function parseConfig(text: string, where: string): NodeConfig {
  const r = checkConfig(text);
  if (r.config === null)
    throw new ConfigError(
      r.problems.map((p) => `${where}${p.line > 0 ? `:${p.line}` : ''}: ${p.message}`).join('\n'),
    );
  return r.config;
}

export function loadConfig(dir: string): NodeConfig {
  const file = paths(dir).config;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(
      `no pb-node data directory at ${dir} (no config file): run \`pb-node init --dir ${dir} --name <name>\` first`,
    );
  }
  return parseConfig(text, file);
}

/** The secret file holds 64 hex characters and a newline; a little slack for CRLF or spaces. */
const MAX_SECRET_FILE_BYTES = 256;

/** The recovery secret; refused when the file is readable by anyone but its owner. */
export function readSecret(dir: string): Uint8Array {
  const file = paths(dir).secret;
  let text: string;
  try {
    text = readPrivateFile(file, 'the recovery secret', MAX_SECRET_FILE_BYTES).trim();
  } catch (error) {
    if (error instanceof PrivateFileError && error.code === 'unreadable')
      throw new ConfigError(`no recovery secret at ${file}: run \`pb-node init\` first`);
    throw new ConfigError((error as Error).message);
  }
  if (!/^[0-9a-f]{64}$/.test(text))
    throw new ConfigError(`the recovery secret in ${file} must be 64 lowercase hex characters`);
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

export interface InitResult {
  dir: string;
  words: string;
}

/** Creates the data directory; refuses to touch an existing one. */
export function initDataDir(
  dir: string,
  name: string,
  overrides: Partial<NodeConfig> = {},
  secret?: Uint8Array,
): InitResult {
  dir = resolve(dir);
  const p = paths(dir);
  if (fs.existsSync(p.secret) || fs.existsSync(p.config)) {
    throw new ConfigError(`${dir} already holds a pb-node identity; refusing to overwrite it`);
  }
  const config = parseConfig(renderConfig({ ...DEFAULT_CONFIG, ...overrides, name }), 'the new config');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const s = secret ?? randomBytes(RECOVERY_SECRET_BYTES);
  fs.writeFileSync(p.secret, `${Buffer.from(s).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(p.config, renderConfig(config), { mode: 0o600, flag: 'wx' });
  return { dir, words: secretToWords(s) };
}

/**
 * The data directory and its config file (`pb-node init`).
 *
 * Layout of the data directory (0700; everything in it 0700 or 0600, docs/formats.md):
 *   secret          the recovery secret, 64 hex characters (0600); shown once as words at init
 *   config          commented settings, `key = JSON value` per line (this module reads it)
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
import { RECOVERY_SECRET_BYTES } from '../../engine/index.ts';
import {
  type AlertConfig,
  DEFAULT_ALERTS,
  DEFAULT_MAIL,
  type MailConfig,
  parseAlertConfig,
  parseMailConfig,
} from './alerts/config.ts';
import { PrivateFileError, readPrivateFile } from './private-file.ts';
import { DEFAULT_REPAIR_CONFIG, parseRepairConfig, type RepairConfig } from './repair-config.ts';
import { scheduleIntervalMs } from './schedule.ts';
import { secretToWords } from './secret-words.ts';
import { parseUploadConfig } from './upload-config.ts';

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

const COMMENTS: Record<keyof NodeConfig, string> = {
  name: 'How the other members see this machine (1 to 64 characters).',
  listen: 'Addresses to listen on. /p2p-circuit listens through relays, /webrtc accepts WebRTC links.',
  announce: 'Addresses to announce instead of the listening ones (e.g. a forwarded port); [] for automatic.',
  relays: 'Relays to reserve a slot on, as full multiaddrs ending in /p2p/<id> (members or `pb-node relay`).',
  relayServer: 'Relay for other members (turn off on a machine nobody can reach).',
  webrtc: 'Direct links across NAT over WebRTC, signalled through a relay.',
  iceServers: 'STUN/TURN servers for WebRTC, e.g. [{"urls":"stun:stun.example.org:3478"}].',
  webrtcBindAddress: 'Local address WebRTC binds to (null for all).',
  directories: 'Directories to back up.',
  pledgeBytes: 'Bytes of disk pledged for other members, reserved at once (change it with `pb-node pledge`).',
  reserveDir: 'Where shards and the reservation live (relative to the data directory, or absolute).',
  mail: 'Where alert mails go: your SMTP server (host null: alerts only in the log). Keys: host, port, secure (TLS on connect, port 465), starttls ("auto": when offered, and required before a login; "require"; "off": never, a login then goes in clear), user, passwordFile (relative to this directory, mode 0600), from, to (a list). Try it with `pb-node alerts test`.',
  alerts:
    'When alerts open: exposureGraceMs (exposure above the tolerance this long), noBackupMs (no successful backup this long), pledgeNearlyFullFraction, joinRequestAfterMs, checkIntervalMs. See docs/alerts.md.',
  schedule: 'When backups run by themselves: "hourly", "daily", "off" or a number of minutes.',
  watchDebounceMs:
    'Also back up this long (milliseconds) after the directories stop changing; 0 to ignore file changes.',
  syncIntervalMs: 'How often the group log is reconciled with every member (milliseconds).',
  dashboard:
    'The web dashboard: {"host":"127.0.0.1","port":7460} (port 0: any free port), null for none. Its token is in dashboard-token; a non-loopback host needs "allowRemote":true.',
  repair:
    'Repair worker (docs/group-backup.md): intervalMs, graceMs, settleMs, bytesPerSecond (0: no cap), concurrency, maxTasks; any subset.',
  emptyFraction:
    "Refuse a backup (and alert) when the directories hold fewer than this fraction of the newest snapshot's files or bytes (0 to 1).",
  upload:
    'Cap on everything this member uploads to the others, backups and repairs together: a rate like "2MB/s" or "500KiB/s", or "off". `pb-node pause` stops uploads for a while.',
  uploadWindows:
    'Other caps at some hours of the local day, the first match wins: [{"hours": "22:00-07:00", "upload": "10MB/s"}] ("off" inside: no cap).',
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

export function renderConfig(config: NodeConfig): string {
  const lines = [
    '# pb-node configuration: one `key = JSON value` per line; lines starting with # are comments.',
    '',
  ];
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof NodeConfig)[]) {
    lines.push(`# ${COMMENTS[key]}`);
    lines.push(`${key} = ${JSON.stringify(config[key])}`);
    lines.push('');
  }
  return lines.join('\n');
}

export function parseConfig(text: string, where: string): NodeConfig {
  const out: Record<string, unknown> = { ...DEFAULT_CONFIG };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq < 0) throw new ConfigError(`${where}:${i + 1}: expected \`key = value\``);
    const key = line.slice(0, eq).trim();
    if (!Object.hasOwn(DEFAULT_CONFIG, key))
      throw new ConfigError(`${where}:${i + 1}: unknown setting "${key}"`);
    try {
      out[key] = JSON.parse(line.slice(eq + 1).trim());
    } catch (error) {
      throw new ConfigError(`${where}:${i + 1}: ${key}: not a JSON value (${(error as Error).message})`);
    }
  });
  const c = out as unknown as NodeConfig;
  const strings = (v: unknown): boolean => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (typeof c.name !== 'string' || c.name.length < 1 || c.name.length > 64)
    throw new ConfigError(`${where}: name must be 1 to 64 characters`);
  for (const k of ['listen', 'announce', 'relays', 'directories'] as const) {
    if (!strings(c[k])) throw new ConfigError(`${where}: ${k} must be a list of strings`);
  }
  if (!Number.isSafeInteger(c.pledgeBytes) || c.pledgeBytes < 0)
    throw new ConfigError(`${where}: pledgeBytes must be a whole number >= 0`);
  if (!Number.isSafeInteger(c.syncIntervalMs) || c.syncIntervalMs < 100)
    throw new ConfigError(`${where}: syncIntervalMs must be >= 100`);
  if (!Array.isArray(c.iceServers)) throw new ConfigError(`${where}: iceServers must be a list`);
  if (!Number.isSafeInteger(c.watchDebounceMs) || c.watchDebounceMs < 0 || c.watchDebounceMs > 24 * 3600_000)
    throw new ConfigError(`${where}: watchDebounceMs must be 0 (off) to 86400000`);
  if (typeof c.emptyFraction !== 'number' || !(c.emptyFraction >= 0 && c.emptyFraction <= 1))
    throw new ConfigError(`${where}: emptyFraction must be a number from 0 to 1`);
  try {
    scheduleIntervalMs(c.schedule);
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`);
  }
  for (const [key, parse] of [
    ['mail', parseMailConfig],
    ['alerts', parseAlertConfig],
  ] as const) {
    try {
      (c as unknown as Record<string, unknown>)[key] = parse(c[key]);
    } catch (error) {
      throw new ConfigError(`${where}: ${(error as Error).message}`);
    }
  }
  if (c.dashboard !== null) {
    const d = c.dashboard as { host?: unknown; port?: unknown; allowRemote?: unknown };
    if (typeof d !== 'object' || typeof d.host !== 'string' || d.host.length === 0)
      throw new ConfigError(`${where}: dashboard must be null or {"host": "127.0.0.1", "port": 7460}`);
    if (!Number.isInteger(d.port) || (d.port as number) < 0 || (d.port as number) > 65535)
      throw new ConfigError(`${where}: dashboard.port must be 0 to 65535`);
    if (d.allowRemote !== undefined && typeof d.allowRemote !== 'boolean')
      throw new ConfigError(`${where}: dashboard.allowRemote must be true or false`);
  }
  try {
    parseUploadConfig(c.upload, c.uploadWindows);
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`);
  }
  try {
    c.repair = parseRepairConfig(c.repair);
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`);
  }
  if (c.directories.some((d) => !isAbsolute(d)))
    throw new ConfigError(`${where}: directories must be absolute paths`);
  return c;
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

/**
 * The config file's keys as a person writes them (docs/config.md): which keys take human units,
 * what each one means, and how a value is written back as TOML.
 *
 * A key named with its unit (`pledgeBytes`, `graceMs`) is the program's own name and takes a
 * plain number in that unit; files written before the TOML format use those. The name without the
 * unit (`pledge`, `grace`) takes a text with a unit instead: `pledge = "500G"`, `grace = "24h"`.
 */
import { durationSetting, parseDuration, parseSize, sizeSetting } from '../units.ts';
import { parseRate } from '../upload/upload-config.ts';

export type UnitKind = 'size' | 'duration' | 'rate';

export interface HumanKey {
  /** The program's name for the value (a number in the unit its name says). */
  internal: string;
  kind: UnitKind;
}

/** Human names per table: '' is the top level, otherwise the table's key. */
export const HUMAN_KEYS: Readonly<Record<string, Readonly<Record<string, HumanKey>>>> = {
  '': {
    pledge: { internal: 'pledgeBytes', kind: 'size' },
    watchDebounce: { internal: 'watchDebounceMs', kind: 'duration' },
    syncInterval: { internal: 'syncIntervalMs', kind: 'duration' },
  },
  alerts: {
    exposureGrace: { internal: 'exposureGraceMs', kind: 'duration' },
    noBackup: { internal: 'noBackupMs', kind: 'duration' },
    joinRequestAfter: { internal: 'joinRequestAfterMs', kind: 'duration' },
    checkInterval: { internal: 'checkIntervalMs', kind: 'duration' },
  },
  repair: {
    interval: { internal: 'intervalMs', kind: 'duration' },
    grace: { internal: 'graceMs', kind: 'duration' },
    settle: { internal: 'settleMs', kind: 'duration' },
    rate: { internal: 'bytesPerSecond', kind: 'rate' },
    auditPerRound: { internal: 'auditBytesPerRound', kind: 'size' },
  },
};

const EXAMPLE: Record<UnitKind, string> = { size: '"500G"', duration: '"24h"', rate: '"4MB/s"' };

/** A human value (a text with a unit) as the program's number; throws Error naming the key. */
export function fromHuman(key: string, value: unknown, h: HumanKey): number {
  if (typeof value === 'number' && h.kind === 'size') {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${key} must be a size like "500G"`);
    return value;
  }
  if (typeof value !== 'string')
    throw new Error(
      `${key} takes a text with a unit, e.g. ${key} = ${EXAMPLE[h.kind]} (or ${h.internal} = a number)`,
    );
  if (h.kind === 'size') return parseSize(value, key);
  if (h.kind === 'duration') return parseDuration(value, key);
  return parseRate(value, key);
}

/** The program's number as the human value written to the file. */
export function toHuman(value: number, h: HumanKey): string {
  if (h.kind === 'size') return sizeSetting(value);
  if (h.kind === 'duration') return durationSetting(value);
  return value === 0 ? 'off' : `${sizeSetting(value)}/s`;
}

/** The human name of an internal key in a table, or the key itself. */
export function humanName(table: string, internal: string): string {
  const keys = HUMAN_KEYS[table] ?? {};
  for (const [name, h] of Object.entries(keys)) if (h.internal === internal) return name;
  return internal;
}

export const COMMENTS: Readonly<Record<string, string>> = {
  name: 'How the other members see this machine (1 to 64 characters).',
  listen: 'Addresses to listen on. /p2p-circuit listens through relays, /webrtc accepts WebRTC links.',
  announce: 'Addresses to announce instead of the listening ones (e.g. a forwarded port); [] for automatic.',
  relays: 'Relays to reserve a slot on, as full multiaddrs ending in /p2p/<id> (members or `pb-node relay`).',
  relayServer: 'Relay for other members (turn off on a machine nobody can reach).',
  webrtc: 'Direct links across NAT over WebRTC, signalled through a relay.',
  iceServers: 'STUN/TURN servers for WebRTC, e.g. [{ urls = "stun:stun.example.org:3478" }].',
  webrtcBindAddress: 'Local address WebRTC binds to ("" for all).',
  directories: 'Directories to back up (absolute paths).',
  exclude:
    'Paths left out of backups, as globs: "*.tmp" or "node_modules" (any depth), "/home/me/big" (exactly), "**" across directories, a trailing "/" for directories only. Directories with a CACHEDIR.TAG keep only the tag; this data directory is always left out.',
  pledgeBytes:
    'Disk pledged for other members, reserved at once (change it with `pb-node pledge`): a size like "500G" (decimal) or "512GiB".',
  reserveDir: 'Where shards and the reservation live (relative to the data directory, or absolute).',
  mail: 'Where alert mails go: your SMTP server (no host: alerts only in the log). Keys: host, port, secure (TLS on connect, port 465), starttls ("auto": when offered, and required before a login; "require"; "off": never, a login then goes in clear), user, passwordFile (relative to this directory, mode 0600), from, to (a list). Try it with `pb-node alerts test`.',
  alerts:
    'When alerts open: exposureGrace (exposure above the tolerance this long), noBackup (no successful backup this long), pledgeNearlyFullFraction, joinRequestAfter, checkInterval. See docs/alerts.md.',
  schedule:
    'When backups run by themselves: "hourly", "daily", "off", a duration like "6h", or a number of minutes.',
  watchDebounceMs: 'Also back up this long after the directories stop changing; "0s" to ignore file changes.',
  syncIntervalMs: 'How often the group log is reconciled with every member.',
  dashboard:
    'The web dashboard: { host = "127.0.0.1", port = 7460 } (port 0: any free port), false for none. Its token is in dashboard-token; a non-loopback host needs allowRemote = true.',
  repair:
    'Repair worker (docs/group-backup.md): interval, grace, settle, rate ("off": no cap), concurrency, maxTasks, auditPerRound; any subset.',
  emptyFraction:
    "Refuse a backup (and alert) when the directories hold fewer than this fraction of the newest snapshot's files or bytes (0 to 1).",
  upload:
    'Cap on everything this member uploads to the others, backups and repairs together: a rate like "2MB/s" or "500KiB/s", or "off". `pb-node pause` stops uploads for a while.',
  uploadWindows:
    'Other caps at some hours of the local day, the first match wins: [{ hours = "22:00-07:00", upload = "10MB/s" }] ("off" inside: no cap).',
};

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** A value as TOML (inline tables and arrays, on one line); null members of tables are left out. */
export function tomlValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value).replace(/\u007f/g, '\\u007F');
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} to the config`);
    return String(value);
  }
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(tomlValue).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const parts = Object.entries(value)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `${BARE_KEY.test(k) ? k : JSON.stringify(k)} = ${tomlValue(v)}`);
    return parts.length === 0 ? '{}' : `{ ${parts.join(', ')} }`;
  }
  throw new Error(`cannot write ${String(value)} to the config`);
}

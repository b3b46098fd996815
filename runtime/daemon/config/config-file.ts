/**
 * The config file's text (docs/config.md): TOML, read with smol-toml, checked key by key with the
 * line of every problem. Files of the first format (`key = JSON value` per line, sizes in bytes and
 * durations in milliseconds) are still read, line by line with a later line overriding an earlier
 * one, and `pb-node config upgrade` rewrites them as TOML.
 */
import { isAbsolute } from 'node:path';
import { parse as parseToml, TomlDate, TomlError } from 'smol-toml';
import { excludeMatcher } from '../../../engine/index.ts';
import { parseAlertConfig, parseMailConfig } from '../alerts/config.ts';
import { scheduleIntervalMs } from '../backup/schedule.ts';
import { parseRepairConfig } from '../shards/repair-config.ts';
import { parseDuration } from '../units.ts';
import { parseUploadConfig } from '../upload/upload-config.ts';
import { COMMENTS, fromHuman, HUMAN_KEYS, humanName, toHuman, tomlValue } from './config-keys.ts';

/** The version of the TOML format; the first format (JSON values) had none. */
export const CONFIG_FORMAT_VERSION = 2;
/** Bound on the config file's size: it is a page of settings. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ConfigProblem {
  /** 1-based line of the key at fault; 0 when the whole file is at fault. */
  line: number;
  message: string;
}

export interface ConfigReading<T> {
  config: T | null;
  problems: ConfigProblem[];
  format: 'toml' | 'json-lines';
}

type Table = Record<string, unknown>;

/** TOML values as plain objects; a date (TOML has them, the config has none) is refused. */
function plain(value: unknown, key: string): unknown {
  if (value instanceof TomlDate) throw new Error(`${key}: dates are not a setting here`);
  if (Array.isArray(value)) return value.map((v) => plain(v, key));
  if (value !== null && typeof value === 'object') {
    const out: Table = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v, `${key}.${k}`);
    return out;
  }
  return value;
}

interface RawFile {
  table: Map<string, unknown>;
  lineOf: Map<string, number>;
  format: 'toml' | 'json-lines';
}

const keyLine = (line: string): string | null => {
  const m = /^\s*(?:\[\s*)?([A-Za-z0-9_-]+|"[^"]*")\s*[=.\]]/.exec(line);
  return m ? m[1]!.replace(/^"|"$/g, '') : null;
};

function readToml(text: string): RawFile {
  const parsed = parseToml(text);
  const table = new Map<string, unknown>(Object.entries(parsed));
  const lineOf = new Map<string, number>();
  text.split('\n').forEach((line, i) => {
    const key = keyLine(line);
    if (key !== null && table.has(key) && !lineOf.has(key)) lineOf.set(key, i + 1);
  });
  return { table, lineOf, format: 'toml' };
}

/** The first format: `key = JSON value` per line (a TOML value is taken too); later lines win. */
function readJsonLines(text: string): { file: RawFile; problems: ConfigProblem[] } {
  const table = new Map<string, unknown>();
  const lineOf = new Map<string, number>();
  const problems: ConfigProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) {
      problems.push({ line: i + 1, message: 'expected `key = value`' });
      continue;
    }
    const key = line.slice(0, eq).trim();
    const value = lineValue(line.slice(eq + 1).trim());
    if ('error' in value) {
      problems.push({ line: i + 1, message: `${key}: not a JSON or TOML value (${value.error})` });
      continue;
    }
    table.set(key, value.ok);
    lineOf.set(key, i + 1);
  }
  return { file: { table, lineOf, format: 'json-lines' }, problems };
}

function lineValue(text: string): { ok: unknown } | { error: string } {
  try {
    return { ok: JSON.parse(text) };
  } catch (jsonError) {
    try {
      return { ok: parseToml(`v = ${text}`).v };
    } catch {
      return { error: (jsonError as Error).message };
    }
  }
}

/** The first format has values TOML refuses (null, "key": value); such a file is read line by line. */
const looksLikeJsonLines = (text: string): boolean =>
  text.split('\n').some((l) => /^\s*[A-Za-z0-9_]+\s*=\s*(null\b|\{\s*"|\[\s*\{\s*")/.test(l));

function readRaw(text: string): { file: RawFile | null; problems: ConfigProblem[] } {
  try {
    return { file: readToml(text), problems: [] };
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const lines = readJsonLines(text);
    if (lines.problems.length === 0) return lines;
    if (looksLikeJsonLines(text)) return { file: null, problems: lines.problems };
    const first = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    return { file: null, problems: [{ line: error.line, message: `not TOML: ${first}` }] };
  }
}

/** Human keys of one table turned into the program's keys (`grace = "24h"` -> graceMs). */
function fromHumanTable(tableName: string, value: unknown, prefix: string): unknown {
  const humans = HUMAN_KEYS[tableName] ?? {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Table = {};
  for (const [k, v] of Object.entries(value as Table)) {
    const h = humans[k];
    if (h === undefined) {
      out[k] = v;
      continue;
    }
    if (Object.hasOwn(value, h.internal))
      throw new Error(`${prefix}${k} and ${prefix}${h.internal}: give one`);
    out[h.internal] = fromHuman(`${prefix}${k}`, v, h);
  }
  return out;
}

type Check = (value: unknown, all: Table) => unknown;

const strings =
  (key: string): Check =>
  (v) => {
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
      throw new Error(`${key} must be a list of strings`);
    return v;
  };

const CHECKS: Record<string, Check> = {
  name: (v) => {
    if (typeof v !== 'string' || v.length < 1 || v.length > 64)
      throw new Error('name must be 1 to 64 characters');
    return v;
  },
  listen: strings('listen'),
  announce: strings('announce'),
  relays: strings('relays'),
  directories: (v) => {
    strings('directories')(v, {});
    if ((v as string[]).some((d) => !isAbsolute(d))) throw new Error('directories must be absolute paths');
    return v;
  },
  exclude: (v) => {
    strings('exclude')(v, {});
    excludeMatcher(v as string[]); // throws naming the bad pattern
    return v;
  },
  relayServer: (v) => bool('relayServer', v),
  webrtc: (v) => bool('webrtc', v),
  iceServers: (v) => {
    if (!Array.isArray(v)) throw new Error('iceServers must be a list');
    return v;
  },
  webrtcBindAddress: (v) => {
    if (v === null || v === '') return null;
    if (typeof v !== 'string') throw new Error('webrtcBindAddress must be an address, or "" for all');
    return v;
  },
  pledgeBytes: (v) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      throw new Error('pledgeBytes must be a whole number >= 0');
    return v;
  },
  reserveDir: (v) => {
    if (typeof v !== 'string' || v === '') throw new Error('reserveDir must be a directory');
    return v;
  },
  mail: (v) => parseMailConfig(v),
  alerts: (v) => parseAlertConfig(v),
  schedule: (v) => {
    // A duration ("6h") is taken too, as minutes.
    if (typeof v === 'string' && /[a-z]$/.test(v.trim()) && !['hourly', 'daily', 'off'].includes(v))
      v = parseDuration(v, 'schedule') / 60_000;
    scheduleIntervalMs(v);
    return v;
  },
  watchDebounceMs: (v) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > 24 * 3600_000)
      throw new Error('watchDebounceMs must be 0 (off) to 86400000 (watchDebounce: "0s" to "24h")');
    return v;
  },
  syncIntervalMs: (v) => {
    if (!Number.isSafeInteger(v) || (v as number) < 100)
      throw new Error('syncIntervalMs must be >= 100 (syncInterval: at least "100ms")');
    return v;
  },
  dashboard: (v) => {
    if (v === null || v === false) return null;
    const d = v as { host?: unknown; port?: unknown; allowRemote?: unknown };
    if (typeof d !== 'object' || typeof d.host !== 'string' || d.host.length === 0)
      throw new Error('dashboard must be false or { host = "127.0.0.1", port = 7460 }');
    if (!Number.isInteger(d.port) || (d.port as number) < 0 || (d.port as number) > 65535)
      throw new Error('dashboard.port must be 0 to 65535');
    if (d.allowRemote !== undefined && typeof d.allowRemote !== 'boolean')
      throw new Error('dashboard.allowRemote must be true or false');
    return v;
  },
  repair: (v) => parseRepairConfig(v),
  emptyFraction: (v) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1))
      throw new Error('emptyFraction must be a number from 0 to 1');
    return v;
  },
  upload: (v, all) => {
    parseUploadConfig(v, all.uploadWindows ?? []);
    return v;
  },
  uploadWindows: (v) => {
    parseUploadConfig('off', v);
    return v;
  },
};

function bool(key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new Error(`${key} must be true or false`);
  return v;
}

/** Reads a config file's text against its defaults; every problem with its line. */
export function readConfigText<T extends object>(text: string, defaults: T): ConfigReading<T> {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES)
    return {
      config: null,
      problems: [{ line: 0, message: `larger than ${MAX_CONFIG_BYTES} bytes` }],
      format: 'toml',
    };
  const raw = readRaw(text);
  if (raw.file === null) return { config: null, problems: raw.problems, format: 'toml' };
  const { table, lineOf, format } = raw.file;
  const problems: ConfigProblem[] = [];
  const given: Table = {};
  const lineFor = new Map<string, number>();
  for (const [key, value] of table) {
    const line = lineOf.get(key) ?? 0;
    try {
      if (key === 'version') {
        if (value !== CONFIG_FORMAT_VERSION)
          throw new Error(
            `version ${JSON.stringify(value)} is not one this pb-node reads (${CONFIG_FORMAT_VERSION})`,
          );
        continue;
      }
      const h = HUMAN_KEYS['']![key];
      const internal = h?.internal ?? key;
      if (!Object.hasOwn(defaults, internal) || !Object.hasOwn(CHECKS, internal))
        throw new Error(`unknown setting "${key}"`);
      if (Object.hasOwn(given, internal)) throw new Error(`${key} and ${humanName('', internal)}: give one`);
      const v = plain(value, key);
      given[internal] = h === undefined ? fromHumanTable(key, v, `${key}.`) : fromHuman(key, v, h);
      lineFor.set(internal, line);
    } catch (error) {
      problems.push({ line, message: (error as Error).message });
    }
  }
  const out: Table = { ...defaults, ...given };
  for (const key of Object.keys(given)) {
    try {
      out[key] = CHECKS[key]!(out[key], out);
    } catch (error) {
      problems.push({ line: lineFor.get(key) ?? 0, message: (error as Error).message });
    }
  }
  problems.sort((a, b) => a.line - b.line);
  return { config: problems.length === 0 ? (out as T) : null, problems, format };
}

/** The config as TOML: every key with its comment, sizes and durations with units. */
export function renderConfigToml(config: object, keys: readonly string[]): string {
  const c = config as Table;
  const lines = [
    '# pb-node configuration (TOML; every key is described in docs/config.md).',
    '# Sizes are decimal (500G = 500 000 000 000 bytes) unless written 512GiB; durations: 500ms, 30s, 10m, 24h, 7d.',
    `version = ${CONFIG_FORMAT_VERSION}`,
    '',
  ];
  for (const key of keys) {
    lines.push(`# ${COMMENTS[key] ?? key}`);
    lines.push(`${humanName('', key)} = ${tomlValue(renderValue(key, c[key]))}`);
    lines.push('');
  }
  return lines.join('\n');
}

function renderValue(key: string, value: unknown): unknown {
  const h = HUMAN_KEYS['']![humanName('', key)];
  if (h !== undefined && typeof value === 'number') return toHuman(value, h);
  if (key === 'dashboard' && value === null) return false;
  if (key === 'webrtcBindAddress' && value === null) return '';
  const humans = HUMAN_KEYS[key];
  if (humans === undefined || value === null || typeof value !== 'object') return value;
  const out: Table = {};
  for (const [k, v] of Object.entries(value)) {
    const name = humanName(key, k);
    out[name] = name !== k && typeof v === 'number' ? toHuman(v, humans[name]!) : v;
  }
  return out;
}

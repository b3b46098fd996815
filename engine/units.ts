/**
 * Sizes and durations for people, one convention for the node, the simulator and the benchmarks
 * (docs/config.md, "Units"):
 *   - sizes are decimal: k, M, G, T, P (and kB, MB, ...) are powers of 1000; the binary units are
 *     accepted only when spelled out (KiB, MiB, GiB, TiB). Printed sizes are decimal too, so
 *     `--pledge 2G` prints "2.00 GB".
 *   - durations are a number and one unit: ms, s, m (minutes), h, d, w, y (365 days).
 * Pure: no I/O, no clock.
 */
import { EngineError, invariant } from './errors.ts';

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  p: 1e15,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** Longer texts are refused before any regular expression sees them. */
const MAX_UNIT_TEXT_CHARS = 64;

const prefix = (what: string | undefined): string => (what === undefined ? '' : `${what}: `);

/** "500G", "1.5TiB", "800MB", "1048576" -> whole bytes. */
export function parseSize(text: string, what?: string): number {
  const m = text.length <= MAX_UNIT_TEXT_CHARS ? /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text) : null;
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new EngineError(
      'invalid-argument',
      `${prefix(what)}"${text}" is not a size (examples: 500G, 1.5T, 800MB, 64MiB, 1048576)`,
    );
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes))
    throw new EngineError('invalid-argument', `${prefix(what)}"${text}" is too large`);
  return bytes;
}

/** "24h", "30m", "7d", "500ms" -> whole milliseconds. */
export function parseDuration(text: string, what?: string): number {
  const m =
    text.length <= MAX_UNIT_TEXT_CHARS ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)\s*$/.exec(text) : null;
  if (!m) {
    throw new EngineError(
      'invalid-argument',
      `${prefix(what)}"${text}" is not a duration (examples: 24h, 30m, 7d, 90s, 500ms)`,
    );
  }
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
  if (!Number.isSafeInteger(ms))
    throw new EngineError('invalid-argument', `${prefix(what)}"${text}" is too long`);
  return ms;
}

const SIZE_STEPS: readonly (readonly [number, string])[] = [
  [1e15, 'PB'],
  [1e12, 'TB'],
  [1e9, 'GB'],
  [1e6, 'MB'],
  [1e3, 'kB'],
];

/** Bytes for people, decimal, three significant digits: "1.50 TB", "320 GB", "12.0 MB", "999 B". */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const abs = Math.abs(bytes);
  for (const [size, name] of SIZE_STEPS) {
    if (abs >= size) {
      const v = bytes / size;
      const a = Math.abs(v);
      return `${a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)} ${name}`;
    }
  }
  return `${Number.isInteger(bytes) ? bytes : bytes.toFixed(1)} B`;
}

/** A rough span for people: "45 s", "12 min", "5 h", "3 days". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h`;
  return `${Math.round(h / 24)} days`;
}

/**
 * A size as a setting, exact and readable back by `parseSize`: the largest unit that divides it
 * ("500G", "64MiB", "1234").
 */
export function sizeSetting(bytes: number): string {
  invariant(Number.isSafeInteger(bytes) && bytes >= 0, `sizeSetting of ${bytes}`);
  if (bytes === 0) return '0';
  const units: readonly (readonly [number, string])[] = [
    [1e15, 'P'],
    [2 ** 40, 'TiB'],
    [1e12, 'T'],
    [2 ** 30, 'GiB'],
    [1e9, 'G'],
    [2 ** 20, 'MiB'],
    [1e6, 'M'],
    [2 ** 10, 'KiB'],
    [1e3, 'k'],
  ];
  for (const [size, name] of units) if (bytes % size === 0) return `${bytes / size}${name}`;
  return String(bytes);
}

/** A duration as a setting, exact and readable back by `parseDuration`: "24h", "3d", "30s", "1500ms". */
export function durationSetting(ms: number): string {
  invariant(Number.isSafeInteger(ms) && ms >= 0, `durationSetting of ${ms}`);
  if (ms === 0) return '0s';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!;
    if (unit === 'd' && ms < 2 * size) continue; // "24h" reads better than "1d
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Parsing and printing of the CLI's sizes, rates, durations and fractions (decimal SI units). */

export class SimConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimConfigError';
  }
}

const SIZE_UNITS: Record<string, number> = {
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

/** "10T", "500G", "1.5TB", "64MiB", "1000" -> bytes (whole). */
export function parseBytes(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new SimConfigError(`${what}: "${text}" is not a size (examples: 10T, 500G, 64MiB, 1000)`);
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new SimConfigError(`${what}: "${text}" is too large`);
  return bytes;
}

/** "20M" (bits per second) -> bytes per second. */
export function parseBitRate(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:bit|b|bps|bit\/s)?\s*$/.exec(text);
  if (!m) throw new SimConfigError(`${what}: "${text}" is not a bit rate (examples: 20M, 1G, 500k)`);
  const unit = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 }[m[2]!.toLowerCase()]!;
  const bytesPerSecond = (Number(m[1]) * unit) / 8;
  if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
    throw new SimConfigError(`${what}: "${text}" must be a rate above 0`);
  }
  return bytesPerSecond;
}

/** "24h", "3d", "90m", "30s" -> milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|y)\s*$/.exec(text);
  if (!m) throw new SimConfigError(`${what}: "${text}" is not a duration (examples: 24h, 3d, 90m)`);
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, y: 365 * 86400e3 }[m[2]!]!;
  return Number(m[1]) * unit;
}

/** "90%" or "0.9" -> 0.9. */
export function parseFraction(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text);
  if (!m) throw new SimConfigError(`${what}: "${text}" is not a fraction (examples: 0.9, 90%)`);
  return Number(m[1]) / (m[2] === '%' ? 100 : 1);
}

export function parseNumber(text: string, what: string, min: number, max: number, integer = false): number {
  const x = Number(text);
  if (text.trim() === '' || !Number.isFinite(x) || x < min || x > max || (integer && !Number.isInteger(x))) {
    throw new SimConfigError(
      `${what}: "${text}" must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`,
    );
  }
  return x;
}

/** Bytes for people: 1.5 TB, 320 GB, 12 MB (decimal). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const abs = Math.abs(bytes);
  const units: [number, string][] = [
    [1e15, 'PB'],
    [1e12, 'TB'],
    [1e9, 'GB'],
    [1e6, 'MB'],
    [1e3, 'kB'],
  ];
  for (const [size, name] of units) {
    if (abs >= size) {
      const v = bytes / size;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${name}`;
    }
  }
  return `${bytes} B`;
}

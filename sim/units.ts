/** Parsing and printing of the CLI's sizes, rates, durations and fractions (decimal SI units). */
import { formatSize, parseDuration as parseDurationMs, parseSize } from '../engine/index.ts';

export class SimConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimConfigError';
  }
}

/** "10T", "500G", "1.5TB", "64MiB", "1000" -> bytes (whole); the node's convention (engine/units.ts). */
export function parseBytes(text: string, what: string): number {
  return asSimError(() => parseSize(text, what));
}

function asSimError<T>(f: () => T): T {
  try {
    return f();
  } catch (error) {
    throw new SimConfigError((error as Error).message);
  }
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
  return asSimError(() => parseDurationMs(text, what));
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

/** Bytes for people: 1.50 TB, 320 GB, 12.0 MB (decimal, as everywhere: engine/units.ts). */
export const formatBytes = formatSize;

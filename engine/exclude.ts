/**
 * Exclude patterns of a backup (docs/config.md, "Excludes"): which paths a scan leaves out.
 *
 * A pattern is one of pb's globs (path-glob.ts: `*`, `?`, `[set]`, `**`, `\x`) matched against
 * an entry's absolute path (its bytes read as UTF-8): `/srv/photos/raw` leaves out exactly that
 * path, `*.tmp` and `node_modules` every entry so named, `build/out` every `out` whose parent is
 * a `build`; a trailing `/` matches directories only (`cache/`). A matching directory is left out
 * whole (the scan does not walk into it). A pattern that would leave out everything is refused.
 */
import { GlobError, globRegex, MAX_GLOB_CHARS } from './path-glob.ts';

export const MAX_EXCLUDE_PATTERN_CHARS = MAX_GLOB_CHARS;

export const MAX_EXCLUDE_PATTERNS = 1000;

export class ExcludePatternError extends Error {
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(`exclude pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'ExcludePatternError';
  }
}

interface CompiledPattern {
  regex: RegExp;
  dirOnly: boolean;
}

export interface ExcludeMatcher {
  readonly patterns: readonly string[];
  /** Whether the entry at the absolute `path` is left out. */
  matches(path: string, isDirectory: boolean): boolean;
}

export function compilePattern(pattern: string): CompiledPattern {
  const glob = typeof pattern === 'string' ? pattern.replace(/\/+$/, '') : '';
  if (typeof pattern === 'string' && pattern.length > 0 && glob === '')
    throw new ExcludePatternError(pattern, 'would leave out everything');
  try {
    return globRegex(pattern);
  } catch (error) {
    if (error instanceof GlobError) throw new ExcludePatternError(error.pattern, error.reason);
    throw error;
  }
}

/** The matcher for `patterns`; throws ExcludePatternError naming the first bad pattern. */
export function excludeMatcher(patterns: readonly string[]): ExcludeMatcher {
  if (patterns.length > MAX_EXCLUDE_PATTERNS)
    throw new ExcludePatternError(
      String(patterns[0]),
      `${patterns.length} patterns, over ${MAX_EXCLUDE_PATTERNS}`,
    );
  const compiled = patterns.map(compilePattern);
  return {
    patterns: [...patterns],
    matches(path, isDirectory) {
      for (const c of compiled) if ((!c.dirOnly || isDirectory) && c.regex.test(path)) return true;
      return false;
    },
  };
}

/** The standard CACHEDIR.TAG signature (the first 43 bytes of a tag file). */
export const CACHEDIR_TAG_NAME = 'CACHEDIR.TAG';
export const CACHEDIR_TAG_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

/** Whether `head` (the first bytes of a CACHEDIR.TAG file) starts with the signature. */
export function isCacheDirTag(head: Uint8Array): boolean {
  if (head.length < CACHEDIR_TAG_SIGNATURE.length) return false;
  for (let i = 0; i < CACHEDIR_TAG_SIGNATURE.length; i++)
    if (head[i] !== CACHEDIR_TAG_SIGNATURE.charCodeAt(i)) return false;
  return true;
}

/** The first of `directories` that holds `path` (or is it); both absolute and normalized. */
export function containingDirectory(path: string, directories: readonly string[]): string | null {
  for (const d of directories) {
    const base = d.endsWith('/') ? d : `${d}/`;
    if (path === d || path.startsWith(base)) return d;
  }
  return null;
}

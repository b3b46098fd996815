/**
 * Exclude patterns of a backup (docs/config.md, "Excludes"): which paths a scan leaves out.
 *
 * A pattern is a glob matched against an entry's absolute path (its bytes read as UTF-8):
 * - `*` matches any run of characters within one path component, `?` one character,
 *   `[abc]`, `[a-z]`, `[!abc]` one character of (or not of) a set; `\x` is `x` itself;
 * - `**` matches any run of whole components (also none): `/home/*\/.cache/**` or `**\/tmp`;
 * - a pattern starting with `/` is anchored at the root: `/srv/photos/raw` leaves out exactly that
 *   path (and so everything below it); any other pattern may match the end of the path at any
 *   depth: `*.tmp` and `node_modules` leave out every entry so named, `build/out` every `out`
 *   whose parent is a `build`;
 * - a trailing `/` matches directories only (`cache/`).
 * A matching directory is left out whole (the scan does not walk into it).
 */

export const MAX_EXCLUDE_PATTERNS = 1000;
export const MAX_EXCLUDE_PATTERN_CHARS = 4096;

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

const SPECIAL = /[.*+?^${}()|[\]\\/-]/;

function escapeChar(c: string): string {
  return SPECIAL.test(c) ? `\\${c}` : c;
}

/** The character class starting at pattern[i] === '['; returns its regex and the index after it. */
function charClass(pattern: string, i: number): { re: string; next: number } {
  let j = i + 1;
  let negate = false;
  if (pattern[j] === '!' || pattern[j] === '^') {
    negate = true;
    j++;
  }
  let body = '';
  let first = true;
  while (j < pattern.length && (pattern[j] !== ']' || first)) {
    const c = pattern[j]!;
    if (c === '/') throw new ExcludePatternError(pattern, 'a [set] cannot hold "/"');
    if (c === '\\' && j + 1 < pattern.length) {
      body += escapeChar(pattern[j + 1]!);
      j += 2;
    } else {
      body += c === '-' ? '-' : escapeChar(c);
      j++;
    }
    first = false;
  }
  if (j >= pattern.length) throw new ExcludePatternError(pattern, 'a "[" has no closing "]"');
  return { re: negate ? `[^/${body}]` : `[${body}]`, next: j + 1 };
}

function globBody(pattern: string, glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; ) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const atStart = i === 0 || glob[i - 1] === '/';
      const atEnd = i + 2 === glob.length || glob[i + 2] === '/';
      if (!atStart || !atEnd) throw new ExcludePatternError(pattern, '"**" must be a whole path component');
      if (i + 2 === glob.length) {
        re += '.*';
        i += 2;
      } else {
        re += '(?:[^/]*/)*';
        i += 3;
      }
    } else if (c === '*') {
      re += '[^/]*';
      i++;
    } else if (c === '?') {
      re += '[^/]';
      i++;
    } else if (c === '[') {
      const cls = charClass(glob, i);
      re += cls.re;
      i = cls.next;
    } else if (c === '\\') {
      if (i + 1 >= glob.length) throw new ExcludePatternError(pattern, 'ends with a lone "\\"');
      re += escapeChar(glob[i + 1]!);
      i += 2;
    } else {
      re += escapeChar(c);
      i++;
    }
  }
  return re;
}

export function compilePattern(pattern: string): CompiledPattern {
  if (typeof pattern !== 'string' || pattern.length === 0)
    throw new ExcludePatternError(String(pattern), 'is empty');
  if (pattern.length > MAX_EXCLUDE_PATTERN_CHARS)
    throw new ExcludePatternError(pattern.slice(0, 40), `is over ${MAX_EXCLUDE_PATTERN_CHARS} characters`);
  if (pattern.includes('\0')) throw new ExcludePatternError(pattern, 'holds a NUL character');
  const dirOnly = pattern.length > 1 && pattern.endsWith('/');
  const glob = dirOnly ? pattern.replace(/\/+$/, '') : pattern;
  if (glob === '/' || glob === '') throw new ExcludePatternError(pattern, 'would leave out everything');
  const anchored = glob.startsWith('/');
  const body = globBody(pattern, anchored ? glob.slice(1) : glob);
  const regex = new RegExp(anchored ? `^/${body}$` : `^(?:.*/)?${body}$`, 's');
  return { regex, dirOnly };
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

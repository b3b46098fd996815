/**
 * The one glob grammar of pb (docs/config.md "Excludes", docs/group-backup.md "Browse and
 * restore"): backup excludes, `pb-node find` and `restore --include/--exclude` all read patterns
 * here. Pure. A pattern is matched against an absolute path:
 *
 *   *      any run of characters within one path component (not `/`)
 *   ?      one character within a component
 *   [abc] [a-z] [!a]   one character of (or not of) the set (never `/`)
 *   **     any run of whole components, also none (`a/**`, `**\/tmp`, `/home/**\/x`)
 *   \x     the character x itself
 *
 * A pattern starting with `/` is anchored at the root; any other may match the end of the path at
 * any depth (`*.txt` any file so named, `docs/*.md` a `.md` whose parent is a `docs`). A trailing
 * `/` marks a directory-only pattern (`dirOnly`: excludes honour it; a browse filter over paths
 * that include directories ignores it).
 */

/** Bound on a pattern's length (a glob is typed by a person). */
export const MAX_GLOB_CHARS = 4096;

export class GlobError extends Error {
  constructor(
    readonly pattern: string,
    readonly reason: string,
  ) {
    super(`bad glob ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'GlobError';
  }
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
    if (c === '/') throw new GlobError(pattern, 'a [set] cannot hold "/"');
    if (c === '\\' && j + 1 < pattern.length) {
      body += escapeChar(pattern[j + 1]!);
      j += 2;
    } else {
      body += c === '-' ? '-' : escapeChar(c);
      j++;
    }
    first = false;
  }
  if (j >= pattern.length) throw new GlobError(pattern, 'a "[" has no closing "]"');
  return { re: negate ? `[^/${body}]` : `[${body}]`, next: j + 1 };
}

function globBody(pattern: string, glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; ) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const atStart = i === 0 || glob[i - 1] === '/';
      const atEnd = i + 2 === glob.length || glob[i + 2] === '/';
      if (!atStart || !atEnd) throw new GlobError(pattern, '"**" must be a whole path component');
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
      if (i + 1 >= glob.length) throw new GlobError(pattern, 'ends with a lone "\\"');
      re += escapeChar(glob[i + 1]!);
      i += 2;
    } else {
      re += escapeChar(c);
      i++;
    }
  }
  return re;
}

/** A pattern's regular expression over absolute paths, and whether it names directories only. */
export function globRegex(pattern: string): { regex: RegExp; dirOnly: boolean } {
  if (typeof pattern !== 'string' || pattern.length === 0) throw new GlobError(String(pattern), 'is empty');
  if (pattern.length > MAX_GLOB_CHARS)
    throw new GlobError(pattern.slice(0, 40), `is over ${MAX_GLOB_CHARS} characters`);
  if (pattern.includes('\0')) throw new GlobError(pattern, 'holds a NUL character');
  const dirOnly = pattern.length > 1 && pattern.endsWith('/');
  const glob = dirOnly ? pattern.replace(/\/+$/, '') : pattern;
  if (glob === '') throw new GlobError(pattern, 'is empty');
  if (glob === '/') return { regex: /^\/$/s, dirOnly };
  const anchored = glob.startsWith('/');
  const body = globBody(pattern, anchored ? glob.slice(1) : glob);
  return { regex: new RegExp(anchored ? `^/${body}$` : `^(?:.*/)?${body}$`, 's'), dirOnly };
}

/** A matcher for absolute paths ("/a/b/c") that include directories; throws GlobError. */
export function compileGlob(pattern: string): (path: string) => boolean {
  const { regex } = globRegex(pattern);
  return (path) => regex.test(path);
}

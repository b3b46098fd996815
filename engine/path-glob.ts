/**
 * Path globs for browsing and restoring (`pb-node find`, `restore --include/--exclude`), pure.
 *
 *   *     any characters within one path segment (not `/`)
 *   **    any characters across segments (`a/**` matches everything below a; `**` alone all)
 *   ?     one character within a segment
 *   [abc] [a-z] [!a]   one character of (or not of) the set
 *
 * A pattern with no `/` matches the last segment (the file name) at any depth: `*.txt` matches
 * `/home/ann/notes.txt`. A pattern with a `/` matches the whole absolute path; a relative one
 * (no leading `/`) may start at any segment (`docs/*.md` matches `/home/ann/docs/a.md`).
 */

/** Bound on a pattern's length (a glob is typed by a person). */
export const MAX_GLOB_CHARS = 4096;

export class GlobError extends Error {
  constructor(pattern: string, reason: string) {
    super(`bad glob ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'GlobError';
  }
}

const escapeRe = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

function classToRe(pattern: string, start: number): { re: string; end: number } {
  let i = start + 1;
  let negate = false;
  if (pattern[i] === '!' || pattern[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  const first = i;
  while (i < pattern.length && (pattern[i] !== ']' || i === first)) {
    const c = pattern[i]!;
    body += c === '\\' || c === '^' || c === '[' ? `\\${c}` : c;
    i++;
  }
  if (i >= pattern.length) throw new GlobError(pattern, `unclosed [ at ${start}`);
  return { re: negate ? `[^/${body}]` : `[${body}]`, end: i };
}

function bodyToRe(pattern: string): string {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        const slashAfter = pattern[i + 2] === '/';
        const atSegmentStart = i === 0 || pattern[i - 1] === '/';
        i += 1;
        if (atSegmentStart && slashAfter) {
          re += '(?:.*/)?'; // "**/" : zero or more whole segments
          i += 1;
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const cls = classToRe(pattern, i);
      re += cls.re;
      i = cls.end;
    } else re += escapeRe(c);
  }
  return re;
}

/** A matcher for absolute paths ("/a/b/c"); throws GlobError on a malformed pattern. */
export function compileGlob(pattern: string): (path: string) => boolean {
  if (pattern.length === 0) throw new GlobError(pattern, 'empty');
  if (pattern.length > MAX_GLOB_CHARS) throw new GlobError(pattern.slice(0, 40), 'too long');
  const trimmed = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
  let source: string;
  if (!trimmed.includes('/')) source = `(?:^|/)${bodyToRe(trimmed)}$`;
  else if (trimmed.startsWith('/')) source = `^${bodyToRe(trimmed)}$`;
  else source = `(?:^|/)${bodyToRe(trimmed)}$`;
  const re = new RegExp(source, 's');
  return (path) => re.test(path);
}

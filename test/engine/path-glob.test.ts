/** pb's one glob grammar (engine/path-glob.ts): `find`, `restore --include/--exclude` and backup excludes. */
import { describe, expect, it } from 'vitest';
import { compileGlob, GlobError } from '../../engine/path-glob.ts';

const cases: [string, string, boolean][] = [
  ['*.txt', '/home/ann/notes.txt', true],
  ['*.txt', '/home/ann/notes.txt.bak', false],
  ['*.txt', '/notes.txt', true],
  ['notes.???', '/a/notes.txt', true],
  ['notes.???', '/a/notes.text', false],
  ['/home/*/notes.txt', '/home/ann/notes.txt', true],
  ['/home/*', '/home/ann/notes.txt', false],
  ['/home/**', '/home/ann/deep/notes.txt', true],
  ['/home/**/notes.txt', '/home/notes.txt', true],
  ['/home/**/notes.txt', '/home/a/b/notes.txt', true],
  ['docs/*.md', '/home/ann/docs/a.md', true],
  ['docs/*.md', '/home/ann/mydocs/a.md', false],
  ['docs/*.md', '/home/ann/docs/sub/a.md', false],
  ['**/cache/**', '/home/ann/.cache/x', false],
  ['**/cache/**', '/home/ann/cache/x/y', true],
  ['[!.]*', '/home/.hidden', false],
  ['[!.]*', '/home/visible', true],
  ['file[0-9].log', '/var/file7.log', true],
  ['file[0-9].log', '/var/fileX.log', false],
  ['a+b(c).txt', '/x/a+b(c).txt', true],
  ['a.b', '/x/aXb', false],
  ['/home/ann/', '/home/ann', true],
  ['\\*lit', '/d/*lit', true],
  ['\\*lit', '/d/xlit', false],
];

describe('path globs', () => {
  it.each(cases)('%s against %s: %s', (pattern, path, expected) => {
    expect(compileGlob(pattern)(path)).toBe(expected);
  });

  it('refuses malformed patterns with the pattern named', () => {
    expect(() => compileGlob('')).toThrow(GlobError);
    expect(() => compileGlob('file[0-9')).toThrow(/bad glob "file\[0-9": a "\[" has no closing "\]"/);
    expect(() => compileGlob('x'.repeat(5000))).toThrow(/is over 4096 characters/);
    expect(() => compileGlob('a**b')).toThrow(/"\*\*" must be a whole path component/);
    expect(() => compileGlob('x\\')).toThrow(/ends with a lone/);
  });
});

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CONFIG,
  initDataDir,
  loadConfig,
  parseConfig,
  readSecret,
  renderConfig,
} from '../../../runtime/daemon/config/config.ts';
import { resolveWho } from '../../../runtime/daemon/control/member-methods.ts';
import { decodeInviteCode, encodeInviteCode } from '../../../runtime/daemon/group/invite-code.ts';
import { secretToWords, wordsToSecret } from '../../../runtime/daemon/recovery/secret-words.ts';
import { parseDuration, parseSize } from '../../../runtime/daemon/units.ts';

describe('recovery secret words', () => {
  it('round-trip, and a changed word is caught by the checksum', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(16), (secret, i) => {
        const words = secretToWords(secret);
        expect(Buffer.from(wordsToSecret(words)).equals(Buffer.from(secret))).toBe(true);
        const list = words.split('-');
        list[i] = list[i] === 'babab' ? 'babad' : 'babab';
        expect(() => wordsToSecret(list.join('-'))).toThrow();
      }),
    );
  });
});

describe('config and data directory', () => {
  it('init writes a 0700 directory, a 0600 secret and a commented config that parses back', () => {
    const root = fs.mkdtempSync(join(tmpdir(), 'pb-init-'));
    const dir = join(root, 'd');
    const r = initDataDir(dir, 'laptop', { pledgeBytes: 1000 });
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(join(dir, 'secret')).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(join(dir, 'config'), 'utf8')).toMatch(/^# /m);
    expect(loadConfig(dir)).toMatchObject({ name: 'laptop', pledgeBytes: 1000 });
    expect(Buffer.from(wordsToSecret(r.words)).equals(Buffer.from(readSecret(dir)))).toBe(true);
    expect(() => initDataDir(dir, 'again')).toThrow(/refusing to overwrite/);
    expect(() => loadConfig(join(root, 'none'))).toThrow(/pb-node init/);
    fs.rmSync(root, { recursive: true });
  });

  it('refuses unknown keys and bad values with the line', () => {
    expect(() => parseConfig('nme = "x"', 'c')).toThrow(/c:1: unknown setting "nme"/);
    expect(() => parseConfig('pledgeBytes = -1', 'c')).toThrow(/pledgeBytes/);
    expect(() => parseConfig('name = [', 'c')).toThrow(/^c:1: not TOML/);
    expect(parseConfig(renderConfig(DEFAULT_CONFIG), 'c')).toEqual(DEFAULT_CONFIG);
  });
});

describe('invite codes', () => {
  const invite = {
    inviter: '12D3KooWQmKqDsh5L6eP9UEqqZXzW1SWudHNrFPvGKXSRApXaaYG',
    addresses: ['/ip4/127.0.0.1/tcp/4001'],
    token: new Uint8Array(randomBytes(32)),
    expiresAtMs: 2_000_000_000_000,
  };
  it('round-trip; expired, malformed and damaged codes get friendly errors', () => {
    const code = encodeInviteCode(invite);
    expect(decodeInviteCode(code, 0)).toEqual(invite);
    expect(() => decodeInviteCode(code, invite.expiresAtMs)).toThrow(/expired/);
    expect(() => decodeInviteCode('hello', 0)).toThrow(/not a pb invite code/);
    expect(() => decodeInviteCode(code.slice(0, 30), 0)).toThrow(/damaged/);
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        try {
          decodeInviteCode(`pb1${s}`, 0);
        } catch (e) {
          expect((e as Error).name).toBe('InviteCodeError');
        }
      }),
    );
  });
});

describe('names and units', () => {
  const list = [
    { id: '12D3KooWAAAAAAAA1', name: 'laptop' },
    { id: '12D3KooWBBBBBBBB2', name: 'Laptop' },
    { id: '12D3KooWCCCCCCCC3', name: 'nas' },
  ];
  it('resolves names and ids; ambiguity and unknown names are friendly errors', () => {
    expect(resolveWho('nas', list).id).toBe('12D3KooWCCCCCCCC3');
    expect(resolveWho('12D3KooWBBBBBBBB2', list).name).toBe('Laptop');
    expect(() => resolveWho('laptop', list)).toThrow(/ambiguous.*use the id/);
    expect(() => resolveWho('desk', list)).toThrow(/nobody called "desk"/);
  });
  it('parses sizes and durations', () => {
    expect(parseSize('500G')).toBe(500e9);
    expect(parseSize('1.5TiB')).toBe(1.5 * 1024 ** 4);
    expect(parseSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(() => parseSize('lots')).toThrow(/not a size/);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(() => parseDuration('soon')).toThrow(/not a duration/);
  });
});

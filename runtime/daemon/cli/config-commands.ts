/**
 * `pb-node config check|upgrade|show`: what is wrong with the config file, line by line; the
 * first format (`key = JSON value`) rewritten as TOML; the settings in effect.
 */
import * as fs from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../store/atomic-file.ts';
import { checkConfig, defaultDataDir, paths, renderConfig } from '../config/config.ts';
import { MAX_CONFIG_BYTES } from '../config/config-file.ts';

interface Io {
  out: (t: string) => void;
  err: (t: string) => void;
}

function readText(file: string, io: Io): string | null {
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_CONFIG_BYTES) {
      io.err(`${file}: larger than ${MAX_CONFIG_BYTES} bytes; not a pb-node config`);
      return null;
    }
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    io.err(`cannot read ${file}: ${(error as Error).message} (run \`pb-node init\` first?)`);
    return null;
  }
}

/** Prints every problem as `file:line: message`; 0 when the file is good. */
export function configCheck(file: string, io: Io): number {
  const text = readText(file, io);
  if (text === null) return 1;
  const r = checkConfig(text);
  for (const p of r.problems) io.err(`${file}${p.line > 0 ? `:${p.line}` : ''}: ${p.message}`);
  if (r.config === null) {
    io.err(`${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} in ${file}`);
    return 1;
  }
  io.out(`${file}: good`);
  if (r.format === 'json-lines')
    io.out('It is in the first format (`key = JSON value`); `pb-node config upgrade` rewrites it as TOML.');
  return 0;
}

/** Rewrites a good config as TOML (the old text kept next to it as config.old). */
export function configUpgrade(file: string, dryRun: boolean, io: Io): number {
  const text = readText(file, io);
  if (text === null) return 1;
  const r = checkConfig(text);
  if (r.config === null) {
    for (const p of r.problems) io.err(`${file}${p.line > 0 ? `:${p.line}` : ''}: ${p.message}`);
    io.err(`not rewritten: fix the problems first (nothing was changed)`);
    return 1;
  }
  const toml = renderConfig(r.config);
  if (dryRun) {
    io.out(toml);
    return 0;
  }
  if (r.format === 'toml' && text === toml) {
    io.out(`${file} is already current TOML; nothing to do`);
    return 0;
  }
  writeFileAtomic(`${file}.old`, Buffer.from(text));
  writeFileAtomic(file, Buffer.from(toml));
  io.out(`Rewrote ${file} as TOML (the previous text is in ${file}.old).`);
  return 0;
}

export function registerConfigCommands(program: Command, io: Io): void {
  const config = program
    .command('config')
    .description('check, upgrade or show the config file (docs/config.md)');
  const fileOf = (o: { dir: string; file?: string }): string => resolve(o.file ?? paths(o.dir).config);
  const withFile = (c: Command): Command =>
    c
      .option('--dir <dir>', 'data directory', defaultDataDir())
      .option('--file <file>', 'a config file elsewhere (default: the one in --dir)');
  withFile(
    config.command('check').description('print what is wrong with the config, with line numbers'),
  ).action((o: { dir: string; file?: string }) => {
    process.exitCode = configCheck(fileOf(o), io);
  });
  withFile(config.command('upgrade').description('rewrite the config as TOML with human units'))
    .option('--dry-run', 'print the new text instead of writing it')
    .action((o: { dir: string; file?: string; dryRun?: boolean }) => {
      process.exitCode = configUpgrade(fileOf(o), o.dryRun === true, io);
    });
  withFile(
    config.command('show').description('print the settings in effect, defaults filled in, as TOML'),
  ).action((o: { dir: string; file?: string }) => {
    const file = fileOf(o);
    const text = readText(file, io);
    const r = text === null ? null : checkConfig(text);
    if (r?.config == null) {
      if (text !== null) configCheck(file, io);
      process.exitCode = 1;
      return;
    }
    io.out(renderConfig(r.config));
  });
}

/**
 * `pnpm bench <name> [args]`: runs bench/<name>.ts, whose `run(args)` prints a table (or JSON with
 * --json) and writes reports/<name>.json and reports/<name>.md.
 */
import '../runtime/polyfill.ts';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface BenchModule {
  run(args: string[]): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'report.ts'].includes(f) && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  console.log(`usage: pnpm bench <name> [--json] [options]\nbenchmarks: ${available.join(', ')}`);
  process.exit(name ? 0 : 2);
}
if (!available.includes(name)) {
  console.error(`pnpm bench: no benchmark named ${JSON.stringify(name)}; available: ${available.join(', ')}`);
  process.exit(2);
}
const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as BenchModule;
await mod.run(rest);

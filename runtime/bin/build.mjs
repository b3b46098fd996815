#!/usr/bin/env node
// `pnpm build`: a precompiled pb-node in dist/ (esbuild, the copy tsx ships). It starts in about
// half the time of the tsx entry (no TypeScript loader in the process or in its workers), which
// is most of an unchanged re-run. Tests and `runtime/bin/pb-node.mjs` always run from source;
// the pipeline benchmark builds dist/ afresh before it measures.
//   dist/pb-node.mjs       the CLI (polyfills first), packages left external (node_modules)
//   dist/chunk-worker.mjs  the chunk worker; chunk-pool.ts finds it next to the CLI bundle
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const esbuild = createRequire(require.resolve('tsx'))('esbuild');

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
  legalComments: 'none',
};

export async function build() {
  await esbuild.build({
    ...common,
    stdin: {
      contents:
        "import './runtime/polyfill.ts';\nimport { main } from './runtime/cli.ts';\nprocess.exitCode = await main(process.argv);\n",
      resolveDir: root,
      sourcefile: 'pb-node-entry.ts',
      loader: 'ts',
    },
    outfile: join(root, 'dist', 'pb-node.mjs'),
  });
  await esbuild.build({
    ...common,
    entryPoints: [join(root, 'runtime', 'pipeline', 'chunk-worker-main.ts')],
    outfile: join(root, 'dist', 'chunk-worker.mjs'),
  });
  return join(root, 'dist', 'pb-node.mjs');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await build());
}

#!/usr/bin/env node
// `pnpm build`: a precompiled pb-node in dist/ (esbuild, the copy tsx ships). It starts in about
// half the time of the tsx entry (no TypeScript loader in the process or in its workers), which
// is most of an unchanged re-run. Tests and `runtime/bin/pb-node.mjs` always run from source;
// the pipeline benchmark builds dist/ afresh before it measures.
//   dist/pb-node.mjs       the CLI (polyfills first), packages left external (node_modules)
//   dist/chunk-worker.mjs  the chunk worker; chunk-pool.ts finds it next to the CLI bundle
// `--package` (the npm package's `prepack`): the same two files with every pure-JavaScript package
// bundled in, so that an installed pb-node needs only the packages in NATIVE (native addons and d3,
// whose minified file the dashboard serves) and resolves them the same under npm as under pnpm.
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

/** Left out of the package bundle: loaded at run time from node_modules (package.json dependencies). */
export const NATIVE = [
  '@parcel/watcher',
  '@ronomon/reed-solomon',
  'better-sqlite3',
  'cbor-extract',
  'd3',
  'node-datachannel',
  'zstd-napi',
];

/** CommonJS packages inside an ES module bundle call require(); this gives them one. */
const REQUIRE_BANNER =
  "import { createRequire as __pbCreateRequire } from 'node:module';\nconst require = __pbCreateRequire(import.meta.url);";

export async function build({ bundlePackages = false } = {}) {
  const settings = bundlePackages
    ? { ...common, packages: undefined, external: NATIVE, minifySyntax: true }
    : { ...common };
  const banner = (lines) => ({ js: lines.filter((l) => l !== null).join('\n') });
  await esbuild.build({
    ...settings,
    // The bin runs as a script: the #! line must come first.
    banner: banner(['#!/usr/bin/env node', bundlePackages ? REQUIRE_BANNER : null]),
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
    ...settings,
    ...(bundlePackages ? { banner: banner([REQUIRE_BANNER]) } : {}),
    entryPoints: [join(root, 'runtime', 'pipeline', 'chunk-worker-main.ts')],
    outfile: join(root, 'dist', 'chunk-worker.mjs'),
  });
  return join(root, 'dist', 'pb-node.mjs');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await build({ bundlePackages: process.argv.includes('--package') }));
}

#!/usr/bin/env node
// The dockerlet command. Runs the JavaScript build in dist/ (scripts/build-dist.mjs: at `npm ci`, by
// scripts/start.sh and scripts/test.sh, and in the image) when it is at least as new as every source
// file; otherwise (a checkout edited since, or never built; DOCKERLET_DIST=0 forces it) it loads the
// TypeScript sources through tsx. Both run the same code: the build is esbuild's transpile, as tsx's.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['agent', 'cli', 'kube', 'lib', 'metrics', 'proxy', 'runtime'];

/** True when some .ts file under dir changed after t (ms). */
function changedSince(dir, t) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() ? changedSince(p, t) : e.name.endsWith('.ts') && statSync(p).mtimeMs > t) return true;
  }
  return false;
}

function distIsFresh() {
  if (process.env.DOCKERLET_DIST === '0') return false;
  try {
    const built = statSync(join(root, 'dist', '.built')).mtimeMs;
    return !SOURCE_DIRS.some((d) => changedSince(join(root, d), built));
  } catch {
    return false;
  }
}

if (distIsFresh()) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}

// dockerlet/incluster:1 = dockerlet/busybox + /bin/incluster (incluster.go, static, standard library
// only): an in-cluster API client for tests, built locally once (no registry here).
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';

const execFileP = promisify(execFile);
export const INCLUSTER_IMAGE = 'dockerlet/incluster:1';
const SOURCE = fileURLToPath(new URL('./incluster.go', import.meta.url));

/** Builds dockerlet/incluster:1 on the host's daemon unless it is there already. */
export async function ensureInClusterImage(): Promise<string> {
  const have = await execFileP('docker', ['image', 'inspect', INCLUSTER_IMAGE], { timeout: 30_000 }).then(() => true, () => false);
  if (have) return INCLUSTER_IMAGE;
  const dir = await mkdtemp(join(tmpdir(), 'dockerlet-incluster-'));
  try {
    await copyFile(SOURCE, join(dir, 'main.go'));
    await writeFile(join(dir, 'go.mod'), 'module dockerlet.invalid/incluster\n\ngo 1.24\n');
    await execFileP('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', join(dir, 'incluster'), '.'], {
      cwd: dir, timeout: 300_000, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
    });
    await writeFile(join(dir, 'Dockerfile'), 'FROM dockerlet/busybox:1.36\nCOPY incluster /bin/incluster\n');
    await execFileP('docker', ['build', '-q', '-t', INCLUSTER_IMAGE, dir], { timeout: 180_000 });
    return INCLUSTER_IMAGE;
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `cannot build ${INCLUSTER_IMAGE}: ${errorMessage(err)}`, { cause: err });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

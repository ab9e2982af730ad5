// Test images the multi-node bed needs besides busybox and pause, built locally (no registry here):
// dockerlet/udp-echo = dockerlet/busybox + a static UDP echo (udp-echo.c), since busybox's nc has no UDP.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';

const execFileP = promisify(execFile);
export const UDP_ECHO_IMAGE = 'dockerlet/udp-echo:1';
const SOURCE = fileURLToPath(new URL('./udp-echo.c', import.meta.url));

/**
 * Builds dockerlet/udp-echo:1 on the host's daemon unless it is there already; returns the image and a
 * host copy of the static binary (for use inside the nodes' network namespaces).
 */
export async function ensureUdpEchoImage(): Promise<{ image: string; binary: string }> {
  const cacheDir = join(process.env.DOCKERLET_CACHE ?? '/var/cache/dockerlet', 'udp-echo');
  const binary = join(cacheDir, 'udp-echo');
  const have = await execFileP('docker', ['image', 'inspect', UDP_ECHO_IMAGE], { timeout: 30_000 }).then(() => true, () => false);
  if (have && existsSync(binary)) return { image: UDP_ECHO_IMAGE, binary };
  const dir = await mkdtemp(join(tmpdir(), 'dockerlet-udp-echo-'));
  try {
    await copyFile(SOURCE, join(dir, 'udp-echo.c'));
    await execFileP('gcc', ['-static', '-O2', '-Wall', '-o', join(dir, 'udp-echo'), join(dir, 'udp-echo.c')], { timeout: 120_000 });
    await writeFile(join(dir, 'Dockerfile'), 'FROM dockerlet/busybox:1.36\nCOPY udp-echo /bin/udp-echo\n');
    await execFileP('docker', ['build', '-q', '-t', UDP_ECHO_IMAGE, dir], { timeout: 180_000 });
    await mkdir(cacheDir, { recursive: true });
    await copyFile(join(dir, 'udp-echo'), binary);
    await chmod(binary, 0o755);
    return { image: UDP_ECHO_IMAGE, binary };
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `cannot build ${UDP_ECHO_IMAGE}: ${errorMessage(err)}`, { cause: err });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

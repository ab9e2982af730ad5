// The image, built with no registry (scripts/build-image.sh: local bases from this machine's Debian
// packages and Node binary): `dockerlet version` runs (as root and as nobody), the native relay loads,
// and the image runs as the agent against a real control plane — --net=host --pid=host, privileged,
// the Docker socket, the root dir bind-mounted rshared — so the node goes Ready and a pod with a
// Secret volume (a tmpfs the agent mounts inside its container) runs: Docker, outside the agent's
// container, sees the volume's files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Node, Pod } from '../../../kube/api.js';
import { createKubeClient, type DockerletKubeClient } from '../../../kube/client.js';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import { VERSION } from '../../../lib/version.js';
import { startControlPlane, type ControlPlane } from '../../cluster/harness.js';
import { freePort } from '../../cluster/net.js';
import { waitFor } from './wait.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const TAG = 'dockerlet:ops-image-test';
const NODE = 'dl-ops-image';
const NS = 'ops-image';
const AGENT = 'dl-ops-image-agent';
const PRIVILEGES = ['--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW', '--cap-add', 'SYS_PTRACE', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined'];

function run(cmd: string, args: string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: REPO, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim().slice(-2000) || err.message}`));
      else resolve(String(stdout));
    });
  });
}

let built = false;
before(async () => {
  await run('bash', ['scripts/build-image.sh', TAG], 540_000);
  built = true;
}, { timeout: 600_000 });

after(async () => {
  await run('docker', ['rm', '-f', AGENT]).catch(() => undefined);
  await run('sh', ['-c', `docker ps -aq --filter label=io.kubernetes.pod.namespace=${NS} | xargs -r docker rm -f`]).catch(() => undefined);
  if (built) await run('docker', ['rmi', TAG]).catch(() => undefined);
}, { timeout: 120_000 });

test('the image prints its version as root and as nobody, loads the native addons and carries a fresh JavaScript build', { timeout: 120_000 }, async (t) => {
  assert.equal((await run('docker', ['run', '--rm', TAG, 'version'])).trim(), `dockerlet ${VERSION}`);
  assert.equal((await run('docker', ['run', '--rm', '--user', '65534:65534', TAG, 'version'])).trim(), `dockerlet ${VERSION}`);
  const loaded = await run('docker', ['run', '--rm', '--entrypoint', 'node', TAG, '-e', "const a = require('/opt/dockerlet/build/relay.node'); console.log(typeof a.start)"]);
  assert.equal(loaded.trim(), 'function');
  const mounter = await run('docker', ['run', '--rm', '--entrypoint', 'node', TAG, '-e', "const a = require('/opt/dockerlet/build/mount.node'); console.log(Object.keys(a).length > 0)"]);
  assert.equal(mounter.trim(), 'true');
  // bin/dockerlet.js runs dist/ (the JavaScript build) only when no source is newer than its stamp.
  const newer = await run('docker', ['run', '--rm', '--entrypoint', 'sh', TAG, '-c',
    'cd /opt/dockerlet && test -f dist/.built && test -f dist/cli/main.js && find agent cli kube lib metrics proxy runtime -name "*.ts" -newer dist/.built | wc -l']);
  assert.equal(newer.trim(), '0', 'every source is older than the image\'s JavaScript build');
  const size = Number(await run('docker', ['image', 'inspect', '-f', '{{.Size}}', TAG]));
  t.diagnostic(`image size ${(size / 1048576).toFixed(0)} MiB`);
  const history = await run('docker', ['image', 'inspect', '-f', '{{.Config.Entrypoint}}', TAG]);
  assert.match(history, /node \/opt\/dockerlet\/bin\/dockerlet\.js/);
});

test('the image runs as the agent: node Ready, a pod with a Secret volume Running', { timeout: 300_000 }, async () => {
  let cp: ControlPlane | undefined;
  let admin: DockerletKubeClient | undefined;
  const root = mkdtempSync('/tmp/dockerlet-ops-image-');
  let bound = false;
  try {
    // The root dir must be a shared mount so the agent's tmpfs mounts reach the host's dockerd.
    await run('mount', ['--bind', root, root]);
    bound = true;
    await run('mount', ['--make-rshared', root]);
    cp = await startControlPlane();
    const creds = await cp.mintNodeCredentials(NODE);
    admin = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath));
    const port = await freePort();
    await run('docker', [
      // --privileged where the host can grant every capability; this one lacks CAP_SYS_RESOURCE, so the
      // capabilities the agent uses (mounts, iptables, namespaces) are named.
      'run', '-d', '--name', AGENT, ...PRIVILEGES, '--net=host', '--pid=host',
      '-v', '/var/run/docker.sock:/var/run/docker.sock', '-v', `${root}:${root}:rshared`, '-v', `${cp.dir}:${cp.dir}:ro`,
      TAG, 'agent', '--kubeconfig', creds.kubeconfigPath, '--node-name', NODE, '--root-dir', join(root, 'lib'), '--port', String(port),
    ]);
    const a = admin;
    await waitFor('node Ready', 90_000, async () => {
      const n = await a.get<Node>(`/api/v1/nodes/${NODE}`);
      return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? n : undefined;
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nagent log:\n${(await run('docker', ['logs', '--tail', '40', AGENT]).catch(() => '')).slice(-4000)}`);
    });
    await a.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await a.create(`/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: NS }, stringData: { word: 'from-the-secret' } });
    await a.create(`/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: NS },
      spec: {
        nodeName: NODE, terminationGracePeriodSeconds: 1,
        volumes: [{ name: 'sec', secret: { secretName: 's' } }],
        containers: [{ name: 'c', image: 'dockerlet/busybox:1.36', imagePullPolicy: 'Never', command: ['sh', '-c', 'cat /s/word; echo; sleep 3600'], volumeMounts: [{ name: 'sec', mountPath: '/s' }] }],
      },
    });
    await waitFor('the pod Running', 90_000, async () => {
      const p = await a.get<Pod>(`/api/v1/namespaces/${NS}/pods/reader`);
      return p.status?.phase === 'Running' ? p : undefined;
    });
    const out = await waitFor('the secret in the container output', 30_000, async () => {
      const id = (await run('docker', ['ps', '-q', '--filter', `label=io.kubernetes.pod.namespace=${NS}`, '--filter', 'label=io.kubernetes.container.name=c'])).trim();
      const logs = id ? await run('docker', ['logs', id]) : '';
      return logs.includes('from-the-secret') ? logs : undefined;
    });
    assert.match(out, /^from-the-secret$/m);
  } finally {
    await run('docker', ['rm', '-f', AGENT]).catch(() => undefined);
    await run('sh', ['-c', `docker ps -aq --filter label=io.kubernetes.pod.namespace=${NS} | xargs -r docker rm -f`]).catch(() => undefined);
    admin?.close();
    await cp?.stop();
    if (bound) {
      const mounts = (await run('sh', ['-c', `awk '{print $5}' /proc/self/mountinfo | grep '^${root}/' | sort -r`]).catch(() => '')).split('\n').filter(Boolean);
      for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
      await run('umount', ['-l', root]).catch(() => undefined);
    }
    rmSync(root, { recursive: true, force: true });
  }
});

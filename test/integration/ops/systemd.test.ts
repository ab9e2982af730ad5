// dockerlet under a real systemd: a container whose PID 1 is this machine's systemd (a rootfs of its
// Debian packages, scripts/build-image.sh --systemd), the repo mounted at /opt/dockerlet, the host's
// Docker socket and the bed's credentials. `dockerlet install` writes and enables the unit; `systemctl
// start` returns once the agent sent READY=1 (node registered, first sync), and the node is Ready on
// the bed; `systemctl stop` leaves the pod's containers running (KillMode=process) and the next start
// adopts them; `systemctl kill -s KILL` → systemd restarts the agent (Restart=always).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Node, Pod } from '../../../kube/api.js';
import { createKubeClient, type DockerletKubeClient } from '../../../kube/client.js';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import { startControlPlane, type ControlPlane } from '../../cluster/harness.js';
import { freePort } from '../../cluster/net.js';
import { waitFor } from './wait.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const NODE = 'dl-ops-systemd';
const NS = 'ops-systemd';
const CT = 'dl-ops-systemd';
/** The CLI wiring this test needs (install dispatch + the notifier; /tmp/team/requests-ops.md): skipped, saying so, until it is in. */
const MAIN = readFileSync(join(REPO, 'cli/main.ts'), 'utf8');
const WIRED = MAIN.includes('installCommand') && MAIN.includes('SystemdNotifier');

function run(cmd: string, args: string[], timeoutMs = 180_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: REPO, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim().slice(-2000) || err.message}`));
      else resolve(String(stdout));
    });
  });
}
const inCt = (args: string[], timeoutMs?: number) => run('docker', ['exec', CT, ...args], timeoutMs);
const prop = async (p: string) => (await inCt(['systemctl', 'show', '-p', p, '--value', 'dockerlet'])).trim();

let cp: ControlPlane | undefined;
let admin: DockerletKubeClient | undefined;
const root = mkdtempSync('/tmp/dockerlet-ops-systemd-');
let bound = false;
const a = () => admin as DockerletKubeClient;

before(async () => {
  if (!WIRED) return;
  const image = /(dockerlet\/systemd-base:\S+)\s*$/.exec(await run('bash', ['scripts/build-image.sh', '--systemd'], 300_000))?.[1];
  assert.ok(image, 'systemd base image');
  await run('mount', ['--bind', root, root]);
  bound = true;
  await run('mount', ['--make-rshared', root]);
  cp = await startControlPlane();
  admin = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath));
  await run('docker', [
    'run', '-d', '--name', CT, '--net=host', '--cgroupns=host',
    '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW', '--cap-add', 'SYS_PTRACE',
    '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
    '--tmpfs', '/run', '--tmpfs', '/run/lock', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '-v', '/var/run/docker.sock:/var/run/docker.sock', '-v', `${REPO}:/opt/dockerlet:ro`,
    '-v', `${root}:${root}:rshared`, '-v', `${cp.dir}:${cp.dir}:ro`,
    image, '/lib/systemd/systemd',
  ]);
  await waitFor('systemd up', 60_000, async () => (/^(running|degraded)$/m.test(await inCt(['systemctl', 'is-system-running']).catch((e: Error) => e.message)) ? true : undefined));
}, { timeout: 420_000 });

after(async () => {
  await run('docker', ['rm', '-f', CT]).catch(() => undefined);
  await run('sh', ['-c', `docker ps -aq --filter label=io.kubernetes.pod.namespace=${NS} | xargs -r docker rm -f`]).catch(() => undefined);
  admin?.close();
  await cp?.stop();
  if (bound) {
    const mounts = (await run('sh', ['-c', `awk '{print $5}' /proc/self/mountinfo | grep '^${root}/' | sort -r`]).catch(() => '')).split('\n').filter(Boolean);
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
    await run('umount', ['-l', root]).catch(() => undefined);
  }
  rmSync(root, { recursive: true, force: true });
}, { timeout: 120_000 });

test('install, start (READY=1), stop leaves pods, start adopts them, SIGKILL → restarted by systemd', {
  timeout: 420_000, skip: WIRED ? false : 'cli/main.ts does not dispatch install / start the systemd notifier yet',
}, async () => {
  const creds = await (cp as ControlPlane).mintNodeCredentials(NODE);
  const installed = await inCt(['node', '/opt/dockerlet/bin/dockerlet.js', 'install', '--root-dir', join(root, 'lib')]);
  assert.match(installed, /wrote \/etc\/systemd\/system\/dockerlet\.service/);
  assert.equal((await inCt(['systemctl', 'is-enabled', 'dockerlet'])).trim(), 'enabled');
  assert.equal(await prop('Type'), 'notify');
  // This node's settings; and `agent` instead of `run` (the test keeps the proxy's iptables rules off this host).
  const port = await freePort();
  await inCt(['sh', '-c', [
    `sed -i 's#^kubeconfig: .*#kubeconfig: ${creds.kubeconfigPath}#' /etc/dockerlet/config.yaml`,
    `printf 'nodeName: ${NODE}\\nport: ${port}\\n' >> /etc/dockerlet/config.yaml`,
    'mkdir -p /etc/systemd/system/dockerlet.service.d',
    `printf '[Service]\\nExecStart=\\nExecStart=/usr/bin/node /opt/dockerlet/bin/dockerlet.js agent --config /etc/dockerlet/config.yaml\\n' > /etc/systemd/system/dockerlet.service.d/test.conf`,
    'systemctl daemon-reload',
  ].join(' && ')]);

  await inCt(['systemctl', 'start', 'dockerlet'], 150_000); // returns after READY=1
  assert.equal((await inCt(['systemctl', 'is-active', 'dockerlet'])).trim(), 'active');
  assert.match(await prop('StatusText'), /node (Ready|NotReady)/);
  await waitFor('node Ready', 60_000, async () => {
    const n = await a().get<Node>(`/api/v1/nodes/${NODE}`);
    return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? n : undefined;
  });

  await a().create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await a().create(`/api/v1/namespaces/${NS}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'survivor', namespace: NS },
    spec: { nodeName: NODE, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'dockerlet/busybox:1.36', imagePullPolicy: 'Never', command: ['sleep', '3600'] }] },
  });
  const running = async () => {
    const p = await a().get<Pod>(`/api/v1/namespaces/${NS}/pods/survivor`);
    return p.status?.phase === 'Running' ? p : undefined;
  };
  await waitFor('the pod Running', 90_000, running);
  const containerId = async () => (await run('docker', ['ps', '-q', '--no-trunc', '--filter', `label=io.kubernetes.pod.namespace=${NS}`, '--filter', 'label=io.kubernetes.container.name=c'])).trim();
  const before = await containerId();
  assert.ok(before, 'the pod container runs');

  await inCt(['systemctl', 'stop', 'dockerlet']);
  assert.equal(await prop('ActiveState'), 'inactive');
  assert.equal(await containerId(), before, 'the pod outlives the agent (KillMode=process)');

  await inCt(['systemctl', 'start', 'dockerlet'], 150_000);
  const p = await waitFor('the pod Running after the restart', 60_000, running);
  assert.equal(await containerId(), before, 'adopted, not recreated');
  assert.equal(p.status?.containerStatuses?.[0]?.restartCount, 0);

  const pid = await prop('MainPID');
  await inCt(['systemctl', 'kill', '-s', 'KILL', 'dockerlet']);
  await waitFor('systemd restarted the agent', 60_000, async () => {
    const [n, state, main] = await Promise.all([prop('NRestarts'), prop('ActiveState'), prop('MainPID')]);
    return Number(n) >= 1 && state === 'active' && main !== pid && main !== '0' ? true : undefined;
  });
  assert.equal(await containerId(), before);
});

// `npm run bench -- kubelet-api [rounds]`: the kubelet API's streaming paths against their peers, in
// one run, rounds in shuffled order. Port forward: `kubectl port-forward` through the apiserver (the
// WebSocket tunnel kubectl uses by default, and plain SPDY) downloading 100 MiB from an HTTP server in
// the pod, vs a direct TCP connection from this host to the pod IP (the peer). Exec: `kubectl exec --
// true` round trip through the apiserver vs `docker exec` of the same container (the peer), plus the
// kubelet's own share (a SPDY exec straight to the kubelet server, no apiserver). Bed: a real
// control plane, the streaming plugin on a kubelet server, a pod on Docker
// (test/integration/streaming/bed.ts). Writes bench/results/kubelet-api.json.
import { execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startBed, type Bed } from '../test/integration/streaming/bed.js';
import { spdyConnect } from '../test/integration/streaming/direct.js';
import { freePort } from '../test/cluster/net.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SIZE_MIB = 100;

interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: round(median), min: round(s[0]!), max: round(s[s.length - 1]!), n: s.length };
}

const round = (x: number) => Math.round(x * 100) / 100;

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Downloads path over HTTP/1.0 from host:port; MiB/s of the whole exchange. */
function download(host: string, port: number, pathName: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = connect(port, host);
    let bytes = 0;
    s.on('data', (c: Buffer) => (bytes += c.length));
    s.setTimeout(120_000, () => s.destroy(new Error('download timed out')));
    s.once('end', () => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (bytes < SIZE_MIB * MiB) return reject(new Error(`short download: ${bytes} bytes`));
      resolve(bytes / MiB / secs);
    });
    s.once('error', reject);
    s.end(`GET ${pathName} HTTP/1.0\r\n\r\n`);
  });
}

async function portForward(bed: Bed, remote: number, env: Record<string, string>): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const child = bed.spawnKubectl(['-n', bed.namespace, 'port-forward', `pod/${bed.pod}`, `${port}:${remote}`, '--address', '127.0.0.1'], env);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('port-forward did not start')), 20_000);
    child.stdout!.on('data', (c: Buffer) => c.toString().includes('Forwarding from') && (clearTimeout(t), resolve()));
  });
  return { port, stop: () => child.kill('SIGTERM') };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function kubectlExec(bed: Bed, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('kubectl', ['--kubeconfig', bed.cp.adminKubeconfigPath, '-n', bed.namespace, 'exec', bed.pod, '-c', 'app', '--', 'true'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubectl exec exited ${code}`))));
  });
}

/** exec `true` straight to the kubelet server over SPDY (no apiserver, no kubectl). */
async function directExec(bed: Bed): Promise<void> {
  const { client } = await spdyConnect(bed.port, bed.client, `/exec/${bed.namespace}/${bed.pod}/app?output=1&error=1&command=true`, ['v4.channel.k8s.io']);
  const err = await client.open({ streamtype: 'error' });
  client.end(err);
  await client.open({ streamtype: 'stdout' });
  await client.open({ streamtype: 'stderr' });
  await client.until(() => err.fin, 30_000, 'status');
  if (!err.text().includes('Success')) throw new Error(`direct exec: ${err.text()}`);
  client.destroy();
}

export async function main(args: string[]): Promise<void> {
  const rounds = Math.max(3, Math.min(50, Number(args[0] ?? 7) || 7));
  const bed = await startBed();
  try {
    // A second HTTP server on all addresses (8081) so the direct peer can reach it by pod IP.
    await run('docker', ['exec', bed.appId, 'sh', '-c', `dd if=/dev/zero of=/www/big bs=1M count=${SIZE_MIB} 2>/dev/null && httpd -p 8081 -h /www`]);
    const podIp = (await run('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', bed.sandboxId])).stdout.trim();
    const tunnel = await portForward(bed, 8081, {});
    const spdy = await portForward(bed, 8081, { PORT_FORWARD_WEBSOCKETS: 'false' });
    const pf: Record<string, number[]> = { tunnel: [], spdy: [], direct: [] };
    const ex: Record<string, number[]> = { kubectl_ws: [], kubectl_spdy: [], direct_kubelet: [], docker_exec: [] };
    // Warm-up: connections, caches, the namespace helper.
    await download('127.0.0.1', tunnel.port, '/big');
    await download('127.0.0.1', spdy.port, '/big');
    await kubectlExec(bed, {});
    await directExec(bed);
    for (let r = 0; r < rounds; r++) {
      const steps: [string, () => Promise<void>][] = [
        ['pf:tunnel', async () => void pf.tunnel!.push(await download('127.0.0.1', tunnel.port, '/big'))],
        ['pf:spdy', async () => void pf.spdy!.push(await download('127.0.0.1', spdy.port, '/big'))],
        ['pf:direct', async () => void pf.direct!.push(await download(podIp, 8081, '/big'))],
        ['ex:kubectl_ws', async () => void ex.kubectl_ws!.push(await timed(() => kubectlExec(bed, {})))],
        ['ex:kubectl_spdy', async () => void ex.kubectl_spdy!.push(await timed(() => kubectlExec(bed, { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' })))],
        ['ex:direct_kubelet', async () => void ex.direct_kubelet!.push(await timed(() => directExec(bed)))],
        ['ex:docker_exec', async () => void ex.docker_exec!.push(await timed(() => run('docker', ['exec', bed.appId, 'true'])))],
      ];
      for (const [, step] of shuffle(steps)) await step();
      process.stderr.write(`round ${r + 1}/${rounds}\n`);
    }
    tunnel.stop();
    spdy.stop();
    const portforward = Object.fromEntries(Object.entries(pf).map(([k, v]) => [`${k}_mib_s`, spread(v)]));
    const exec = Object.fromEntries(Object.entries(ex).map(([k, v]) => [`${k}_ms`, spread(v)]));
    const pfBest = Math.max(spread(pf.tunnel!).median, spread(pf.spdy!).median);
    const result = {
      bench: 'kubelet-api',
      date: new Date().toISOString(),
      rounds,
      payload_mib: SIZE_MIB,
      host: { cpus: (await import('node:os')).cpus().length, node: process.version },
      portforward,
      exec,
      ratios: {
        // Higher is better: the share of direct TCP throughput port forwarding reaches (kubectl's default path).
        portforward_vs_direct: round(spread(pf.tunnel!).median / spread(pf.direct!).median),
        portforward_spdy_vs_direct: round(spread(pf.spdy!).median / spread(pf.direct!).median),
        portforward_best_vs_direct: round(pfBest / spread(pf.direct!).median),
        // Lower is better: kubectl exec round trip (default WebSocket path) over docker exec's.
        exec_vs_docker_exec: round(spread(ex.kubectl_ws!).median / spread(ex.docker_exec!).median),
        exec_spdy_vs_docker_exec: round(spread(ex.kubectl_spdy!).median / spread(ex.docker_exec!).median),
        // The kubelet's own share: exec straight to the kubelet server over SPDY vs docker exec.
        direct_kubelet_exec_vs_docker_exec: round(spread(ex.direct_kubelet!).median / spread(ex.docker_exec!).median),
      },
    };
    const here = path.dirname(fileURLToPath(import.meta.url));
    await mkdir(path.join(here, 'results'), { recursive: true });
    await writeFile(path.join(here, 'results', 'kubelet-api.json'), JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify({ portforward, exec, ratios: result.ratios }, null, 2));
  } finally {
    await bed.stop();
  }
}

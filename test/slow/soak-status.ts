// The churn soak of issue 12 (not run in CI): a real control plane and the agent, 5 pods created and the
// previous 5 deleted every 10 s for SOAK_MINUTES (default 30). Samples the agent's RSS, open fds and V8
// heap (nodejs_heap_size_used_bytes through the API server's node proxy, as a user would scrape it) every
// minute, and at the end checks that no container, tmpfs mount or pod directory of a deleted pod is left.
// Run: DOCKERLET_CONTROL_PLANE_DIR=… node --import tsx test/slow/soak-status.ts  (prints a JSON summary;
// SOAK_OUT=path also writes it there). Every loop is bounded by the duration and stops by itself.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBed, type Bed } from '../integration/agent/bed.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const PER_ROUND = 5;
const ROUND_MS = 10_000;
const NODE = 'dl-soak-status';
const NS = 'soak';
const IMAGE = 'dockerlet/busybox:1.36';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Sample {
  minute: number;
  rssMiB: number;
  heapMiB: number | undefined;
  fds: number;
  pods: number;
  containers: number;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function heapMiB(bed: Bed): Promise<number | undefined> {
  try {
    const text = await bed.kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/metrics`]);
    const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
    return m ? Number(m[1]) / 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}

function mountsUnder(dir: string): number {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => (l.split(' ')[4] ?? '').startsWith(`${dir}/`)).length;
}

function podManifests(round: number): string {
  const items = Array.from({ length: PER_ROUND }, (_v, k) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: `r${round}-${k}`, namespace: NS, labels: { round: String(round) } },
    spec: {
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'scratch', emptyDir: {} }],
      containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo started > /dev/termination-log; exec sleep 3600'], volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
    },
  }));
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

async function sample(bed: Bed, pid: number, minute: number): Promise<Sample> {
  const containers = (await bed.docker(['ps', '-q', '--filter', `label=io.kubernetes.pod.namespace=${NS}`])).split('\n').filter(Boolean).length;
  const pods = (await bed.kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', NS])).items.length;
  return { minute, rssMiB: Math.round(rssMiB(pid) * 10) / 10, heapMiB: await heapMiB(bed).then((h) => (h === undefined ? undefined : Math.round(h * 10) / 10)), fds: fds(pid), pods, containers };
}

async function main(): Promise<void> {
  const bed = await startBed({ nodeName: NODE });
  try {
    await bed.startAgent();
    await bed.kubectl(['create', 'namespace', NS]);
    const pid = bed.agentPid()!;
    const samples: Sample[] = [await sample(bed, pid, 0)];
    const end = Date.now() + MINUTES * 60_000;
    let nextSample = Date.now() + 60_000;
    let round = 0;
    let failures = 0;
    while (Date.now() < end) {
      const t0 = Date.now();
      try {
        await bed.kubectl(['apply', '-f', '-'], { input: podManifests(round) });
        if (round > 0) await bed.kubectl(['delete', 'pods', '-n', NS, '-l', `round=${round - 1}`, '--wait=false', '--grace-period=1']);
      } catch (err) {
        failures++;
        process.stderr.write(`round ${round}: ${String(err)}\n`);
      }
      round++;
      if (Date.now() >= nextSample) {
        samples.push(await sample(bed, pid, Math.round((Date.now() - (end - MINUTES * 60_000)) / 60_000)));
        process.stderr.write(`${JSON.stringify(samples.at(-1))}\n`);
        nextSample += 60_000;
      }
      await sleep(Math.max(0, ROUND_MS - (Date.now() - t0)));
    }
    await bed.kubectl(['delete', 'pods', '-n', NS, '--all', '--wait=false', '--grace-period=1']);
    const deadline = Date.now() + 180_000;
    let left = { pods: -1, containers: -1, mounts: -1, podDirs: -1 };
    while (Date.now() < deadline) {
      const podDirs = (() => { try { return readdirSync(join(bed.dir, 'root', 'pods')).length; } catch { return 0; } })();
      left = {
        pods: (await bed.kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', NS])).items.length,
        containers: (await bed.docker(['ps', '-a', '-q', '--filter', `label=io.kubernetes.pod.namespace=${NS}`])).split('\n').filter(Boolean).length,
        mounts: mountsUnder(join(bed.dir, 'root')),
        podDirs,
      };
      if (left.pods === 0 && left.containers === 0 && left.mounts === 0 && left.podDirs === 0) break;
      await sleep(5000);
    }
    samples.push(await sample(bed, pid, MINUTES));
    const warm = samples.filter((s) => s.minute >= 3);
    const pick = (k: 'rssMiB' | 'heapMiB' | 'fds') => warm.map((s) => s[k]).filter((v): v is number => typeof v === 'number');
    const span = (v: number[]) => (v.length ? { first: v[0], last: v.at(-1), min: Math.min(...v), max: Math.max(...v) } : undefined);
    const summary = {
      minutes: MINUTES, rounds: round, podsCreated: round * PER_ROUND, failedRounds: failures,
      rssMiB: span(pick('rssMiB')), heapMiB: span(pick('heapMiB')), fds: span(pick('fds')),
      leftAfterDeletingAll: left, samples,
    };
    const out = JSON.stringify(summary, null, 2);
    process.stdout.write(`${out}\n`);
    if (process.env.SOAK_OUT) writeFileSync(process.env.SOAK_OUT, out);
  } finally {
    await bed.stop();
  }
}

await main();

// `npm run cluster`: a local control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) in the foreground, with kubeconfigs in .cluster/ for kubectl and a local dockerlet.
// Unless --no-agent is given, a dockerlet (agent + proxy) runs on this host as node <hostname>,
// logging to .cluster/dockerlet.log. Ctrl-C (SIGINT) or SIGTERM stops everything.
// `--nodes N` instead brings up the multi-node bed (test/cluster/multinode.ts): N network namespaces on a
// LAN bridge, each with its own dockerd and dockerlet, pods on 10.100.0.0/16 routed between the nodes.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../lib/errors.js';
import { startControlPlane, type ControlPlane } from '../test/cluster/harness.js';
import { runMultiNode } from '../test/cluster/cli-multinode.js';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
const outDir = join(repoRoot, '.cluster');

/** The value of --nodes N (or --nodes=N), undefined when absent; throws on a bad value. */
function nodesFlag(argv: string[]): number | undefined {
  const i = argv.findIndex((a) => a === '--nodes' || a.startsWith('--nodes='));
  if (i < 0) return undefined;
  const raw = argv[i]?.includes('=') ? argv[i]?.split('=')[1] : argv[i + 1];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error(`--nodes: expected a number of nodes from 1 to 20, got ${JSON.stringify(raw)}`);
  return n;
}

async function main(): Promise<number> {
  const nodes = nodesFlag(process.argv.slice(2));
  if (nodes !== undefined) return runMultiNode(nodes, outDir);
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      console.error(`${sig} again: killing the control plane now`);
      process.exit(130); // the harness's exit hook SIGKILLs every component
    }
    console.error(`${sig}: stopping the control plane...`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let cp: ControlPlane;
  try {
    cp = await startControlPlane({ signal: abort.signal, log: true });
  } catch (err) {
    console.error(errorMessage(err));
    return 1;
  }

  const written: string[] = [];
  try {
    await mkdir(outDir, { recursive: true, mode: 0o700 });
    const adminPath = join(outDir, 'admin.kubeconfig');
    await copyFile(cp.adminKubeconfigPath, adminPath);
    written.push(adminPath);
    const node = hostname().toLowerCase();
    const creds = await cp.mintNodeCredentials(node);
    const nodePath = join(outDir, `node-${node}.kubeconfig`);
    await copyFile(creds.kubeconfigPath, nodePath);
    written.push(nodePath);

    const rel = (p: string) => relative(process.cwd(), p) || p;
    let agent: ChildProcess | undefined;
    const agentLog = join(outDir, 'dockerlet.log');
    if (!process.argv.includes('--no-agent')) {
      const out = openSync(agentLog, 'a');
      agent = spawn(process.execPath, [join(repoRoot, 'bin/dockerlet.js'), 'run', '--kubeconfig', nodePath, '--node-name', node, '--root-dir', '/var/lib/dockerlet'], { stdio: ['ignore', out, out] });
      abort.signal.addEventListener('abort', () => agent?.kill('SIGTERM'), { once: true });
      process.on('exit', () => agent?.kill('SIGKILL'));
    }
    console.log(
      [
        '',
        `control plane ready in ${cp.timings.ready} ms: ${cp.server} (advertised as ${cp.advertiseAddress}:${cp.apiPort})`,
        `  work dir:     ${cp.dir} (logs in ${join(cp.dir, 'logs')})`,
        `  admin:        kubectl --kubeconfig ${rel(adminPath)} get --raw /readyz`,
        `  node ${node}:  ${rel(nodePath)} (system:node:${node}, for a local dockerlet)`,
        `  services:     ${cp.serviceCidr}`,
        agent ? `  dockerlet:    node ${node} (pid ${agent.pid}), log ${rel(agentLog)}` : '  dockerlet:    not started (--no-agent)',
        'Ctrl-C to stop.',
        '',
      ].join('\n'),
    );

    // Watch the components until a signal arrives; a dead component ends the run with its log tail.
    const died = await new Promise<boolean>((resolveWait) => {
      const timer = setInterval(() => {
        if (cp.pids().length < 4) {
          clearInterval(timer);
          resolveWait(true);
        }
      }, 2_000);
      abort.signal.addEventListener('abort', () => {
        clearInterval(timer);
        resolveWait(false);
      }, { once: true });
    });
    if (died) console.error(`a control-plane component exited:\n${cp.logTail(30)}`);
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent?.once('exit', r));
    }
    return died ? 1 : 0;
  } finally {
    await cp.stop();
    await Promise.all(written.map((p) => rm(p, { force: true })));
    console.error('control plane stopped');
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(errorMessage(err));
    process.exit(1);
  },
);

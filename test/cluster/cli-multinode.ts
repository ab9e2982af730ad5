// `npm run cluster -- --nodes N`: the multi-node bed for people (test/cluster/multinode.ts) in the
// foreground. Writes .cluster/admin.kubeconfig, prints how to reach each node (its namespace, Docker
// socket, LAN address, log), and on Ctrl-C/SIGTERM tears everything down: dockerlets, dockerds, the
// control plane, the namespaces, the LAN bridge and the routes and iptables rules inside them.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { errorMessage } from '../../lib/errors.js';
import { deployClusterDns, ensureCorednsImage, nslookupVia } from './dns.js';
import { startMultiNodeCluster, type MultiNodeCluster } from './multinode.js';

export async function runMultiNode(count: number, outDir: string): Promise<number> {
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      console.error(`${sig} again: exiting now (namespaces are removed by the exit hook)`);
      process.exit(130);
    }
    console.error(`${sig}: stopping the bed...`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let bed: MultiNodeCluster;
  const t0 = Date.now();
  try {
    const dnsImage = await ensureCorednsImage({ signal: abort.signal });
    bed = await startMultiNodeCluster({ nodes: count, log: true, signal: abort.signal, images: [dnsImage] });
    const first = bed.nodes[0]!;
    try {
      await deployClusterDns({ kubeconfig: bed.cp.adminKubeconfigPath, image: dnsImage, replicas: Math.min(2, count), signal: abort.signal, query: nslookupVia((cmd) => first.exec(cmd)) });
    } catch (err) {
      await bed.stop();
      throw err;
    }
  } catch (err) {
    console.error(errorMessage(err));
    return 1;
  }
  const adminPath = join(outDir, 'admin.kubeconfig');
  try {
    await mkdir(outDir, { recursive: true, mode: 0o700 });
    await copyFile(bed.cp.adminKubeconfigPath, adminPath);
    const rel = (p: string) => relative(process.cwd(), p) || p;
    console.log([
      '',
      `${count}-node bed ready in ${Date.now() - t0} ms; API server ${bed.cp.server} (nodes use https://${bed.lan.hostIP}:${bed.cp.apiPort})`,
      `  admin:     kubectl --kubeconfig ${rel(adminPath)} get nodes -o wide`,
      '  DNS:       kube-system/kube-dns 10.96.0.10 (CoreDNS, cluster.local; no upstream forward)',
      `  LAN:       ${bed.lan.cidr} (host ${bed.lan.hostIP}), pods ${bed.clusterCidr}, services ${bed.cp.serviceCidr}`,
      ...bed.nodes.map((n) => `  ${n.name}: ${n.ip}  nsenter --net=/var/run/netns/${n.netns} ...  docker -H unix://${n.dockerd.socket} ps  log ${n.agentLog}`),
      `  work dir:  ${bed.dir}`,
      'Ctrl-C to stop (removes namespaces, bridge, daemons and their data).',
      '',
    ].join('\n'));
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (bed.cp.pids().length < 4) {
          console.error(`a control-plane component exited:\n${bed.cp.logTail(30)}`);
          clearInterval(timer);
          resolve();
        }
      }, 2_000);
      abort.signal.addEventListener('abort', () => {
        clearInterval(timer);
        resolve();
      }, { once: true });
    });
    return 0;
  } finally {
    await bed.stop();
    await rm(adminPath, { force: true });
    console.error('bed stopped');
  }
}

// bench/metrics child: `dockerlet metrics` (the standalone server, cAdvisor's port and labels) with the
// kubelet's metrics routes on the same server and collector, for one peer of the benchmark.
// Usage: metrics-child.ts --child <port> <stateDir>
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { NODE } from './metrics-peers.js';

async function child(port: number, stateDir: string): Promise<void> {
  const { runStandaloneMetrics } = await import('../../metrics/standalone.js');
  const { installMetricsRoutes } = await import('../../metrics/routes.js');
  const { silentLogger } = await import('../../lib/log.js');
  const ac = new AbortController();
  process.once('SIGTERM', () => ac.abort());
  const h = await runStandaloneMetrics({
    port, housekeepingMs: 10_000, stateDir, log: silentLogger(),
    plugins: [(app, collector) => installMetricsRoutes(app, collector, { nodeName: NODE, agentMetrics: false })],
  }, ac.signal);
  await h.closed;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--child') {
  await child(Number(process.argv[3]), process.argv[4] ?? os.tmpdir());
}

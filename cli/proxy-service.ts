// The proxy half as a Service for the CLI: runs proxy/run.ts with the process's shared informers.
import { EventRecorder } from '../agent/events/recorder.js';
import type { Service } from '../lib/lifecycle.js';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Proxier } from '../proxy/proxier.js';
import { autoShards } from '../proxy/config.js';
import { runProxy } from '../proxy/run.js';
import type { Config } from './config.js';
import { kubeFor } from './kube-shared.js';

export class ProxyService implements Service {
  readonly #config: Config;
  readonly #log: Logger;
  #proxier: Proxier | undefined;
  #events: EventRecorder | undefined;

  constructor(config: Config, log: Logger) {
    this.#config = config;
    this.#log = log;
  }

  proxier(): Proxier | undefined {
    return this.#proxier;
  }

  async start(signal: AbortSignal): Promise<void> {
    const cfg = this.#config;
    if (!cfg.kubeconfig) throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'proxy: kubeconfig: required (the proxy needs an API server)');
    const kube = kubeFor(cfg.kubeconfig, this.#log);
    const log = this.#log.child({ component: 'proxy' });
    this.#events = new EventRecorder({ client: kube.client, component: 'kube-proxy', host: cfg.nodeName, log: log.child({ component: 'events' }) });
    await this.#events.start(signal);
    this.#proxier = await runProxy(
      {
        nodeName: cfg.nodeName, healthPort: cfg.proxy.healthzPort, metricsPort: cfg.proxy.metricsPort, iptables: cfg.proxy.iptables,
        dataPath: cfg.proxy.dataPath, shards: cfg.proxy.shards === 'auto' ? autoShards() : cfg.proxy.shards,
        podBridgeInterface: cfg.proxy.podBridgeInterface,
      },
      { informerFactory: (opts) => kube.informers.get(opts), log, events: this.#events },
      signal,
    );
  }

  async stop(): Promise<void> {
    await this.#proxier?.stop();
    await this.#events?.stop();
  }
}

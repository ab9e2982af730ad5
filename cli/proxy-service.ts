// The proxy half as a Lifecycle part for the CLI: runs proxy/run.ts with the process's shared informers.
import { EventRecorder } from '../kube/events.js';
import { kubeFor } from '../kube/shared.js';
import type { Lifecycle } from '../lib/lifecycle.js';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Proxier } from '../proxy/proxier.js';
import { runProxy } from '../proxy/run.js';
import type { Config } from './config.js';

export class ProxyService implements Lifecycle {
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
    const { enabled: _enabled, ...section } = cfg.proxy;
    this.#proxier = await runProxy(
      { ...section, nodeName: cfg.nodeName },
      { informerFactory: (opts) => kube.informers.get(opts), log, events: this.#events },
      signal,
    );
  }

  async stop(): Promise<void> {
    await this.#proxier?.stop();
    await this.#events?.stop();
  }
}

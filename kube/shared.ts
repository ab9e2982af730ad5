// One API client and one informer registry per kubeconfig per process, shared by agent and proxy.
import { createKubeClient, type DockerletKubeClient } from './client.js';
import { loadKubeconfig } from './kubeconfig.js';
import { SharedInformers } from './shared-informers.js';
import type { Logger } from '../lib/log.js';

export interface KubeShared {
  client: DockerletKubeClient;
  informers: SharedInformers;
}

const shared = new Map<string, KubeShared>();

export function kubeFor(kubeconfig: string, log: Logger, client?: DockerletKubeClient): KubeShared {
  let s = shared.get(kubeconfig);
  if (!s) {
    const c = client ?? createKubeClient(loadKubeconfig(kubeconfig), { log: log.child({ component: 'kube-client' }) });
    s = { client: c, informers: new SharedInformers(c, { log: log.child({ component: 'informer' }) }) };
    shared.set(kubeconfig, s);
  }
  return s;
}

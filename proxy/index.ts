// Public surface of the userspace kube-proxy.
export { runProxy, SERVICES_PATH, ENDPOINTSLICES_PATH, type ProxyRunDeps } from './run.js';
export { parseProxyConfig, ProxyConfigSchema, type ProxyConfig, type ProxyConfigInput } from './config.js';
export { Proxier, type ProxierDeps } from './proxier.js';
export { Portals, systemIptables, type IptablesRunner } from './iptables.js';
export { buildServicePorts, PROXY_LABEL_SELECTOR } from './model.js';
export type { ServicePortEntry, EndpointInfo } from './types.js';

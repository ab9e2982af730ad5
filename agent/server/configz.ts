// /configz content: the running configuration in KubeletConfiguration (kubelet.config.k8s.io/v1beta1)
// field names and duration strings, as the kubelet's configz shows its own (component-base/configz).
import type { AgentConfig } from '../config.js';
import type { EffectiveServerConfig } from './config.js';

const seconds = (n: number) => (n % 60 === 0 && n >= 60 ? `${n / 60}m0s` : `${n}s`);

export function kubeletConfigz(c: AgentConfig, s: EffectiveServerConfig): Record<string, unknown> {
  return {
    kind: 'KubeletConfiguration',
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    enableServer: true,
    ...(c.staticPodPath ? { staticPodPath: c.staticPodPath } : {}),
    fileCheckFrequency: seconds(c.fileCheckFrequencySeconds),
    address: s.address,
    port: c.port,
    readOnlyPort: s.readOnlyPort,
    ...(s.tlsCertFile ? { tlsCertFile: s.tlsCertFile, tlsPrivateKeyFile: s.tlsPrivateKeyFile } : {}),
    authentication: {
      x509: s.clientCAFile ? { clientCAFile: s.clientCAFile } : {},
      webhook: { enabled: s.webhook, cacheTTL: seconds(s.tokenCacheTtlMs / 1000) },
      anonymous: { enabled: s.anonymous },
    },
    authorization: {
      mode: s.authorization,
      webhook: { cacheAuthorizedTTL: seconds(s.authorizedTtlMs / 1000), cacheUnauthorizedTTL: seconds(s.unauthorizedTtlMs / 1000) },
    },
    clusterDomain: c.clusterDomain,
    clusterDNS: [...c.clusterDNS],
    maxPods: c.maxPods,
    podInfraContainerImage: c.podInfraContainerImage,
    rootDir: c.rootDir,
    nodeLabels: { ...c.nodeLabels },
    registerWithTaints: c.registerWithTaints.map((t) => ({ ...t })),
  };
}

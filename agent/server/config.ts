// The kubelet API server's configuration fields (KubeletConfiguration names: address, readOnlyPort,
// tlsCertFile, tlsPrivateKeyFile, authentication.{x509,webhook,anonymous}, authorization.mode), spread
// into the agent's schema, and the effective settings. Upstream refuses Webhook modes without an API
// client; dockerlet's standalone default instead serves loopback only with AlwaysAllow and no token
// authentication (x509 with a client CA, or anonymous when enabled): nothing else can authenticate.
import { z } from 'zod';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

const path = z.string().min(1);

export const serverConfigFields = {
  /** Bind address of the kubelet API; default 0.0.0.0 when paired, 127.0.0.1 standalone. */
  address: z.union([z.ipv4(), z.ipv6()]).optional(),
  /** Unauthenticated read-only port (healthz, /pods and metrics); 0 = off (the config-file default). */
  readOnlyPort: z.number().int().min(0).max(65535).default(0),
  /** Request the serving certificate from the cluster (kubernetes.io/kubelet-serving CSR) and rotate it. */
  serverTLSBootstrap: z.boolean().default(false),
  tlsCertFile: path.optional(),
  tlsPrivateKeyFile: path.optional(),
  authentication: z.object({
    x509: z.object({ clientCAFile: path.optional() }).strict().prefault({}),
    webhook: z.object({
      /** TokenReview for bearer tokens; default on when paired (a kubeconfig is given). */
      enabled: z.boolean().optional(),
      cacheTTLSeconds: z.number().int().min(0).max(86_400).default(120),
    }).strict().prefault({}),
    anonymous: z.object({ enabled: z.boolean().default(false) }).strict().prefault({}),
  }).strict().prefault({}),
  authorization: z.object({
    /** Webhook (SubjectAccessReview) when paired, AlwaysAllow standalone, unless set. */
    mode: z.enum(['Webhook', 'AlwaysAllow']).optional(),
    cacheAuthorizedTTLSeconds: z.number().int().min(0).max(86_400).default(300),
    cacheUnauthorizedTTLSeconds: z.number().int().min(0).max(86_400).default(30),
  }).strict().prefault({}),
} as const;

export type ServerConfig = z.infer<z.ZodObject<typeof serverConfigFields>>;

export interface EffectiveServerConfig {
  address: string;
  readOnlyPort: number;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  clientCAFile?: string;
  /** Ask the cluster for the serving certificate (only paired, and only without tlsCertFile). */
  serverTLSBootstrap: boolean;
  webhook: boolean;
  anonymous: boolean;
  authorization: 'Webhook' | 'AlwaysAllow';
  tokenCacheTtlMs: number;
  authorizedTtlMs: number;
  unauthorizedTtlMs: number;
}

/** The settings in force; throws CONFIG_INVALID for a Webhook mode asked for without a kubeconfig. */
export function effectiveServerConfig(c: ServerConfig, paired: boolean): EffectiveServerConfig {
  if (!paired && c.authentication.webhook.enabled === true) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'authentication.webhook.enabled: needs a kubeconfig (TokenReview goes to the API server)');
  }
  if (!paired && c.authorization.mode === 'Webhook') {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'authorization.mode: Webhook needs a kubeconfig (SubjectAccessReview goes to the API server)');
  }
  if (Boolean(c.tlsCertFile) !== Boolean(c.tlsPrivateKeyFile)) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'tlsCertFile and tlsPrivateKeyFile must be given together');
  }
  if (!paired && c.serverTLSBootstrap) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'serverTLSBootstrap: needs a kubeconfig (the certificate is requested from the API server)');
  }
  const clientCAFile = c.authentication.x509.clientCAFile;
  return {
    address: c.address ?? (paired ? '0.0.0.0' : '127.0.0.1'),
    readOnlyPort: c.readOnlyPort,
    ...(c.tlsCertFile ? { tlsCertFile: c.tlsCertFile } : {}),
    ...(c.tlsPrivateKeyFile ? { tlsPrivateKeyFile: c.tlsPrivateKeyFile } : {}),
    ...(clientCAFile ? { clientCAFile } : {}),
    serverTLSBootstrap: c.serverTLSBootstrap && !c.tlsCertFile,
    webhook: paired && (c.authentication.webhook.enabled ?? true),
    anonymous: c.authentication.anonymous.enabled,
    authorization: c.authorization.mode ?? (paired ? 'Webhook' : 'AlwaysAllow'),
    tokenCacheTtlMs: c.authentication.webhook.cacheTTLSeconds * 1000,
    authorizedTtlMs: c.authorization.cacheAuthorizedTTLSeconds * 1000,
    unauthorizedTtlMs: c.authorization.cacheUnauthorizedTTLSeconds * 1000,
  };
}

// How to reach and authenticate to one kube-apiserver: the validated, frozen result of reading a
// kubeconfig or the in-cluster service-account files. The client and the watch code only read it.
import { readFileSync, statSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';

export interface KubeConnection {
  /** https://host:port (no trailing slash). */
  readonly server: string;
  /** Where the settings came from, for messages: "kubeconfig /path" or "in-cluster". */
  readonly source: string;
  /** PEM bundle of trusted CAs; undefined = the system roots. */
  readonly ca?: string;
  readonly insecureSkipTlsVerify: boolean;
  /** SNI / verification name override (kubeconfig tls-server-name). */
  readonly tlsServerName?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
  /** Returns the bearer token now in force (a token file is re-read when it changes). */
  readonly bearerToken?: () => string | undefined;
  /** The user the credential names, when it can be told (client-cert CN). */
  readonly userHint?: string;
  /** The context's default namespace, when set. */
  readonly namespace?: string;
}

/** TLS options for https.request / tls.connect / ws derived from a connection. */
export function tlsOptions(conn: KubeConnection): SecureContextOptions & { rejectUnauthorized: boolean; servername?: string } {
  const o: SecureContextOptions & { rejectUnauthorized: boolean; servername?: string } = {
    rejectUnauthorized: !conn.insecureSkipTlsVerify,
  };
  if (conn.ca) o.ca = conn.ca;
  if (conn.clientCert) o.cert = conn.clientCert;
  if (conn.clientKey) o.key = conn.clientKey;
  if (conn.tlsServerName) o.servername = conn.tlsServerName;
  return o;
}

/** The Authorization header for the connection, if it uses a bearer token. */
export function authHeader(conn: KubeConnection): Record<string, string> {
  const token = conn.bearerToken?.();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * A token source that re-reads `path` whenever its mtime or size changes (projected service-account
 * tokens rotate in place). Keeps serving the last good token if a re-read fails.
 */
export function fileTokenSource(path: string): () => string | undefined {
  let stamp = '';
  let token: string | undefined;
  return () => {
    try {
      const st = statSync(path);
      const s = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (s !== stamp) {
        const t = readFileSync(path, 'utf8').trim();
        stamp = s;
        token = t || undefined;
      }
    } catch {
      // keep the last token; the server will answer 401 if it is no longer valid
    }
    return token;
  };
}

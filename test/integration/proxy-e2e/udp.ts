// UDP pieces of the proxy end-to-end tests: a Deployment of the udpecho image (answers every
// datagram with "<hostname> <payload>"), its Service, and a one-datagram client that reports the
// reply or the error (ECONNREFUSED from an ICMP port unreachable) without throwing.
import dgram from 'node:dgram';

export const UDPECHO_IMAGE = 'dockerlet/udpecho:1.1';
export const UDPECHO_PORT = 5353;

/** A Deployment (label app=<name>) of udpecho on UDP 5353. */
export function udpDeployment(ns: string, name: string, replicas: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'echo', image: UDPECHO_IMAGE, imagePullPolicy: 'IfNotPresent', args: [String(UDPECHO_PORT)], ports: [{ containerPort: UDPECHO_PORT, protocol: 'UDP' }] }],
        },
      },
    },
  });
}

/** A NodePort Service for app=<app>, UDP port 53 → 5353. */
export function udpService(ns: string, name: string, app: string): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns },
    spec: { type: 'NodePort', selector: { app }, ports: [{ name: 'dns', port: 53, targetPort: UDPECHO_PORT, protocol: 'UDP' }] },
  });
}

export type UdpResult = { ok: true; from: string; text: string } | { ok: false; code: string };

/**
 * Sends one datagram from a fresh connected socket and waits for one reply. A connected UDP socket
 * gets an ICMP port unreachable as ECONNREFUSED; no reply within timeoutMs is TIMEOUT.
 */
export function udpAsk(host: string, port: number, payload: string, timeoutMs = 3000): Promise<UdpResult> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    let done = false;
    const finish = (r: UdpResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, code: 'TIMEOUT' }), timeoutMs);
    s.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, code: err.code ?? err.message }));
    s.on('message', (m) => {
      const text = m.toString();
      const sp = text.indexOf(' ');
      finish({ ok: true, from: sp > 0 ? text.slice(0, sp) : text, text: sp > 0 ? text.slice(sp + 1) : '' });
    });
    s.connect(port, host, () => s.send(payload));
  });
}

// serverTLSBootstrap on the real control plane: the agent serves a self-signed certificate, asks for a
// kubernetes.io/kubelet-serving certificate through a CSR, and once an operator approves it (kubectl
// certificate approve) serves the cluster-signed one, verifiable against the cluster CA at the node's IP;
// after a restart the stored certificate is served again without a new CSR.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, test } from 'node:test';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = `srv-tlsboot-${process.pid}`;
let bed: Bed;
let port: number;
let args: string[];

interface Csr { metadata: { name: string }; spec: { signerName: string; username: string }; status?: { certificate?: string } }

/** The certificate the kubelet port serves, and whether it verifies against ca for host. */
function served(host: string, ca?: string): Promise<{ cert: X509Certificate; verified: boolean; error?: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, rejectUnauthorized: false, ...(ca ? { ca } : {}) }, () => {
      const cert = new X509Certificate(s.getPeerCertificate().raw);
      resolve({ cert, verified: s.authorized, ...(s.authorizationError ? { error: String(s.authorizationError) } : {}) });
      s.end();
    });
    s.on('error', reject);
  });
}

async function csrs(): Promise<Csr[]> {
  const list = JSON.parse(await bed.kubectl(['get', 'csr', '-o', 'json'])) as { items: Csr[] };
  return list.items.filter((c) => c.spec.username === `system:node:${NODE}` && c.spec.signerName === 'kubernetes.io/kubelet-serving');
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  port = bed.kubeletPort;
  const config = join(bed.dir, 'config.yaml');
  await writeFile(config, 'serverTLSBootstrap: true\n');
  args = ['--config', config];
  await bed.startAgent(args);
});

after(async () => {
  await bed?.stop();
});

test('a kubelet-serving CSR, approved, becomes the served certificate; a restart reuses it', async () => {
  const ip = bed.cp.advertiseAddress;
  const before = await served(ip, bed.cp.caCertPem);
  assert.equal(before.verified, false, 'self-signed until the CSR is approved');
  assert.equal(before.cert.issuer, before.cert.subject);

  const csr = await bed.waitFor(async () => (await csrs())[0], { what: 'a kubelet-serving CSR from the node', timeoutMs: 30_000 });
  const text = await bed.kubectl(['get', 'csr', csr.metadata.name, '-o', 'jsonpath={.spec.request}']);
  const req = Buffer.from(text, 'base64').toString();
  assert.match(req, /BEGIN CERTIFICATE REQUEST/);
  await bed.kubectl(['certificate', 'approve', csr.metadata.name]);

  const after = await bed.waitFor(async () => {
    const s = await served(ip, bed.cp.caCertPem);
    return s.verified ? s : undefined;
  }, { what: 'the cluster-signed certificate served', timeoutMs: 60_000, intervalMs: 500 });
  assert.match(after.cert.subject, new RegExp(`CN=system:node:${NODE}`));
  assert.ok(after.cert.checkIP(ip), `names the node IP ${ip}: ${after.cert.subjectAltName}`);
  assert.ok(after.cert.checkIssued(new X509Certificate(bed.cp.caCertPem)));

  await bed.stopAgent();
  await bed.startAgent(args);
  const again = await bed.waitFor(async () => {
    const s = await served(ip, bed.cp.caCertPem);
    return s.verified ? s : undefined;
  }, { what: 'the stored certificate served after a restart', timeoutMs: 20_000, intervalMs: 250 });
  assert.equal(again.cert.serialNumber, after.cert.serialNumber);
  assert.equal((await csrs()).length, 1, 'no new CSR');
});

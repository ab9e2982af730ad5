// Client certificate rotation on an injected clock with a narrow fake API (the CSR endpoints only):
// nothing happens before 70 % of the certificate's life (random 0), then a new key and CSR for the
// same subject; a Denied CSR is logged and retried after a back-off, the next one — signed here by a
// test CA with openssl — becomes the current pair and the client is reloaded; a new certificate that
// is already due is not re-rotated in a tight loop.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClientCertificateRotation, type ReloadableClient } from '../../../kube/bootstrap/rotation.js';
import type { CertificateSigningRequest } from '../../../kube/certificates/request.js';
import { CertificateStore } from '../../../kube/certificates/store.js';
import { FakeClock } from '../../../lib/clock.js';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';

const tick = () => new Promise((r) => setImmediate(r));

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
}

test('rotation waits for 70 % of the life, retries a denied CSR after a back-off, then stores and reloads', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-rotation-'));
  try {
    // A test CA and a first node certificate (10 days) from it.
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-subj', '/CN=test-ca', '-days', '30']);
    const sign = (csrPem: string, serial: number) => {
      writeFileSync(join(dir, 'req.csr'), csrPem);
      return openssl(['x509', '-req', '-in', join(dir, 'req.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-days', '10', '-set_serial', String(serial)]);
    };
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'n.key'), '-out', join(dir, 'n.csr'), '-subj', '/O=system:nodes/CN=system:node:n1']);
    const store = new CertificateStore(join(dir, 'pki'));
    store.update(sign(readFileSync(join(dir, 'n.csr'), 'utf8'), 1), readFileSync(join(dir, 'n.key'), 'utf8'));
    const first = store.current()!;

    const csrs = new Map<string, CertificateSigningRequest>();
    let reloads = 0;
    const notFound = () => new DockerletError(ErrorCodes.KUBE_API, '404', { details: { status: 404 } });
    const client = {
      server: 'https://fake', reload: () => { reloads++; },
      async create<T>(_path: string, body: unknown): Promise<T> {
        const csr = structuredClone(body) as CertificateSigningRequest;
        const name = `csr-${csrs.size + 1}`;
        csr.metadata = { ...csr.metadata, name };
        const pem = Buffer.from(csr.spec.request, 'base64').toString();
        csr.status = csrs.size === 0
          ? { conditions: [{ type: 'Denied', status: 'True', reason: 'TestDenied', message: 'not this one' }] }
          : { conditions: [{ type: 'Approved', status: 'True', reason: 'AutoApproved' }], certificate: Buffer.from(sign(pem, 2)).toString('base64') };
        csrs.set(name, csr);
        return csr as T;
      },
      async get<T>(path: string): Promise<T> {
        const csr = csrs.get(path.split('/').pop()!);
        if (!csr) throw notFound();
        return csr as T;
      },
    } as unknown as ReloadableClient;

    const clock = new FakeClock(Date.parse(first.cert.validFrom));
    const rotated: string[] = [];
    const rotation = new ClientCertificateRotation({
      store, client, subject: { commonName: 'system:node:n1', organizations: ['system:nodes'] },
      log: silentLogger(), clock, random: () => 0, onRotated: (i) => rotated.push(i.csr),
    });
    const ac = new AbortController();
    await rotation.start(ac.signal);
    const life = Date.parse(first.cert.validTo) - Date.parse(first.cert.validFrom);
    clock.advance(life * 0.7 - 60_000);
    for (let i = 0; i < 20; i++) await tick();
    assert.equal(csrs.size, 0, 'nothing before 70 % of the life');

    for (let i = 0; i < 200 && rotated.length === 0; i++) {
      clock.advance(1000);
      for (let j = 0; j < 5; j++) await tick();
    }
    assert.deepEqual(rotated, ['csr-2'], 'the denied csr-1 was retried as csr-2');
    // The new certificate (issued on the real clock, 7 days "ago" here) is already due: the next
    // rotations back off (1 s, 2 s, 4 s ...) instead of spinning on the signer.
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      for (let j = 0; j < 5; j++) await tick();
    }
    assert.ok(rotated.length >= 2 && rotated.length <= 4, `backed-off re-rotations in 10 s: ${rotated.length - 1}`);
    const csr1 = csrs.get('csr-1')!;
    assert.equal(csr1.spec.signerName, 'kubernetes.io/kube-apiserver-client-kubelet');
    assert.deepEqual(csr1.spec.usages, ['digital signature', 'client auth']);
    assert.match(openssl(['req', '-noout', '-subject'], Buffer.from(csr1.spec.request, 'base64').toString()), /O ?= ?system:nodes, CN ?= ?system:node:n1/);
    const now = store.current()!;
    assert.equal(now.cert.serialNumber, '02');
    assert.notEqual(now.keyPem, first.keyPem, 'a new key');
    assert.equal(reloads, rotated.length, 'one reload per rotation');
    assert.equal(rotation.rotations, rotated.length);
    ac.abort();
    await rotation.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

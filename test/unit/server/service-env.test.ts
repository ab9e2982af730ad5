// Service environment variables as envvars.FromServices / getServiceEnvVarMap build them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { informerServiceEnv, serviceEnvFor } from '../../../agent/containers/service-env.js';
import type { Service } from '../../../kube/api-network.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';

const svc = (namespace: string, name: string, clusterIP: string, ports: Service['spec']['ports']): Service => ({ metadata: { namespace, name }, spec: { clusterIP, ports } });
const all: Service[] = [
  svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]),
  svc('default', 'other', '10.96.0.5', [{ port: 80 }]),
  svc('app', 'my-web', '10.96.3.4', [{ port: 80 }, { name: 'dns-udp', port: 53, protocol: 'UDP' }]),
  svc('app', 'headless', 'None', [{ port: 80 }]),
  svc('app', 'v6', 'fd00::10', [{ port: 8080, protocol: 'TCP' }]),
];

test('the pod\'s namespace and default/kubernetes, with docker link variables', () => {
  const env: Record<string, string> = serviceEnvFor(all, 'app', true);
  assert.equal(env.OTHER_SERVICE_HOST, undefined, 'other namespaces are not linked');
  assert.equal(env.HEADLESS_SERVICE_HOST, undefined, 'headless services have no variables');
  assert.deepEqual(env, {
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
    MY_WEB_SERVICE_HOST: '10.96.3.4',
    MY_WEB_SERVICE_PORT: '80',
    MY_WEB_SERVICE_PORT_DNS_UDP: '53',
    MY_WEB_PORT: 'tcp://10.96.3.4:80',
    MY_WEB_PORT_80_TCP: 'tcp://10.96.3.4:80',
    MY_WEB_PORT_80_TCP_PROTO: 'tcp',
    MY_WEB_PORT_80_TCP_PORT: '80',
    MY_WEB_PORT_80_TCP_ADDR: '10.96.3.4',
    MY_WEB_PORT_53_UDP: 'udp://10.96.3.4:53',
    MY_WEB_PORT_53_UDP_PROTO: 'udp',
    MY_WEB_PORT_53_UDP_PORT: '53',
    MY_WEB_PORT_53_UDP_ADDR: '10.96.3.4',
    V6_SERVICE_HOST: 'fd00::10',
    V6_SERVICE_PORT: '8080',
    V6_PORT: 'tcp://[fd00::10]:8080',
    V6_PORT_8080_TCP: 'tcp://[fd00::10]:8080',
    V6_PORT_8080_TCP_PROTO: 'tcp',
    V6_PORT_8080_TCP_PORT: '8080',
    V6_PORT_8080_TCP_ADDR: 'fd00::10',
  });
});

test('enableServiceLinks=false keeps only the master service; the default namespace sees its own', () => {
  assert.deepEqual(Object.keys(serviceEnvFor(all, 'app', false)).filter((k) => !k.startsWith('KUBERNETES_')), []);
  assert.equal(serviceEnvFor(all, 'default', true).OTHER_SERVICE_HOST, '10.96.0.5');
  // A "kubernetes" Service in the pod's own namespace wins over default/kubernetes, as upstream.
  const own = serviceEnvFor([...all, svc('app', 'kubernetes', '10.96.9.9', [{ port: 1 }])], 'app', true);
  assert.equal(own.KUBERNETES_SERVICE_HOST, '10.96.9.9');
});

test('before the informer has synced the container cannot be configured', async () => {
  let synced = false;
  const env = informerServiceEnv({ hasSynced: () => synced, list: () => all });
  await assert.rejects(env('app', true), (e) => isCode(e, ErrorCodes.CONTAINER_CONFIG));
  synced = true;
  assert.equal((await env('app', true)).KUBERNETES_SERVICE_HOST, '10.96.0.1');
});

// Builders for pure pod-worker unit tests (no runtime: ObservedContainer values made by hand).
import type { Container, Pod } from '../../../kube/api.js';
import type { ObservedContainer } from '../../../runtime/types.js';

export function pod(containers: Container[], extra: Partial<Pod['spec']> = {}): Pod {
  return { metadata: { name: 'p', namespace: 'ns', uid: 'u1' }, spec: { containers, ...extra } };
}

let seq = 0;
export function obs(name: string, over: Partial<ObservedContainer> = {}): ObservedContainer {
  seq++;
  return {
    id: `id${seq}`, dockerName: `k8s_${name}`, podUid: 'u1', podName: 'p', podNamespace: 'ns', containerName: name,
    kind: name === 'POD' ? 'sandbox' : 'container', attempt: 0, restartCount: 0, specHash: 'h', state: 'running',
    image: 'img', imageRef: 'docker://sha256:1', createdAt: '2026-01-01T00:00:00Z', startedAt: '2026-01-01T00:00:01Z',
    annotations: {}, ip: name === 'POD' ? '172.17.0.5' : undefined, ...over,
  };
}

export function exited(name: string, exitCode: number, over: Partial<ObservedContainer> = {}): ObservedContainer {
  return obs(name, { state: 'exited', exitCode, finishedAt: '2026-01-01T00:00:10Z', ...over });
}

// File payloads of configMap / secret / downwardAPI volumes (pkg/volume/{configmap,secret,downwardapi} MakePayload).
import type { ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret } from '../../kube/api.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { podFieldValue, resourceFieldValue, type Allocatable } from '../containers/fieldpath.js';

export interface FileProjection {
  data: Buffer;
  mode: number;
}

/** Relative path → file content and mode. */
export type Payload = Map<string, FileProjection>;

/** configMap/secret/downwardAPI/projected defaultMode when the volume does not set one. */
export const DEFAULT_MODE = 0o644;

/** A payload problem (missing key, bad field): VOLUME with details.reason 'payload'; the manager wraps it. */
function payloadError(message: string): DockerletError {
  return new DockerletError(ErrorCodes.VOLUME, message, { details: { reason: 'payload' } });
}

function fromMap(
  entries: [string, Buffer][],
  items: KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
  missing: (key: string) => string,
): Payload {
  const payload: Payload = new Map();
  if (!items || items.length === 0) {
    for (const [k, data] of entries) payload.set(k, { data, mode: defaultMode });
    return payload;
  }
  const byKey = new Map(entries);
  for (const it of items) {
    const data = byKey.get(it.key);
    if (data === undefined) {
      if (optional) continue;
      throw payloadError(missing(it.key));
    }
    payload.set(it.path, { data, mode: it.mode ?? defaultMode });
  }
  return payload;
}

export function configMapPayload(cm: ConfigMap, items: KeyToPath[] | undefined, defaultMode: number, optional: boolean): Payload {
  const entries: [string, Buffer][] = [
    ...Object.entries(cm.data ?? {}).map(([k, v]): [string, Buffer] => [k, Buffer.from(v, 'utf8')]),
    ...Object.entries(cm.binaryData ?? {}).map(([k, v]): [string, Buffer] => [k, Buffer.from(v, 'base64')]),
  ];
  return fromMap(entries, items, defaultMode, optional, (k) => `configmap references non-existent config key: ${k}`);
}

export function secretPayload(secret: Secret, items: KeyToPath[] | undefined, defaultMode: number, optional: boolean): Payload {
  const entries = Object.entries(secret.data ?? {}).map(([k, v]): [string, Buffer] => [k, Buffer.from(v, 'base64')]);
  return fromMap(entries, items, defaultMode, optional, (k) => `references non-existent secret key: ${k}`);
}

/** downwardAPI items: fieldRef (metadata.*) and resourceFieldRef (containerName required) files. */
export function downwardApiPayload(pod: Pod, items: DownwardAPIVolumeFile[] | undefined, defaultMode: number, alloc: Allocatable): Payload {
  const payload: Payload = new Map();
  const errors: string[] = [];
  for (const it of items ?? []) {
    let value = '';
    try {
      if (it.fieldRef) value = podFieldValue(pod, it.fieldRef.fieldPath, {}, it.fieldRef.apiVersion);
      else if (it.resourceFieldRef) value = resourceFieldValue(pod, undefined, it.resourceFieldRef, alloc);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
      continue;
    }
    payload.set(it.path, { data: Buffer.from(value, 'utf8'), mode: it.mode ?? defaultMode });
  }
  if (errors.length) throw payloadError(errors.join('; '));
  return payload;
}

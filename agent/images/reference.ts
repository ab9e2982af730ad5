// Image references as the kubelet parses them (github.com/distribution/reference: ReferenceRegexp,
// ParseNormalizedNamed, and go-digest's validation; kubelet pkg/util/parsers ParseImageName):
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [domain "/"] remote-name;  domain := (domain-name | "[" IPv6 "]") [":" port]
//   digest    := algorithm ":" hex  — sha256 (64), sha384 (96), sha512 (128) lowercase hex
// The name is at most 255 characters and lowercase; a bare 64-hex identifier is refused. Normalising
// adds docker.io (and library/ for one-component names) and the :latest tag when neither tag nor
// digest is given. Pure.

import { DockerletError, ErrorCodes } from '../../lib/errors.js';

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const IDENTIFIER = /^[a-f0-9]{64}$/;
/** go-digest's registered algorithms and their encoded lengths. */
const DIGEST_HEX: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const NAME_MAX = 255;

export const DEFAULT_DOMAIN = 'docker.io';

export interface ImageReference {
  /** The registry host[:port] (docker.io when none was given). */
  domain: string;
  /** The repository path within the registry (library/ added for docker.io one-component names). */
  path: string;
  tag?: string;
  digest?: string;
}

/** A reference distribution/reference refuses (INVALID_IMAGE_NAME, distribution's wording). */
export class ImageReferenceError extends DockerletError {
  constructor(message: string) {
    super(ErrorCodes.INVALID_IMAGE_NAME, message);
    this.name = 'ImageReferenceError';
  }
}

/** The first component is a registry when it has a '.' or ':', is localhost, or has uppercase letters. */
function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  if (i < 0) return [DEFAULT_DOMAIN, `library/${name}`];
  const first = name.slice(0, i);
  const rest = name.slice(i + 1);
  if (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first) return [DEFAULT_DOMAIN, name];
  if (first === 'index.docker.io') return [DEFAULT_DOMAIN, rest.includes('/') ? rest : `library/${rest}`];
  if (first === DEFAULT_DOMAIN && !rest.includes('/')) return [DEFAULT_DOMAIN, `library/${rest}`];
  return [first, rest];
}

/**
 * ParseNormalizedNamed: the reference's parts, or ImageReferenceError with distribution's wording
 * ("invalid reference format", "repository name must be lowercase", …).
 */
export function parseImageReference(ref: string): ImageReference {
  if (ref === '') throw new ImageReferenceError('repository name must have at least one component');
  if (IDENTIFIER.test(ref)) throw new ImageReferenceError(`invalid repository name (${ref}), cannot specify 64-byte hexadecimal strings`);
  const m = REFERENCE.exec(ref);
  if (!m) {
    const lower = REFERENCE.exec(ref.toLowerCase());
    throw new ImageReferenceError(lower ? 'invalid reference format: repository name (must be lowercase)' : 'invalid reference format');
  }
  const [, name, tag, digest] = m as unknown as [string, string, string | undefined, string | undefined];
  if (name.length > NAME_MAX) throw new ImageReferenceError(`invalid reference format: repository name must not be more than ${NAME_MAX} characters`);
  const [domain, path] = splitDomain(name);
  if (path.toLowerCase() !== path) throw new ImageReferenceError('invalid reference format: repository name (must be lowercase)');
  const out: ImageReference = { domain, path };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) {
    const [alg, hex] = digest.split(':') as [string, string];
    const want = DIGEST_HEX[alg];
    if (want === undefined) throw new ImageReferenceError('unsupported digest algorithm');
    if (hex.length !== want || !/^[a-f0-9]+$/.test(hex)) throw new ImageReferenceError('invalid checksum digest format');
    out.digest = digest;
  }
  return out;
}

export function isValidImageRef(ref: string): boolean {
  try {
    parseImageReference(ref);
    return true;
  } catch {
    return false;
  }
}

/** domain/path (the repository to pull; credentials are looked up for it). */
export function repositoryOf(r: ImageReference): string {
  return `${r.domain}/${r.path}`;
}

/** kubelet applyDefaultImageTag + ParseImageName: the full reference with :latest when untagged and undigested. */
export function normalizedReference(r: ImageReference): string {
  let s = repositoryOf(r);
  if (r.tag !== undefined) s += `:${r.tag}`;
  else if (r.digest === undefined) s += ':latest';
  if (r.digest !== undefined) s += `@${r.digest}`;
  return s;
}

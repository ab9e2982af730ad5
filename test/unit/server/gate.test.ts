// The kubelet API gate: attribute mapping (auth.go GetRequestAttributes), the authentication order
// (x509, token, anonymous only without credentials) and the TokenReview / SubjectAccessReview caches.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { canonicalPath, requestAttributes, subresourcesFor, verbFor } from '../../../agent/server/attributes.js';
import { bearerToken, Gate, userFromCertificate, type GateOptions } from '../../../agent/server/gate.js';
import type { AccessReviewResult, ReviewClient, TokenReviewResult } from '../../../agent/server/reviews.js';
import type { RequestAttributes, UserInfo } from '../../../agent/server/types.js';
import { FakeClock } from '../../../lib/clock.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';

test('verbs follow the HTTP method', () => {
  assert.deepEqual(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map(verbFor), ['get', 'get', 'create', 'update', 'patch', 'delete', undefined]);
});

test('subresources follow the path as GetRequestAttributes maps it', () => {
  const cases: [string, string[]][] = [
    ['/stats/summary', ['stats']],
    ['/stats', ['stats']],
    ['/statsx', ['proxy']],
    ['/metrics', ['metrics']],
    ['/metrics/cadvisor', ['metrics']],
    ['/metricsfoo', ['proxy']],
    ['/logs/', ['log']],
    ['/logs/syslog', ['log']],
    ['/checkpoint/ns/p/c', ['checkpoint']],
    ['/pods', ['pods', 'proxy']],
    ['/runningpods/', ['pods', 'proxy']],
    ['/healthz/syncloop', ['healthz', 'proxy']],
    ['/configz', ['configz', 'proxy']],
    ['/containerLogs/ns/p/c', ['proxy']],
    ['/exec/ns/p/c', ['proxy']],
    ['/portForward/ns/p', ['proxy']],
    ['/', ['proxy']],
  ];
  for (const [path, subs] of cases) assert.deepEqual(subresourcesFor(path), subs, path);
});

test('the path is decoded and dot segments resolved before mapping (no /metrics/../exec bypass)', () => {
  assert.equal(canonicalPath('/metrics/../exec/ns/p/c?command=sh'), '/exec/ns/p/c');
  assert.equal(canonicalPath('/metrics/%2e%2e/pods'), '/pods');
  assert.equal(canonicalPath('/%zz'), undefined);
  const a = requestAttributes('node-a', 'POST', '/metrics/../exec/ns/p/c?command=sh');
  assert.deepEqual(a.map((x) => [x.verb, x.resource, x.subresource, x.name]), [['create', 'nodes', 'proxy', 'node-a']]);
});

test('certificate subjects and bearer headers', () => {
  assert.deepEqual(userFromCertificate({ CN: 'kube-apiserver', O: ['system:masters', 'x'] }), { username: 'kube-apiserver', groups: ['system:masters', 'x'] });
  assert.deepEqual(userFromCertificate({ CN: 'u', O: 'g' }), { username: 'u', groups: ['g'] });
  assert.equal(userFromCertificate({ O: 'g' }), undefined);
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('bearer   abc  '), 'abc');
  assert.equal(bearerToken('Bearer'), '');
  assert.equal(bearerToken('Basic Zm9v'), undefined);
  assert.equal(bearerToken(undefined), undefined);
});

class FakeReviews implements ReviewClient {
  tokenCalls = 0;
  accessCalls: RequestAttributes[] = [];
  tokens = new Map<string, UserInfo>();
  allow: (u: UserInfo, a: RequestAttributes) => boolean = () => false;
  fail = false;
  async tokenReview(token: string): Promise<TokenReviewResult> {
    this.tokenCalls++;
    if (this.fail) throw new Error('apiserver down');
    const user = this.tokens.get(token);
    return user ? { authenticated: true, user } : { authenticated: false, error: 'invalid token' };
  }
  async accessReview(user: UserInfo, a: RequestAttributes): Promise<AccessReviewResult> {
    this.accessCalls.push(a);
    if (this.fail) throw new Error('apiserver down');
    return { allowed: this.allow(user, a) };
  }
}

function req(opts: { method?: string; url: string; token?: string; cert?: { CN?: string; O?: string }; authorized?: boolean }): IncomingMessage {
  const socket = {
    authorized: opts.authorized ?? false,
    authorizationError: opts.authorized ? undefined : 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    getPeerCertificate: () => (opts.cert ? { subject: opts.cert } : {}),
  };
  return { method: opts.method ?? 'GET', url: opts.url, headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {}, socket } as unknown as IncomingMessage;
}

function gate(reviews: FakeReviews, clock: FakeClock, o: Partial<GateOptions> = {}): Gate {
  return new Gate({ nodeName: 'n1', x509: true, webhook: true, anonymous: false, authorization: 'Webhook', reviews, clock, ...o });
}

test('no credentials → 401; anonymous only when enabled, and never over a bad credential', async () => {
  const r = new FakeReviews();
  const clock = new FakeClock();
  assert.deepEqual(await gate(r, clock).check(req({ url: '/pods' })), { allowed: false, status: 401, message: 'Unauthorized' });
  const anon = gate(r, clock, { anonymous: true });
  r.allow = (u) => u.username === 'system:anonymous';
  const ok = await anon.check(req({ url: '/healthz' }));
  assert.ok(ok.allowed && ok.user.username === 'system:anonymous' && ok.user.groups.includes('system:unauthenticated'));
  assert.equal((await anon.check(req({ url: '/healthz', token: 'bogus' }))).allowed, false);
  const bad = await anon.check(req({ url: '/healthz', cert: { CN: 'x' }, authorized: false }));
  assert.ok(!bad.allowed && bad.status === 401);
});

test('a verified client certificate is the user; an unverified one is refused', async () => {
  const r = new FakeReviews();
  r.allow = (u, a) => u.username === 'kube-apiserver' && a.subresource === 'proxy';
  const g = gate(r, new FakeClock());
  const ok = await g.check(req({ url: '/containerLogs/ns/p/c', cert: { CN: 'kube-apiserver', O: 'system:masters' }, authorized: true }));
  assert.ok(ok.allowed);
  assert.deepEqual(ok.user, { username: 'kube-apiserver', groups: ['system:masters'] });
  assert.deepEqual(ok.attributes, { verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'n1', path: '/containerLogs/ns/p/c' });
  const refused = await g.check(req({ url: '/pods', cert: { CN: 'kube-apiserver' }, authorized: false }));
  assert.ok(!refused.allowed && refused.status === 401);
  // Without a client CA configured, certificates are not looked at at all.
  const noX509 = await gate(r, new FakeClock(), { x509: false }).check(req({ url: '/pods', cert: { CN: 'kube-apiserver' }, authorized: true }));
  assert.ok(!noX509.allowed && noX509.status === 401);
});

test('tokens: TokenReview cached for 2 minutes; 403 names the attributes; fine-grained then proxy', async () => {
  const r = new FakeReviews();
  const clock = new FakeClock();
  r.tokens.set('t1', { username: 'alice', groups: ['devs'] });
  const g = gate(r, clock);
  const denied = await g.check(req({ url: '/pods', token: 't1' }));
  assert.deepEqual(denied, { allowed: false, status: 403, message: 'Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[pods proxy])' });
  assert.deepEqual(r.accessCalls.map((a) => a.subresource), ['pods', 'proxy']);
  await g.check(req({ url: '/pods', token: 't1' }));
  assert.equal(r.tokenCalls, 1, 'token review cached');
  assert.equal(r.accessCalls.length, 2, 'denials cached');
  clock.advance(121_000);
  await g.check(req({ url: '/pods', token: 't1' }));
  assert.equal(r.tokenCalls, 2, 'token cache expired after 2 min');
  assert.equal(r.accessCalls.length, 4, 'denial cache expired after 30 s');
  // An unknown token is not authenticated → 401, and that answer is cached too.
  assert.equal((await g.check(req({ url: '/pods', token: 'nope' }))).allowed, false);
  await g.check(req({ url: '/pods', token: 'nope' }));
  assert.equal(r.tokenCalls, 3);
});

test('authorization cache: 5 minutes for allowed, 30 seconds for denied; errors are not cached', async () => {
  const r = new FakeReviews();
  const clock = new FakeClock();
  r.tokens.set('t', { username: 'bob', groups: [] });
  let allowed = true;
  r.allow = (_u, a) => allowed && a.subresource === 'proxy';
  const g = gate(r, clock);
  const url = '/exec/ns/p/c?command=true';
  assert.ok((await g.check(req({ method: 'POST', url, token: 't' }))).allowed);
  assert.deepEqual(r.accessCalls.map((a) => `${a.verb}/${a.subresource}`), ['create/proxy']);
  allowed = false;
  clock.advance(299_000);
  assert.ok((await g.check(req({ method: 'POST', url, token: 't' }))).allowed, 'still cached at 4m59s');
  clock.advance(2_000);
  assert.equal((await g.check(req({ method: 'POST', url, token: 't' }))).allowed, false, 'expired after 5 min');
  allowed = true;
  clock.advance(29_000);
  assert.equal((await g.check(req({ method: 'POST', url, token: 't' }))).allowed, false, 'denial cached for 30 s');
  clock.advance(2_000);
  assert.ok((await g.check(req({ method: 'POST', url, token: 't' }))).allowed);

  r.fail = true;
  await assert.rejects(g.check(req({ method: 'GET', url: '/configz', token: 't' })), (e) => isCode(e, ErrorCodes.SERVER));
  r.fail = false;
  assert.ok((await g.check(req({ method: 'GET', url: '/configz', token: 't' }))).allowed, 'the error was not cached');
});

test('concurrent requests with one token share one TokenReview; AlwaysAllow asks nothing', async () => {
  const r = new FakeReviews();
  r.tokens.set('t', { username: 'c', groups: [] });
  r.allow = () => true;
  const g = gate(r, new FakeClock());
  const all = await Promise.all(Array.from({ length: 20 }, () => g.check(req({ url: '/pods', token: 't' }))));
  assert.ok(all.every((x) => x.allowed));
  assert.equal(r.tokenCalls, 1);
  const aa = gate(new FakeReviews(), new FakeClock(), { authorization: 'AlwaysAllow', webhook: false, reviews: undefined });
  const res = await aa.check(req({ url: '/pods', cert: { CN: 'x' }, authorized: true }));
  assert.ok(res.allowed && res.attributes.subresource === 'pods');
  assert.throws(() => gate(r, new FakeClock(), { reviews: undefined }), (e) => isCode(e, ErrorCodes.CONFIG_INVALID));
});

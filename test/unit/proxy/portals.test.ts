import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allChainNames, chainNames, renderCleanup, renderJumpFixes, renderRestore, tokenize, type PortalSpec } from '../../../proxy/portals.js';

const specs: PortalSpec[] = [
  { key: 'kube-system/dns:dns', protocol: 'UDP', ips: ['10.96.0.10'], port: 53, nodePort: 30053, listenerPort: 40001, hostAddresses: { '10.96.0.10': '192.0.2.2' } },
  { key: 'default/web:http', protocol: 'TCP', ips: ['10.96.0.20', '192.0.2.7'], port: 80, nodePort: 30080, listenerPort: 40002, hostAddresses: { '10.96.0.20': '192.0.2.2', '192.0.2.7': '192.0.2.7' } },
  { key: 'default/none:x', protocol: 'TCP', ips: ['10.96.0.30'], port: 81, nodePort: 0, listenerPort: 0 },
  { key: 'default/empty:q', protocol: 'UDP', ips: ['10.96.0.40'], port: 5353, nodePort: 0, listenerPort: 40003, refuse: 'REJECT' },
  { key: 'default/local:t', protocol: 'TCP', ips: ['10.96.0.50'], port: 8080, nodePort: 0, listenerPort: 40004, refuse: 'DROP' },
  {
    key: 'default/lb:https', protocol: 'TCP', ips: ['10.96.0.60', '192.0.2.60'], port: 443, nodePort: 0, listenerPort: 40005,
    firewall: { ips: ['192.0.2.60'], sources: ['198.51.100.0/24', '203.0.113.7/32'] },
  },
];

const EMPTY_FILTER = '-P INPUT ACCEPT\n';
const EMPTY_BUILTINS = '-P PREROUTING ACCEPT\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\n-P OUTPUT ACCEPT\n-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER\n-A OUTPUT -d 10.96.0.0/12 -o eth0 -m comment --comment dockerlet-egress-guard -j REJECT --reject-with icmp-port-unreachable\n';

test('renders the whole table as one restore batch (golden): host traffic to node addresses, never loopback; the loopback guard', () => {
  const got = renderRestore(specs, { prefix: 'DOCKERLET', nodeIP: '192.0.2.9' }, { nat: EMPTY_BUILTINS, filter: EMPTY_FILTER });
  assert.equal(got, `*nat
:DOCKERLET-PORTALS-CONTAINER - [0:0]
:DOCKERLET-PORTALS-HOST - [0:0]
:DOCKERLET-NODEPORT-CONTAINER - [0:0]
:DOCKERLET-NODEPORT-HOST - [0:0]
-I PREROUTING 1 -m comment --comment "dockerlet service portals" -j DOCKERLET-PORTALS-CONTAINER
-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "dockerlet service nodeports" -j DOCKERLET-NODEPORT-CONTAINER
-I OUTPUT 1 -m comment --comment "dockerlet service portals" -j DOCKERLET-PORTALS-HOST
-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "dockerlet service nodeports" -j DOCKERLET-NODEPORT-HOST
-A DOCKERLET-PORTALS-CONTAINER -d 10.96.0.40/32 -p udp -m comment --comment "default/empty:q" -m udp --dport 5353 -j REDIRECT --to-ports 40003
-A DOCKERLET-PORTALS-HOST -d 10.96.0.40/32 -p udp -m comment --comment "default/empty:q" -m udp --dport 5353 -j DNAT --to-destination 192.0.2.9:40003
-A DOCKERLET-PORTALS-CONTAINER -d 10.96.0.60/32 -p tcp -m comment --comment "default/lb:https" -m tcp --dport 443 -j REDIRECT --to-ports 40005
-A DOCKERLET-PORTALS-HOST -d 10.96.0.60/32 -p tcp -m comment --comment "default/lb:https" -m tcp --dport 443 -j DNAT --to-destination 192.0.2.9:40005
-A DOCKERLET-PORTALS-CONTAINER -s 198.51.100.0/24 -d 192.0.2.60/32 -p tcp -m comment --comment "default/lb:https" -m tcp --dport 443 -j REDIRECT --to-ports 40005
-A DOCKERLET-PORTALS-HOST -s 198.51.100.0/24 -d 192.0.2.60/32 -p tcp -m comment --comment "default/lb:https" -m tcp --dport 443 -j DNAT --to-destination 192.0.2.9:40005
-A DOCKERLET-PORTALS-CONTAINER -s 203.0.113.7/32 -d 192.0.2.60/32 -p tcp -m comment --comment "default/lb:https" -m tcp --dport 443 -j REDIRECT --to-ports 40005
-A DOCKERLET-PORTALS-HOST -s 203.0.113.7/32 -d 192.0.2.60/32 -p tcp -m comment --comment "default/lb:https" -m tcp --dport 443 -j DNAT --to-destination 192.0.2.9:40005
-A DOCKERLET-PORTALS-CONTAINER -d 10.96.0.50/32 -p tcp -m comment --comment "default/local:t" -m tcp --dport 8080 -j REDIRECT --to-ports 40004
-A DOCKERLET-PORTALS-HOST -d 10.96.0.50/32 -p tcp -m comment --comment "default/local:t" -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.9:40004
-A DOCKERLET-PORTALS-CONTAINER -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 40002
-A DOCKERLET-PORTALS-HOST -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.0.2.2:40002
-A DOCKERLET-PORTALS-CONTAINER -d 192.0.2.7/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 40002
-A DOCKERLET-PORTALS-HOST -d 192.0.2.7/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.0.2.7:40002
-A DOCKERLET-NODEPORT-CONTAINER -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j REDIRECT --to-ports 40002
-A DOCKERLET-NODEPORT-HOST -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j DNAT --to-destination :40002
-A DOCKERLET-PORTALS-CONTAINER -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 53 -j REDIRECT --to-ports 40001
-A DOCKERLET-PORTALS-HOST -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 53 -j DNAT --to-destination 192.0.2.2:40001
-A DOCKERLET-NODEPORT-CONTAINER -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 30053 -j REDIRECT --to-ports 40001
-A DOCKERLET-NODEPORT-HOST -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 30053 -j DNAT --to-destination :40001
COMMIT
*filter
:DOCKERLET-SERVICES - [0:0]
:DOCKERLET-FIREWALL - [0:0]
:DOCKERLET-LOOPBACK-GUARD - [0:0]
-I INPUT 1 -m comment --comment "dockerlet loopback guard" -j DOCKERLET-LOOPBACK-GUARD
-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "dockerlet service refusals" -j DOCKERLET-SERVICES
-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "dockerlet load balancer firewall" -j DOCKERLET-FIREWALL
-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "dockerlet load balancer firewall" -j DOCKERLET-FIREWALL
-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "dockerlet load balancer firewall" -j DOCKERLET-FIREWALL
-A DOCKERLET-LOOPBACK-GUARD -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m comment --comment "dockerlet: block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A DOCKERLET-SERVICES -p udp -m comment --comment "default/empty:q has no endpoints" -m udp --dport 40003 -j REJECT --reject-with icmp-port-unreachable
-A DOCKERLET-SERVICES -p tcp -m comment --comment "default/local:t has no local endpoints" -m tcp --dport 40004 -j DROP
-A DOCKERLET-FIREWALL -d 192.0.2.60/32 -p tcp -m comment --comment "default/lb:https traffic not accepted by loadBalancerSourceRanges" -m tcp --dport 443 -j DROP
COMMIT
`);
});

test('a listener bound to one address gets DNAT for container traffic (and UDP NodePort host traffic)', () => {
  const got = renderRestore([specs[0]!], { prefix: 'DKL', containerDnatIP: '172.17.0.1' }, { nat: '', filter: '' });
  assert.match(got, /^-A DKL-PORTALS-CONTAINER -d 10\.96\.0\.10\/32 -p udp .* -j DNAT --to-destination 172\.17\.0\.1:40001$/m);
  assert.match(got, /^-A DKL-PORTALS-HOST -d 10\.96\.0\.10\/32 -p udp .* -j DNAT --to-destination 172\.17\.0\.1:40001$/m, 'host traffic too: the listener has no other address');
  assert.match(got, /^-A DKL-NODEPORT-HOST -p udp .* --dport 30053 -j DNAT --to-destination 172\.17\.0\.1:40001$/m);
});

test('jump fixes: nothing when exactly one of each exists; duplicates and stale variants are deleted; foreign rules untouched', () => {
  const ok = `${EMPTY_BUILTINS}
-A PREROUTING -m comment --comment "dockerlet service portals" -j DOCKERLET-PORTALS-CONTAINER
-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "dockerlet service nodeports" -j DOCKERLET-NODEPORT-CONTAINER
-A OUTPUT -m comment --comment "dockerlet service portals" -j DOCKERLET-PORTALS-HOST
-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "dockerlet service nodeports" -j DOCKERLET-NODEPORT-HOST
`;
  assert.deepEqual(renderJumpFixes('DOCKERLET', ok), []);
  const messy = `${ok}-A PREROUTING -m comment --comment "dockerlet service portals" -j DOCKERLET-PORTALS-CONTAINER
-A OUTPUT -j DOCKERLET-PORTALS-HOST
-A OUTPUT -j DKLTEST-PORTALS-HOST
`;
  assert.deepEqual(renderJumpFixes('DOCKERLET', messy), [
    '-D PREROUTING -m comment --comment "dockerlet service portals" -j DOCKERLET-PORTALS-CONTAINER',
    '-D OUTPUT -j DOCKERLET-PORTALS-HOST',
  ]);
});

test('host traffic goes to hostListenerPort when set (externalTrafficPolicy Local: the cluster listener)', () => {
  const ext: PortalSpec = { key: 'ns/lb:http/external', protocol: 'TCP', ips: ['10.99.0.1'], port: 80, nodePort: 30081, listenerPort: 40010, hostListenerPort: 40009 };
  const got = renderRestore([ext], { prefix: 'DKL', nodeIP: '192.0.2.2' }, { nat: '', filter: '' });
  assert.match(got, /^-A DKL-PORTALS-CONTAINER -d 10\.99\.0\.1\/32 .* -j REDIRECT --to-ports 40010$/m);
  assert.match(got, /^-A DKL-PORTALS-HOST -d 10\.99\.0\.1\/32 .* -j DNAT --to-destination 192\.0\.2\.2:40009$/m);
  assert.match(got, /^-A DKL-NODEPORT-CONTAINER .* --dport 30081 -j REDIRECT --to-ports 40010$/m);
  assert.match(got, /^-A DKL-NODEPORT-HOST .* --dport 30081 -j DNAT --to-destination :40009$/m);
  assert.doesNotMatch(got, /127\.0\.0\.1/, 'nothing is DNATed to loopback');
  // No node address known: the host's own traffic to the IP is left alone rather than sent to loopback.
  assert.doesNotMatch(renderRestore([ext], { prefix: 'DKL' }, { nat: '', filter: '' }), /^-A DKL-PORTALS-HOST /m);
  assert.doesNotMatch(got, / -i /);
  // With the pods' bridge known, their traffic goes to the cluster listener first; others fall through.
  const bridged = renderRestore([ext], { prefix: 'DKL', nodeIP: '192.0.2.2', podBridgeInterface: 'docker0' }, { nat: '', filter: '' }).split('\n');
  const container = bridged.filter((l) => l.startsWith('-A DKL-PORTALS-CONTAINER '));
  assert.equal(container.length, 2);
  assert.match(container[0]!, / -i docker0 -j REDIRECT --to-ports 40009$/);
  assert.match(container[1]!, /--dport 80 -j REDIRECT --to-ports 40010$/);
  const nodePort = bridged.filter((l) => l.startsWith('-A DKL-NODEPORT-CONTAINER '));
  assert.deepEqual(nodePort.map((l) => l.split(' -j ')[1]), ['REDIRECT --to-ports 40009', 'REDIRECT --to-ports 40010']);
  assert.match(nodePort[0]!, / -i docker0 /);
  // Entries without a cluster listener to go to are unchanged.
  assert.doesNotMatch(renderRestore(specs, { prefix: 'DKL', nodeIP: '192.0.2.2', podBridgeInterface: 'docker0' }, { nat: '', filter: '' }), / -i /);
});

test('jump fixes in the filter table: one refusals jump from INPUT, one firewall jump from INPUT, FORWARD and OUTPUT; a stale one replaced', () => {
  const want = '-A INPUT -m conntrack --ctstate NEW -m comment --comment "dockerlet service refusals" -j DOCKERLET-SERVICES';
  const fw = (c: string) => `-A ${c} -m conntrack --ctstate NEW -m comment --comment "dockerlet load balancer firewall" -j DOCKERLET-FIREWALL`;
  const guard = '-A INPUT -m comment --comment "dockerlet loopback guard" -j DOCKERLET-LOOPBACK-GUARD';
  const all = [want, guard, fw('INPUT'), fw('FORWARD'), fw('OUTPUT')].join('\n');
  assert.deepEqual(renderJumpFixes('DOCKERLET', `${EMPTY_FILTER}${all}\n`, 'filter'), []);
  assert.deepEqual(renderJumpFixes('DOCKERLET', `${EMPTY_FILTER}-A INPUT -j DOCKERLET-SERVICES\n${guard}\n${fw('INPUT')}\n${fw('OUTPUT')}\n`, 'filter'), [
    '-D INPUT -j DOCKERLET-SERVICES',
    want.replace('-A INPUT', '-I INPUT 1'),
    fw('FORWARD').replace('-A FORWARD', '-I FORWARD 1'),
  ]);
});

test('cleanup deletes every jump to our chains, then flushes and deletes them, in both tables', () => {
  const cur = `${EMPTY_BUILTINS}-A PREROUTING -m comment --comment "dkt service portals" -j DKT-PORTALS-CONTAINER\n-A OUTPUT -m addrtype --dst-type LOCAL -j DKT-NODEPORT-HOST\n`;
  const filter = `${EMPTY_FILTER}-A INPUT -m conntrack --ctstate NEW -j DKT-SERVICES\n-A INPUT -j ACCEPT\n-A FORWARD -j DKT-FIREWALL\n`;
  assert.equal(renderCleanup('DKT', { nat: cur, filter }), `*nat
-D PREROUTING -m comment --comment "dkt service portals" -j DKT-PORTALS-CONTAINER
-D OUTPUT -m addrtype --dst-type LOCAL -j DKT-NODEPORT-HOST
:DKT-PORTALS-CONTAINER - [0:0]
:DKT-PORTALS-HOST - [0:0]
:DKT-NODEPORT-CONTAINER - [0:0]
:DKT-NODEPORT-HOST - [0:0]
-X DKT-PORTALS-CONTAINER
-X DKT-PORTALS-HOST
-X DKT-NODEPORT-CONTAINER
-X DKT-NODEPORT-HOST
COMMIT
*filter
-D INPUT -m conntrack --ctstate NEW -j DKT-SERVICES
-D FORWARD -j DKT-FIREWALL
:DKT-SERVICES - [0:0]
:DKT-FIREWALL - [0:0]
:DKT-LOOPBACK-GUARD - [0:0]
-X DKT-SERVICES
-X DKT-FIREWALL
-X DKT-LOOPBACK-GUARD
COMMIT
`);
});

test('chain names fit iptables limits with the default prefix; tokenizer keeps quoted words', () => {
  for (const n of allChainNames('DOCKERLET')) assert.ok(n.length <= 28, n);
  assert.equal(Object.keys(chainNames('X')).length, 4);
  assert.deepEqual(tokenize('-A X -m comment --comment "a b" -j Y'), ['-A', 'X', '-m', 'comment', '--comment', 'a b', '-j', 'Y']);
});

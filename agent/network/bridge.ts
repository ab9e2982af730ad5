// The node's pod bridge as a Docker network, as kubenet's cbr0 (v1.23 dockershim/network/kubenet): a
// bridge on spec.podCIDR with the gateway at the first address, the uplink's MTU, Docker's own
// masquerade off and kubenet's `! -d <nonMasqueradeCIDR> -j MASQUERADE` instead, plus FORWARD accepts
// for routed cluster traffic. Created, or adopted when a network of that name already has the subnet.
import type Dockerode from 'dockerode';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { HostNet } from './host.js';
import { FILTER_CHAIN, NAT_CHAIN, networkMatches, planPodNetwork, type PodNetworkPlan } from './plan.js';

export interface BridgeOptions {
  name?: string;
  nonMasqueradeCIDR?: string;
  /** Fixed MTU; default the default-route interface's. */
  mtu?: number;
}

interface NetworkInfo {
  Driver?: string;
  IPAM?: { Config?: { Subnet?: string }[] };
  Containers?: Record<string, unknown>;
}

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** Creates or adopts the Docker network for podCIDR and installs the iptables rules; returns the plan applied. */
export async function ensurePodBridge(docker: Dockerode, host: HostNet, podCIDR: string, opts: BridgeOptions, log: Logger): Promise<PodNetworkPlan> {
  const mtu = opts.mtu ?? (await host.uplinkMtu()) ?? 0;
  let plan: PodNetworkPlan;
  try {
    plan = planPodNetwork({ podCIDR, mtu, ...(opts.name ? { name: opts.name } : {}), ...(opts.nonMasqueradeCIDR ? { nonMasqueradeCIDR: opts.nonMasqueradeCIDR } : {}) });
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `pod network: ${errorMessage(err)}`, { cause: err });
  }
  const net = docker.getNetwork(plan.name);
  let existing: NetworkInfo | undefined;
  try {
    existing = (await net.inspect()) as NetworkInfo;
  } catch (err) {
    if (statusCode(err) !== 404) throw new DockerletError(ErrorCodes.RUNTIME, `inspect network ${plan.name}: ${errorMessage(err)}`, { cause: err });
  }
  if (existing && !networkMatches(plan, existing)) {
    const users = Object.keys(existing.Containers ?? {}).length;
    if (users > 0) {
      throw new DockerletError(ErrorCodes.RUNTIME, `network ${plan.name} exists with another subnet and ${users} containers attached; podCIDR is now ${plan.subnet}`, {
        details: { network: plan.name, subnet: plan.subnet, attached: users },
      });
    }
    log.warn({ network: plan.name, subnet: plan.subnet, had: existing.IPAM?.Config }, 'pod network has a stale subnet: recreating it');
    await net.remove();
    existing = undefined;
  }
  if (!existing) {
    try {
      await docker.createNetwork(plan.create);
      log.info({ network: plan.name, subnet: plan.subnet, gateway: plan.gateway, mtu: plan.mtu }, 'pod network created');
    } catch (err) {
      if (statusCode(err) !== 409) throw new DockerletError(ErrorCodes.RUNTIME, `create network ${plan.name} (${plan.subnet}): ${errorMessage(err)}`, { cause: err });
    }
  } else {
    log.info({ network: plan.name, subnet: plan.subnet }, 'pod network adopted');
  }
  await host.syncChain('nat', NAT_CHAIN, 'POSTROUTING', plan.nat);
  // DOCKER-USER is where Docker wants user rules (it is jumped to first in FORWARD and survives restarts).
  const forwardFrom = (await host.chainExists('filter', 'DOCKER-USER')) ? 'DOCKER-USER' : 'FORWARD';
  await host.syncChain('filter', FILTER_CHAIN, forwardFrom, plan.filter);
  return plan;
}

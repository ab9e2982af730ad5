// Shared types of the pod worker: the plan (what to do) and the per-pod memory the worker keeps.
import type { Container, Pod } from '../../kube/api.js';
import type { PodStateName } from './states/index.js';

export type StartReason = 'new' | 'restart' | 'spec-changed';

export interface StartAction {
  container: Container;
  kind: 'init' | 'container' | 'ephemeral';
  attempt: number;
  restartCount: number;
  reason: StartReason;
}

export interface KillAction {
  id: string;
  containerName: string;
  reason: string;
  graceSeconds: number;
  /** The Killing Event's message (default "Stopping container <name>"). */
  message?: string;
}

/** The pure plan for one sync of one pod (kubelet's podActions). */
export interface PodActions {
  /** Stop every container and the sandbox (sandbox died, or the pod is terminating). */
  killPod: boolean;
  createSandbox: boolean;
  sandboxAttempt: number;
  /** The running sandbox to use when not creating a new one. */
  sandboxId?: string;
  containersToKill: KillAction[];
  /** In order; for init containers at most one. */
  containersToStart: StartAction[];
  /** Ephemeral containers not yet started (kubectl debug); never restarted. */
  ephemeralToStart?: StartAction[];
  /** Containers held back by crash-loop back-off: name → remaining ms. */
  backingOff: Map<string, number>;
  /** Ask to be synced again after this long (back-off expiry), if set. */
  requeueAfterMs?: number;
}

/** Why a container is waiting, as the worker last saw it (ErrImagePull, CreateContainerConfigError…). */
export interface WaitingReason {
  reason: string;
  message?: string;
}

/** What the worker remembers about a pod between syncs (never persisted: adoption rebuilds it). */
export interface PodRecord {
  uid: string;
  key: string; // namespace/name
  pod: Pod;
  /** From a static manifest rather than the API server. */
  static: boolean;
  waiting: Map<string, WaitingReason>;
  startTime?: string;
  /** Set once the pod is terminal (Succeeded/Failed) or fully stopped after deletion. */
  terminalPhase?: 'Succeeded' | 'Failed';
  /** The pod object is gone from the source (deleted with grace 0 or unbound). */
  removed: boolean;
  lastFingerprint?: string;
  /** Aborted when the pod is deleted: a sync stuck in an image pull gives up so deletion can go on. */
  syncAbort?: AbortController;
  state: PodStateName;
  /**
   * The containers this sync created (sandbox and app), or undefined once it did anything else (a kill,
   * a failed step): its last look then lists the pod again instead of inspecting only these.
   */
  created?: string[];
  /** Failed by the node, not by its containers: refused at admission, or past activeDeadlineSeconds. */
  failed?: { reason: string; message: string };
}

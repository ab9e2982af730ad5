// The pod lifecycle as explicit states, one file per state, with the allowed edges declared here.
// A state decides its successor from facts (pure); transition() refuses any undeclared edge.
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { initializing } from './initializing.js';
import { registered } from './registered.js';
import { running } from './running.js';
import { terminated } from './terminated.js';
import { terminating } from './terminating.js';

export type PodStateName = 'Registered' | 'Initializing' | 'Running' | 'Terminating' | 'Terminated';

/** What a state needs to know to choose its successor; computed by the worker from the world. */
export interface PodFacts {
  /** deletionTimestamp set, or the pod left its source. */
  deleting: boolean;
  hasInitContainers: boolean;
  initDone: boolean;
  initFailedForGood: boolean;
  /** Every app container finished and none will restart. */
  allContainersDone: boolean;
  /** Nothing of the pod is running any more (containers and sandbox). */
  nothingRunning: boolean;
  /** The node failed the pod (admission refused it, activeDeadlineSeconds passed): it must stop. */
  failed?: boolean;
}

export interface PodState {
  readonly name: PodStateName;
  /** Whether the worker should start/restart containers in this state. */
  readonly runsContainers: boolean;
  next(f: PodFacts): PodStateName;
}

export const EDGES = {
  Registered: ['Initializing', 'Running', 'Terminating', 'Terminated'],
  Initializing: ['Running', 'Terminating', 'Terminated'],
  Running: ['Terminating', 'Terminated'],
  Terminating: ['Terminated'],
  Terminated: ['Terminating'],
} as const satisfies Record<PodStateName, readonly PodStateName[]>;

export const STATES: Readonly<Record<PodStateName, PodState>> = Object.freeze({
  Registered: registered,
  Initializing: initializing,
  Running: running,
  Terminating: terminating,
  Terminated: terminated,
});

/** An undeclared edge: STATE with details.reason 'illegal-transition', from and to. */
export function illegalTransitionError(from: PodStateName, to: PodStateName): DockerletError {
  return new DockerletError(ErrorCodes.STATE, `illegal pod state transition ${from} -> ${to}`, {
    details: { reason: 'illegal-transition', from, to },
  });
}

/** Moves from one state to the one it chose, refusing undeclared edges. */
export function transition(from: PodStateName, f: PodFacts): PodStateName {
  const to = STATES[from].next(f);
  if (to === from) return from;
  if (!(EDGES[from] as readonly PodStateName[]).includes(to)) throw illegalTransitionError(from, to);
  return to;
}

/** Runs transitions until the state is stable (at most one pass per state). */
export function settle(from: PodStateName, f: PodFacts): PodStateName {
  let s = from;
  for (let i = 0; i < 5; i++) {
    const n = transition(s, f);
    if (n === s) return s;
    s = n;
  }
  return s;
}

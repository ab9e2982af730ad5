// Terminating: deletion was asked; containers get their grace period, then the sandbox stops.
import type { PodState } from './index.js';

export const terminating: PodState = {
  name: 'Terminating',
  runsContainers: false,
  next(f) {
    return f.nothingRunning ? 'Terminated' : 'Terminating';
  },
};

// Terminated: nothing of the pod runs; the status is terminal. A later deletion still passes
// through Terminating so the sandbox is stopped and the API object removed.
import type { PodState } from './index.js';

export const terminated: PodState = {
  name: 'Terminated',
  runsContainers: false,
  next(f) {
    return f.deleting && !f.nothingRunning ? 'Terminating' : 'Terminated';
  },
};

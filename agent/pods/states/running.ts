// Running: app containers are started and kept running under the pod's restart policy.
import type { PodState } from './index.js';

export const running: PodState = {
  name: 'Running',
  runsContainers: true,
  next(f) {
    if (f.deleting || f.failed) return 'Terminating';
    return f.allContainersDone ? 'Terminated' : 'Running';
  },
};

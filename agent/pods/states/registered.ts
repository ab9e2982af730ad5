// Registered: the pod is known to this node; nothing has been created for it yet.
import type { PodState } from './index.js';

export const registered: PodState = {
  name: 'Registered',
  runsContainers: false,
  next(f) {
    if (f.deleting || f.failed) return f.nothingRunning ? 'Terminated' : 'Terminating';
    return f.hasInitContainers && !f.initDone ? 'Initializing' : 'Running';
  },
};

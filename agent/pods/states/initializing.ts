// Initializing: init containers run one at a time, in order, each to success.
import type { PodState } from './index.js';

export const initializing: PodState = {
  name: 'Initializing',
  runsContainers: true,
  next(f) {
    if (f.deleting || f.failed) return 'Terminating';
    if (f.initFailedForGood) return 'Terminated';
    return f.initDone ? 'Running' : 'Initializing';
  },
};

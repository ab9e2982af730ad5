// Placeholder replaced by the pod-startup benchmark.
export async function main(): Promise<void> {
  throw new Error('bench pod-startup: not written yet');
}

// The version dockerlet reports (the kubelet version it registers mirrors the control plane it was tested with).
export const VERSION = '0.1.0';
export const KUBELET_VERSION = 'v1.34.4-dockerlet';

#!/usr/bin/env bash
# The upstream [NodeConformance] e2e specs against a dockerlet node (issue 14). Builds what is missing
# (scripts/build-conformance.sh: e2e.test, agnhost, nonewprivs, ginkgo, cached by version under
# /var/cache/dockerlet/conformance/), makes the local images (test/conformance/images.sh), then runs
# bench/conformance.ts: the bed (control plane + one dockerlet node), e2e.test through the ginkgo CLI, and the
# table (images pulled from a local registry: test/conformance/registry.sh). A full run writes bench/results/conformance.json and bench/results/conformance.junit.xml.
#   bash test/conformance/run.sh                  # full run (~166 specs, 3 ginkgo processes)
#   bash test/conformance/run.sh --subset ci      # the CI subset (test/conformance/ci-subset.txt)
#   bash test/conformance/run.sh --focus 'Pods should get a host IP'
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
[ "$(id -u)" = 0 ] || { echo "run.sh needs root (Docker, volume mounts)" >&2; exit 1; }
if [ -z "${DOCKERLET_SKIP_SETUP:-}" ]; then bash scripts/setup-host.sh; fi
export DOCKERLET_CONTROL_PLANE_DIR=${DOCKERLET_CONTROL_PLANE_DIR:-$(bash scripts/build-control-plane.sh | tail -n 1)}
export DOCKERLET_CONFORMANCE_DIR=${DOCKERLET_CONFORMANCE_DIR:-$(bash scripts/build-conformance.sh | tail -n 1)}
bash test/conformance/images.sh "$DOCKERLET_CONFORMANCE_DIR" >/dev/null
# The e2e images come from a real registry on loopback (pulls, PullAlways, auth failures for real) unless
# DOCKERLET_CONFORMANCE_REGISTRY=0: then the local registry.k8s.io/... tags are used as they are.
if [ "${DOCKERLET_CONFORMANCE_REGISTRY:-1}" != 0 ]; then
  export KUBE_TEST_REPO_LIST=$(bash test/conformance/registry.sh up "$DOCKERLET_CONFORMANCE_DIR")
fi
exec node --import tsx bench/conformance.ts "$@"

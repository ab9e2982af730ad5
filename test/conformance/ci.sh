#!/usr/bin/env bash
# The CI subset of the upstream [NodeConformance] specs (test/conformance/ci-subset.txt: ~15 specs from
# different files, chosen to finish in a few minutes): fails when any of them fails or none ran.
# Meant for scripts/test.sh after the unit and integration tests: `bash test/conformance/ci.sh`.
# Cold cost on a new machine: building e2e.test (~5 min with the control plane's Go build cache warm).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
exec bash "$here/test/conformance/run.sh" --subset ci --procs "${DOCKERLET_CONFORMANCE_PROCS:-3}" --timeout "${DOCKERLET_CONFORMANCE_TIMEOUT:-10}" "$@"

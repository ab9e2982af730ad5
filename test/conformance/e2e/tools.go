//go:build tools

// Package tools keeps the extra mains in the module graph so `go mod tidy` records their dependencies:
// agnhost and nonewprivs (test images) and the ginkgo CLI (parallel runs of e2e.test).
package tools

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
	_ "k8s.io/kubernetes/test/images/agnhost"
	_ "k8s.io/kubernetes/test/images/nonewprivs"
)

//go:build tools

// Package controllergen builds controller-gen together with prometheus-operator's API types: scripts/tools.sh runs it
// from this module to generate the PrometheusRule CRD into .tools/crds, as upstream generates it (the
// prometheus-operator module with the YAML CRDs is not served by the Go module proxy here, its pkg/apis/monitoring
// module is). The import keeps the types' module in go.mod.
package controllergen

import (
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

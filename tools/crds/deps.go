//go:build tools

// Package crds pins the Go modules whose CustomResourceDefinitions (YAML inside the module zips) scripts/tools.sh
// extracts into .tools/crds for test/deploy/schemas.test.ts. Nothing here is built; the imports only keep the
// modules in go.mod under `go mod tidy`.
package crds

import (
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	_ "github.com/open-policy-agent/gatekeeper/v3/apis/syncset/v1alpha1"
)

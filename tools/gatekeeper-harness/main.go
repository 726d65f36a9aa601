// gatekeeper-harness runs vouch's shipped Gatekeeper objects through Gatekeeper v3.20.1's own
// libraries, wired as Gatekeeper's main.go (setupControllers) wires them: the frameworks constraint
// client with the rego driver and the K8s validation target, external data on, a provider cache, a
// provider response cache with --external-data-provider-response-cache-ttl's default (3m),
// client auth with a certwatcher on tls.crt/tls.key, http.send disabled (the chart's
// disabledBuiltins), the "inventory" extern, and the mutation system with the same provider cache
// and certificate watcher. Every provider request goes through frameworks'
// externaldata.DefaultSendRequestToProvider (the driver's and the mutation system's default).
//
// It reads one JSON request per line on stdin and writes one JSON answer per line on stdout, so
// one process keeps its response cache across admissions. Ops: provider, template, constraint,
// assign, namespace, review, mutate (see request below).
//
//	gatekeeper-harness -cert-dir DIR           # serve; DIR/tls.crt and DIR/tls.key are watched
//	gatekeeper-harness -no-client-auth         # serve without a client certificate
//	gatekeeper-harness -make-cert DIR          # write DIR/ca.crt, tls.crt, tls.key as Gatekeeper's
//	                                           # cert-controller rotator makes them, then exit
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	frameworksapis "github.com/open-policy-agent/frameworks/constraint/pkg/apis"
	edunversioned "github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/unversioned"
	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	frameworksexternaldata "github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	gkapis "github.com/open-policy-agent/gatekeeper/v3/apis"
	mutationsunversioned "github.com/open-policy-agent/gatekeeper/v3/apis/mutations/unversioned"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/reader"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/mutation"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/mutation/mutators"
	mutationtypes "github.com/open-policy-agent/gatekeeper/v3/pkg/mutation/types"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/util"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/yaml"
)

type request struct {
	ID int `json:"id"`
	// provider | template | constraint | assign | namespace | review | mutate
	Op string `json:"op"`
	// template, constraint, assign: a YAML file (every document of it is loaded)
	Path string `json:"path,omitempty"`
	// provider: a Provider YAML file whose url/caBundle/timeout are replaced when given
	URL      string `json:"url,omitempty"`
	CABundle string `json:"caBundle,omitempty"`
	Timeout  int    `json:"timeout,omitempty"`
	// namespace, review, mutate: the object; review/mutate: its namespace and operation
	Object    map[string]interface{} `json:"object,omitempty"`
	Namespace string                 `json:"namespace,omitempty"`
	Operation string                 `json:"operation,omitempty"`
}

type violation struct {
	Msg        string      `json:"msg"`
	Details    interface{} `json:"details,omitempty"`
	Constraint string      `json:"constraint"`
}

type answer struct {
	ID         int                    `json:"id"`
	Error      string                 `json:"error,omitempty"`
	Violations []violation            `json:"violations,omitempty"`
	Object     map[string]interface{} `json:"object,omitempty"`
	Mutated    bool                   `json:"mutated,omitempty"`
	Ms         float64                `json:"ms"`
}

type harness struct {
	scheme     *runtime.Scheme
	client     *constraintclient.Client
	providers  *frameworksexternaldata.ProviderCache
	mutation   *mutation.System
	namespaces map[string]*corev1.Namespace
}

func main() {
	certDir := flag.String("cert-dir", "", "directory with tls.crt and tls.key, watched like Gatekeeper's --cert-dir")
	noClientAuth := flag.Bool("no-client-auth", false, "present no client certificate")
	ttl := flag.Duration("external-data-provider-response-cache-ttl", 3*time.Minute, "as Gatekeeper's flag (0 disables the cache)")
	makeCert := flag.String("make-cert", "", "write ca.crt, tls.crt, tls.key into this directory with cert-controller's rotator and exit")
	flag.Parse()
	if *makeCert != "" {
		if err := writeRotatorCert(*makeCert); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := newHarness(ctx, *certDir, *noClientAuth, *ttl)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	fmt.Fprintln(os.Stderr, "gatekeeper-harness: ready")
	for in.Scan() {
		var req request
		var ans answer
		start := time.Now()
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			ans.Error = fmt.Sprintf("bad request line: %v", err)
		} else {
			ans = h.handle(ctx, &req)
			ans.ID = req.ID
		}
		ans.Ms = float64(time.Since(start).Microseconds()) / 1000
		if err := out.Encode(&ans); err != nil {
			os.Exit(1)
		}
	}
}

// writeRotatorCert makes the CA and the serving/client certificate the way Gatekeeper's main does
// (cert-controller CertRotator with CAName gatekeeper-ca, the webhook Service DNS name, and the
// ServerAuth + ClientAuth key usages it sets when external data is enabled).
func writeRotatorCert(dir string) error {
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	cr := &rotator.CertRotator{
		CAName:         "gatekeeper-ca",
		CAOrganization: "gatekeeper",
		DNSName:        "gatekeeper-webhook-service.gatekeeper-system.svc",
		ExtKeyUsages:   &usages,
	}
	begin := time.Now().Add(-1 * time.Hour)
	end := time.Now().Add(10 * 365 * 24 * time.Hour)
	ca, err := cr.CreateCACert(begin, end)
	if err != nil {
		return fmt.Errorf("creating the CA: %w", err)
	}
	certPEM, keyPEM, err := cr.CreateCertPEM(ca, begin, end)
	if err != nil {
		return fmt.Errorf("creating the certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"ca.crt": ca.CertPEM, "tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func newHarness(ctx context.Context, certDir string, noClientAuth bool, ttl time.Duration) (*harness, error) {
	scheme := runtime.NewScheme()
	if err := frameworksapis.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := gkapis.AddToScheme(scheme); err != nil {
		return nil, err
	}
	// As main.go setupControllers with external data enabled.
	providerCache := frameworksexternaldata.NewCache()
	args := []rego.Arg{rego.Tracing(false), rego.DisableBuiltins("http.send"), rego.AddExternalDataProviderCache(providerCache)}
	mutationOpts := mutation.SystemOpts{Reporter: mutation.NewStatsReporter(), ProviderCache: providerCache}
	if ttl > 0 {
		args = append(args, rego.AddExternalDataProviderResponseCache(frameworksexternaldata.NewProviderResponseCache(ctx, ttl)))
	}
	if !noClientAuth {
		watcher, err := certwatcher.New(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
		if err != nil {
			return nil, fmt.Errorf("client cert watcher: %w", err)
		}
		go func() { _ = watcher.Start(ctx) }()
		args = append(args, rego.EnableExternalDataClientAuth(), rego.AddExternalDataClientCertWatcher(watcher))
		mutationOpts.ClientCertWatcher = watcher
	}
	args = append(args, rego.Externs("inventory"))
	driver, err := rego.New(args...)
	if err != nil {
		return nil, err
	}
	client, err := constraintclient.NewClient(
		constraintclient.Targets(&target.K8sValidationTarget{}),
		constraintclient.Driver(driver),
		constraintclient.EnforcementPoints(util.AuditEnforcementPoint, util.WebhookEnforcementPoint),
	)
	if err != nil {
		return nil, err
	}
	return &harness{
		scheme:     scheme,
		client:     client,
		providers:  providerCache,
		mutation:   mutation.NewSystem(mutationOpts),
		namespaces: map[string]*corev1.Namespace{},
	}, nil
}

func (h *harness) handle(ctx context.Context, req *request) answer {
	var ans answer
	var err error
	switch req.Op {
	case "provider":
		err = h.addProvider(req)
	case "template", "constraint", "assign":
		err = h.load(ctx, req.Op, req.Path)
	case "namespace":
		err = h.addNamespace(ctx, req.Object)
	case "review":
		ans.Violations, err = h.review(ctx, req)
	case "mutate":
		ans.Object, ans.Mutated, err = h.mutate(req)
	default:
		err = fmt.Errorf("unknown op %q", req.Op)
	}
	if err != nil {
		ans.Error = err.Error()
	}
	return ans
}

func readDocs(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return reader.ReadUnstructureds(data)
}

func (h *harness) addProvider(req *request) error {
	docs, err := readDocs(req.Path)
	if err != nil {
		return err
	}
	for _, u := range docs {
		if u.GetKind() != "Provider" {
			continue
		}
		var p edunversioned.Provider
		p.Name = u.GetName()
		p.Spec.URL, _, _ = unstructured.NestedString(u.Object, "spec", "url")
		p.Spec.CABundle, _, _ = unstructured.NestedString(u.Object, "spec", "caBundle")
		timeout, _, _ := unstructured.NestedInt64(u.Object, "spec", "timeout")
		p.Spec.Timeout = int(timeout)
		if req.URL != "" {
			p.Spec.URL = strings.Replace(req.URL, "{path}", pathOf(p.Spec.URL), 1)
		}
		if req.CABundle != "" {
			p.Spec.CABundle = req.CABundle
		}
		if req.Timeout != 0 {
			p.Spec.Timeout = req.Timeout
		}
		if err := h.providers.Upsert(&p); err != nil {
			return fmt.Errorf("provider %s: %w", p.Name, err)
		}
	}
	return nil
}

// pathOf is the path of a URL ("/v1/verify"), so a test can keep each Provider's route.
func pathOf(url string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://")
	if i := strings.Index(rest, "/"); i >= 0 {
		return rest[i:]
	}
	return ""
}

func (h *harness) load(ctx context.Context, op, path string) error {
	docs, err := readDocs(path)
	if err != nil {
		return err
	}
	for _, u := range docs {
		switch op {
		case "template":
			t, err := reader.ToTemplate(h.scheme, u)
			if err != nil {
				return err
			}
			if _, err := h.client.AddTemplate(ctx, t); err != nil {
				return fmt.Errorf("template %s: %w", t.Name, err)
			}
		case "constraint":
			if _, err := h.client.AddConstraint(ctx, u); err != nil {
				return fmt.Errorf("constraint %s: %w", u.GetName(), err)
			}
		case "assign":
			if u.GetKind() != "Assign" {
				return fmt.Errorf("%s: %s is not an Assign", path, u.GetKind())
			}
			raw, err := json.Marshal(u.Object)
			if err != nil {
				return err
			}
			var a mutationsunversioned.Assign
			if err := yaml.Unmarshal(raw, &a); err != nil {
				return err
			}
			m, err := mutators.MutatorForAssign(&a)
			if err != nil {
				return fmt.Errorf("assign %s: %w", a.Name, err)
			}
			if err := h.mutation.Upsert(m); err != nil {
				return fmt.Errorf("assign %s: %w", a.Name, err)
			}
		}
	}
	return nil
}

// addNamespace syncs a Namespace into data.inventory (what the Config's sync does) and keeps it for
// the reviews of its objects (the webhook reads it from its cache).
func (h *harness) addNamespace(ctx context.Context, obj map[string]interface{}) error {
	u := &unstructured.Unstructured{Object: obj}
	if _, err := h.client.AddData(ctx, u); err != nil {
		return err
	}
	var ns corev1.Namespace
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &ns); err != nil {
		return err
	}
	h.namespaces[ns.Name] = &ns
	return nil
}

// review is what the validating webhook does for an admission request (pkg/webhook/policy.go
// createReviewForRequest + review).
func (h *harness) review(ctx context.Context, req *request) ([]violation, error) {
	u := &unstructured.Unstructured{Object: req.Object}
	raw, err := json.Marshal(req.Object)
	if err != nil {
		return nil, err
	}
	gvk := u.GroupVersionKind()
	operation := admissionv1.Operation(req.Operation)
	if operation == "" {
		operation = admissionv1.Create
	}
	ns := req.Namespace
	if ns == "" {
		ns = u.GetNamespace()
	}
	ar := &admissionv1.AdmissionRequest{
		UID:       types.UID(fmt.Sprintf("harness-%d", req.ID)),
		Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Name:      u.GetName(),
		Namespace: ns,
		Operation: operation,
		Object:    runtime.RawExtension{Raw: raw},
	}
	review := &target.AugmentedReview{AdmissionRequest: ar, Source: mutationtypes.SourceTypeOriginal, IsAdmission: true}
	if n, ok := h.namespaces[ns]; ok {
		review.Namespace = n
	}
	resp, err := h.client.Review(ctx, review, reviews.EnforcementPoint(util.WebhookEnforcementPoint))
	if err != nil {
		return nil, err
	}
	violations := []violation{}
	for _, r := range resp.Results() {
		v := violation{Msg: r.Msg, Constraint: r.Constraint.GetName()}
		if r.Metadata != nil {
			v.Details = r.Metadata["details"]
		}
		violations = append(violations, v)
	}
	return violations, nil
}

// mutate is what the mutating webhook does (pkg/webhook/mutation.go mutateRequest).
func (h *harness) mutate(req *request) (map[string]interface{}, bool, error) {
	obj := &unstructured.Unstructured{Object: req.Object}
	mutable := &mutationtypes.Mutable{Object: obj, Username: "harness", Source: mutationtypes.SourceTypeOriginal}
	ns := req.Namespace
	if ns == "" {
		ns = obj.GetNamespace()
	}
	if n, ok := h.namespaces[ns]; ok {
		mutable.Namespace = n
	} else {
		mutable.Namespace = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	}
	mutated, err := h.mutation.Mutate(mutable)
	if err != nil {
		return nil, false, err
	}
	return obj.Object, mutated, nil
}


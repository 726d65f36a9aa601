package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the COSE envelope type
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers the JWS envelope type
	"github.com/notaryproject/notation-plugin-framework-go/plugin"
)

const (
	pluginName     = "vouch-test"
	defaultVersion = "1.2.0"
	// Extended signed attributes that make verifiers call this plugin
	// (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/signature-specification.md#signature-envelope).
	attrVerificationPlugin           = "io.cncf.notary.verificationPlugin"
	attrVerificationPluginMinVersion = "io.cncf.notary.verificationPluginMinVersion"
	// Trusted identities of the form "vouch-test.sha256:<hex>" name a leaf certificate by its SHA-256.
	identityFingerprintPrefix = "vouch-test.sha256:"
	identitySubjectPrefix     = "x509.subject:"
)

var capabilityNames = map[string]plugin.Capability{
	"raw":        plugin.CapabilitySignatureGenerator,
	"envelope":   plugin.CapabilityEnvelopeGenerator,
	"identity":   plugin.CapabilityTrustedIdentityVerifier,
	"revocation": plugin.CapabilityRevocationCheckVerifier,
}

// testPlugin implements plugin.Plugin. startConfig is the pluginConfig of the request main read, used when the
// framework asks GetMetadata without one (its command-line check), so the commands it accepts follow the
// configured capabilities.
type testPlugin struct {
	startConfig map[string]string
}

func newPlugin(config map[string]string) (*testPlugin, error) {
	if _, err := capabilities(config); err != nil {
		return nil, err
	}
	return &testPlugin{startConfig: config}, nil
}

func capabilities(config map[string]string) ([]plugin.Capability, error) {
	list, ok := config["test.capabilities"]
	if !ok {
		list = "raw,envelope,identity,revocation"
	}
	var out []plugin.Capability
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		capability, known := capabilityNames[name]
		if !known {
			return nil, fmt.Errorf("test.capabilities: unknown capability %q (raw, envelope, identity, revocation)", name)
		}
		out = append(out, capability)
	}
	return out, nil
}

// injectedError answers fault "error:<CODE>" for command: the upstream plugin error, which the framework prints as
// JSON on stderr with exit code 1.
func injectedError(config map[string]string, command plugin.Command) error {
	mode := config[failKey(string(command))]
	if code, ok := strings.CutPrefix(mode, "error:"); ok {
		return plugin.NewError(plugin.ErrorCode(code), fmt.Sprintf("vouch-test: injected %s error", code))
	}
	return nil
}

func (p *testPlugin) GetMetadata(_ context.Context, req *plugin.GetMetadataRequest) (*plugin.GetMetadataResponse, error) {
	config := req.PluginConfig
	if config == nil {
		config = p.startConfig
	}
	if req.PluginConfig != nil {
		if err := injectedError(config, plugin.CommandGetMetadata); err != nil {
			return nil, err
		}
	}
	caps, err := capabilities(config)
	if err != nil {
		return nil, plugin.NewValidationError(err.Error())
	}
	name := pluginName
	if n, ok := config["test.metadataName"]; ok {
		name = n
	}
	version := defaultVersion
	if v, ok := config["test.version"]; ok {
		version = v
	}
	return &plugin.GetMetadataResponse{
		Name:                      name,
		Description:               "vouch's test plugin: keys held by the plugin, verification by trusted identity and revocation list",
		Version:                   version,
		URL:                       "https://example.invalid/vouch/tools/notation-vouch-test",
		SupportedContractVersions: []string{plugin.ContractVersion},
		Capabilities:              caps,
	}, nil
}

func (p *testPlugin) DescribeKey(_ context.Context, req *plugin.DescribeKeyRequest) (*plugin.DescribeKeyResponse, error) {
	if err := injectedError(req.PluginConfig, plugin.CommandDescribeKey); err != nil {
		return nil, err
	}
	key, err := loadKey(req.KeyID)
	if err != nil {
		return nil, err
	}
	spec, err := encodeKeySpec(key.spec)
	if err != nil {
		return nil, plugin.NewGenericError(err.Error())
	}
	return &plugin.DescribeKeyResponse{KeyID: answerKeyID(req.PluginConfig, plugin.CommandDescribeKey, req.KeyID), KeySpec: spec}, nil
}

// answerKeyID is the keyId an answer carries: the request's, or another one under fault "wrongkeyid".
func answerKeyID(config map[string]string, command plugin.Command, keyID string) string {
	if config[failKey(string(command))] == "wrongkeyid" {
		return "not-" + keyID
	}
	return keyID
}

// signerKey is the key that signs: the held key, or under fault "badsig" a fresh one that does not match the
// certificate chain the plugin reports.
func signerKey(config map[string]string, command plugin.Command, key *signingKey) (crypto.Signer, error) {
	if config[failKey(string(command))] == "badsig" {
		return freshKeyLike(key.private)
	}
	return key.private, nil
}

func (p *testPlugin) GenerateSignature(_ context.Context, req *plugin.GenerateSignatureRequest) (*plugin.GenerateSignatureResponse, error) {
	if err := injectedError(req.PluginConfig, plugin.CommandGenerateSignature); err != nil {
		return nil, err
	}
	key, err := loadKey(req.KeyID)
	if err != nil {
		return nil, err
	}
	spec, err := encodeKeySpec(key.spec)
	if err != nil {
		return nil, plugin.NewGenericError(err.Error())
	}
	if req.KeySpec != spec {
		return nil, plugin.NewValidationErrorf("keySpec %q does not match key %q (%s)", req.KeySpec, req.KeyID, spec)
	}
	h, err := hashOf(req.Hash)
	if err != nil {
		return nil, err
	}
	private, err := signerKey(req.PluginConfig, plugin.CommandGenerateSignature, key)
	if err != nil {
		return nil, plugin.NewGenericError(err.Error())
	}
	sig, algorithm, err := signRaw(private, req.Payload, h)
	if err != nil {
		return nil, plugin.NewGenericError(err.Error())
	}
	return &plugin.GenerateSignatureResponse{
		KeyID:            answerKeyID(req.PluginConfig, plugin.CommandGenerateSignature, req.KeyID),
		Signature:        sig,
		SigningAlgorithm: algorithm,
		CertificateChain: derChain(key.chain),
	}, nil
}

func derChain(chain []*x509.Certificate) [][]byte {
	out := make([][]byte, len(chain))
	for i, c := range chain {
		out[i] = c.Raw
	}
	return out
}

// envelopeSigner is the notation-core-go signature.Signer the envelope builders call with the bytes to sign (JWS
// signing input or COSE Sig_structure); it signs them with the plugin's primitive, as a signing service would.
type envelopeSigner struct {
	key     crypto.Signer
	chain   []*x509.Certificate
	keySpec signature.KeySpec
}

func (s *envelopeSigner) Sign(payload []byte) ([]byte, []*x509.Certificate, error) {
	sig, _, err := signRaw(s.key, payload, s.keySpec.SignatureAlgorithm().Hash())
	return sig, s.chain, err
}

func (s *envelopeSigner) KeySpec() (signature.KeySpec, error) { return s.keySpec, nil }

func (p *testPlugin) GenerateEnvelope(_ context.Context, req *plugin.GenerateEnvelopeRequest) (*plugin.GenerateEnvelopeResponse, error) {
	config := req.PluginConfig
	if err := injectedError(config, plugin.CommandGenerateEnvelope); err != nil {
		return nil, err
	}
	key, err := loadKey(req.KeyID)
	if err != nil {
		return nil, err
	}
	env, err := signature.NewEnvelope(req.SignatureEnvelopeType)
	if err != nil {
		return nil, plugin.NewValidationErrorf("signatureEnvelopeType %q is not supported", req.SignatureEnvelopeType)
	}
	private, err := signerKey(config, plugin.CommandGenerateEnvelope, key)
	if err != nil {
		return nil, plugin.NewGenericError(err.Error())
	}
	version := defaultVersion
	if v, ok := config["test.version"]; ok {
		version = v
	}
	// The plugin names itself as the signature's verification plugin (and optionally its minimum version); both are
	// critical, so a verifier that cannot run the plugin must reject the signature.
	attributes := []signature.Attribute{{Key: attrVerificationPlugin, Critical: true, Value: pluginName}}
	if minVersion, ok := config["test.minVersion"]; ok {
		attributes = append(attributes, signature.Attribute{Key: attrVerificationPluginMinVersion, Critical: true, Value: minVersion})
	}
	if extra, ok := config["test.extraCritical"]; ok {
		name, value, found := strings.Cut(extra, "=")
		if !found || name == "" {
			return nil, plugin.NewValidationErrorf("test.extraCritical must be name=value, got %q", extra)
		}
		attributes = append(attributes, signature.Attribute{Key: name, Critical: true, Value: value})
	}
	signingTime := time.Now()
	var expiry time.Time
	if req.ExpiryDurationInSeconds > 0 {
		expiry = signingTime.Add(time.Duration(req.ExpiryDurationInSeconds) * time.Second)
	}
	blob, err := env.Sign(&signature.SignRequest{
		Payload:                  signature.Payload{ContentType: req.PayloadType, Content: req.Payload},
		Signer:                   &envelopeSigner{key: private, chain: key.chain, keySpec: key.spec},
		SigningTime:              signingTime,
		Expiry:                   expiry,
		ExtendedSignedAttributes: attributes,
		SigningAgent:             pluginName + "/" + version,
		SigningScheme:            signature.SigningSchemeX509,
	})
	if err != nil {
		return nil, plugin.NewGenericErrorf("signing the envelope: %v", err)
	}
	return &plugin.GenerateEnvelopeResponse{
		SignatureEnvelope:     blob,
		SignatureEnvelopeType: req.SignatureEnvelopeType,
		Annotations:           map[string]string{"io.vouch.test.plugin": pluginName},
	}, nil
}

func (p *testPlugin) VerifySignature(_ context.Context, req *plugin.VerifySignatureRequest) (*plugin.VerifySignatureResponse, error) {
	config := req.PluginConfig
	if err := injectedError(config, plugin.CommandVerifySignature); err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(req.Signature.CertificateChain[0])
	if err != nil {
		return nil, plugin.NewValidationErrorf("leaf certificate: %v", err)
	}
	leafFingerprint := fingerprint(leaf.Raw)
	results := map[plugin.Capability]*plugin.VerificationResult{}
	for _, capability := range req.TrustPolicy.SignatureVerification {
		switch capability {
		case plugin.CapabilityTrustedIdentityVerifier:
			if config[failKey(string(plugin.CommandVerifySignature))] == "omit" {
				continue
			}
			results[capability] = trustedIdentity(leaf, leafFingerprint, req.TrustPolicy.TrustedIdentities)
		case plugin.CapabilityRevocationCheckVerifier:
			revoked, err := revokedFingerprints()
			if err != nil {
				return nil, plugin.NewGenericErrorf("reading revoked.txt: %v", err)
			}
			if revoked[leafFingerprint] {
				results[capability] = &plugin.VerificationResult{Success: false, Reason: "revoked: the signing certificate " + leafFingerprint + " is on the plugin's revocation list"}
			} else {
				results[capability] = &plugin.VerificationResult{Success: true}
			}
		default:
			return nil, plugin.NewUnsupportedError(fmt.Sprintf("capability %q", capability))
		}
	}
	// The plugin processes the critical attributes the verifier could not (e.g. test.extraCritical's), unless told
	// not to; the verifier must then fail the signature (an unprocessed critical attribute).
	processed := []interface{}{}
	if config["test.unprocessed"] != "true" {
		for _, name := range req.Signature.UnprocessedAttributes {
			processed = append(processed, name)
		}
	}
	return &plugin.VerifySignatureResponse{VerificationResults: results, ProcessedAttributes: processed}, nil
}

// trustedIdentity checks the leaf against the trust policy's trusted identities: "*", "x509.subject:<DN>" (equal to
// the leaf's subject as Go prints it, RFC 4514 order; spaces after separators are ignored) or "vouch-test.sha256:<hex>" (the leaf's fingerprint).
func trustedIdentity(leaf *x509.Certificate, leafFingerprint string, identities []string) *plugin.VerificationResult {
	subject := leaf.Subject.String()
	for _, identity := range identities {
		switch {
		case identity == "*":
			return &plugin.VerificationResult{Success: true}
		case strings.HasPrefix(identity, identitySubjectPrefix) && normalizeDN(strings.TrimPrefix(identity, identitySubjectPrefix)) == subject:
			return &plugin.VerificationResult{Success: true}
		case strings.HasPrefix(identity, identityFingerprintPrefix) && strings.EqualFold(strings.TrimPrefix(identity, identityFingerprintPrefix), leafFingerprint):
			return &plugin.VerificationResult{Success: true}
		}
	}
	return &plugin.VerificationResult{Success: false, Reason: fmt.Sprintf("not trusted: signing identity %q (sha256 %s) is not in the trusted identities", subject, leafFingerprint)}
}

// normalizeDN drops the optional spaces after RDN separators ("CN=a, O=b" is "CN=a,O=b", as Go prints subjects).
func normalizeDN(dn string) string {
	parts := strings.Split(dn, ",")
	for i, part := range parts {
		parts[i] = strings.TrimSpace(part)
	}
	return strings.Join(parts, ",")
}

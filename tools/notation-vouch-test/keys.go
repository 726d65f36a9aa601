package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-plugin-framework-go/plugin"
)

// keyIDPattern keeps a keyId a plain file name inside keys/ (no separators, no "..", no hidden files).
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// pluginDir is the directory of the executable: keys/ and revoked.txt live next to it.
func pluginDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Dir(exe), nil
}

// signingKey is one key the plugin holds: its private key and certificate chain (leaf first).
type signingKey struct {
	id      string
	private crypto.Signer
	chain   []*x509.Certificate
	spec    signature.KeySpec
}

func loadKey(keyID string) (*signingKey, error) {
	if !keyIDPattern.MatchString(keyID) {
		return nil, plugin.NewValidationErrorf("keyId %q is not a valid key name", keyID)
	}
	dir, err := pluginDir()
	if err != nil {
		return nil, plugin.NewGenericErrorf("locating the plugin directory: %v", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "keys", keyID+".key"))
	if err != nil {
		// The key is unknown to this "signing service".
		return nil, plugin.NewValidationErrorf("key %q not found", keyID)
	}
	chainPEM, err := os.ReadFile(filepath.Join(dir, "keys", keyID+".crt"))
	if err != nil {
		return nil, plugin.NewValidationErrorf("certificate chain of key %q not found", keyID)
	}
	private, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, plugin.NewGenericErrorf("key %q: %v", keyID, err)
	}
	chain, err := parseChain(chainPEM)
	if err != nil {
		return nil, plugin.NewGenericErrorf("certificate chain of key %q: %v", keyID, err)
	}
	spec, err := signature.ExtractKeySpec(chain[0])
	if err != nil {
		return nil, plugin.NewGenericErrorf("key %q: %v", keyID, err)
	}
	if !publicKeysEqual(private.Public(), chain[0].PublicKey) {
		return nil, plugin.NewGenericErrorf("key %q does not match the leaf certificate of its chain", keyID)
	}
	return &signingKey{id: keyID, private: private, chain: chain, spec: spec}, nil
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T (RSA or ECDSA only)", key)
	}
}

func parseChain(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	return chain, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// encodeKeySpec is the plugin contract's name of a key spec
// (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/plugin-extensibility.md#describe-key).
func encodeKeySpec(spec signature.KeySpec) (plugin.KeySpec, error) {
	switch {
	case spec.Type == signature.KeyTypeRSA && (spec.Size == 2048 || spec.Size == 3072 || spec.Size == 4096):
		return plugin.KeySpec(fmt.Sprintf("RSA-%d", spec.Size)), nil
	case spec.Type == signature.KeyTypeEC && (spec.Size == 256 || spec.Size == 384 || spec.Size == 521):
		return plugin.KeySpec(fmt.Sprintf("EC-%d", spec.Size)), nil
	}
	return "", fmt.Errorf("unsupported key spec %v", spec)
}

func hashOf(name plugin.HashAlgorithm) (crypto.Hash, error) {
	switch name {
	case plugin.HashAlgorithmSHA256:
		return crypto.SHA256, nil
	case plugin.HashAlgorithmSHA384:
		return crypto.SHA384, nil
	case plugin.HashAlgorithmSHA512:
		return crypto.SHA512, nil
	}
	return 0, plugin.NewValidationErrorf("unsupported hashAlgorithm %q", name)
}

func hashName(h crypto.Hash) plugin.HashAlgorithm {
	switch h {
	case crypto.SHA384:
		return plugin.HashAlgorithmSHA384
	case crypto.SHA512:
		return plugin.HashAlgorithmSHA512
	}
	return plugin.HashAlgorithmSHA256
}

// signRaw signs payload with key (hash h) in the encoding the Notary Project signature envelopes carry: RSASSA-PSS
// with a salt as long as the hash, or ECDSA as the fixed-size R||S concatenation (RFC 7518 section 3.4), and names the
// algorithm in the plugin contract's terms.
func signRaw(key crypto.Signer, payload []byte, h crypto.Hash) ([]byte, plugin.SignatureAlgorithm, error) {
	digester := h.New()
	digester.Write(payload)
	digest := digester.Sum(nil)
	suffix := strings.TrimPrefix(string(hashName(h)), "SHA-")
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err := rsa.SignPSS(rand.Reader, k, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		return sig, plugin.SignatureAlgorithm("RSASSA-PSS-SHA-" + suffix), err
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			return nil, "", err
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		return sig, plugin.SignatureAlgorithm("ECDSA-SHA-" + suffix), nil
	}
	return nil, "", fmt.Errorf("unsupported key type %T", key)
}

// freshKeyLike generates a new key of the same type and size as key (fault "badsig": a signature that does not
// verify with the certificate the plugin reports).
func freshKeyLike(key crypto.Signer) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return rsa.GenerateKey(rand.Reader, k.N.BitLen())
	case *ecdsa.PrivateKey:
		var curve elliptic.Curve = k.Curve
		return ecdsa.GenerateKey(curve, rand.Reader)
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// fingerprint is the lowercase hex SHA-256 of a certificate's DER, the form of revoked.txt and of
// "vouch-test.sha256:" trusted identities.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// revokedFingerprints reads revoked.txt next to the executable (absent: nothing is revoked).
func revokedFingerprints() (map[string]bool, error) {
	dir, err := pluginDir()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "revoked.txt"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	revoked := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.ToLower(strings.TrimSpace(line))
		if line != "" && !strings.HasPrefix(line, "#") {
			revoked[line] = true
		}
	}
	return revoked, nil
}

// Command notation-vouch-test is a Notary Project plugin named "vouch-test" for vouch's tests. It is built on the
// Notary Project's own plugin framework (github.com/notaryproject/notation-plugin-framework-go/cli), so the protocol
// handling (commands, request parsing and validation, error JSON) is upstream's, and it signs envelopes with
// notation-core-go, so notation and vouch see the signatures a real signing service plugin would make.
//
// Plugin contract: https://github.com/notaryproject/specifications/blob/v1.1.0/specs/plugin-extensibility.md
//
// Keys are held by the plugin, in files next to the executable: keys/<keyId>.key (PEM private key: PKCS#8, SEC1 or
// PKCS#1) and keys/<keyId>.crt (PEM certificate chain, leaf first); revoked.txt lists the SHA-256 (hex) of revoked
// leaf certificates, one a line. Behaviour and fault injection are driven by pluginConfig ("test.*" keys, see
// README.md), which notation passes with --plugin-config and vouch with its per-environment plugin configuration.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/notaryproject/notation-plugin-framework-go/cli"
)

// maxRequestBytes bounds what the plugin reads from stdin (requests carry a payload descriptor or a certificate
// chain: kilobytes).
const maxRequestBytes = 16 << 20

func main() {
	// The framework reads the request from os.Stdin itself and points os.Stdout at /dev/null while the plugin's
	// function runs. To inject output faults (garbage, huge, malformed) and to know the pluginConfig before the
	// framework validates the command line (validateArgs asks GetMetadata with an empty request), main reads the
	// request first and hands the same bytes to the framework through a pipe.
	input, err := io.ReadAll(io.LimitReader(os.Stdin, maxRequestBytes))
	if err != nil {
		fmt.Fprintf(os.Stderr, "vouch-test: reading stdin: %v", err)
		os.Exit(1)
	}
	var envelope struct {
		PluginConfig map[string]string `json:"pluginConfig"`
	}
	_ = json.Unmarshal(input, &envelope) // a malformed request is the framework's to reject (VALIDATION_ERROR)
	config := envelope.PluginConfig

	if len(os.Args) == 2 {
		injectProcessFault(os.Args[1], config[failKey(os.Args[1])])
	}

	reader, writer, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vouch-test: pipe: %v", err)
		os.Exit(1)
	}
	go func() {
		_, _ = io.Copy(writer, bytes.NewReader(input))
		_ = writer.Close()
	}()
	os.Stdin = reader

	p, err := newPlugin(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vouch-test: %v", err)
		os.Exit(1)
	}
	c, err := cli.New(p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vouch-test: %v", err)
		os.Exit(1)
	}
	c.Execute(context.Background(), os.Args)
}

// failKey is the pluginConfig key that injects a fault into command.
func failKey(command string) string { return "test.fail." + command }

// injectProcessFault handles the faults that concern the process and its output rather than the answer's content:
// they happen before the framework runs, on the real stdout.
func injectProcessFault(command, mode string) {
	switch mode {
	case "crash":
		// Exit non-zero with something that is not the plugin error JSON on stderr (a Go panic looks like this).
		fmt.Fprintf(os.Stderr, "panic: vouch-test: injected crash in %s\n\ngoroutine 1 [running]:\nmain.main()\n", command)
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
		os.Exit(4)
	case "garbage":
		fmt.Print("this is not json")
		os.Exit(0)
	case "huge":
		// 10 MiB: a JSON string that never fits a bounded reader.
		const size = 10 << 20
		var b strings.Builder
		b.Grow(size + 16)
		b.WriteString(`{"padding":"`)
		b.WriteString(strings.Repeat("a", size-len(`{"padding":""}`)))
		b.WriteString(`"}`)
		fmt.Print(b.String())
		os.Exit(0)
	case "malformed":
		// Valid JSON of the wrong shape for every command: each answer's fields with the wrong types.
		fmt.Print(`{"name":42,"version":[],"capabilities":"all","keyId":7,"keySpec":true,"signature":{},` +
			`"signingAlgorithm":1,"certificateChain":"none","signatureEnvelope":5,"signatureEnvelopeType":[],` +
			`"verificationResults":["yes"],"processedAttributes":"all"}`)
		os.Exit(0)
	}
}

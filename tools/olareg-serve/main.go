// Command olareg-serve runs an olareg registry (OCI distribution-spec v1.1, including the Referrers API with
// OCI-Filters-Applied and Link pagination) for vouch's integration tests. It exists because the olareg CLI cannot set
// the referrers page size, which the tests lower to force Link pagination with only a few referrers.
//
// Usage:
//
//	olareg-serve --addr 127.0.0.1:5000 --dir /tmp/store [--referrers-page-bytes 1024] [--log-level warn]
//
// Once the listener is bound it prints one line to stdout, "olareg-serve: listening on <host:port>" (so a harness can
// tell its own process from another one on the same port, and --addr 127.0.0.1:0 works too). It serves until SIGTERM
// or SIGINT, or until its parent process goes away, then shuts down gracefully. Push and delete are enabled and
// garbage collection is disabled, so nothing a test pushed disappears while the test runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "olareg-serve: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:5000", "listen address host:port (port 0 picks a free port)")
	dir := flag.String("dir", "", "root directory of the dir store (required; created if missing)")
	pageBytes := flag.Int64("referrers-page-bytes", 0, "max size in bytes of one referrers response page; 0 keeps olareg's default (4 MiB)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}
	if *dir == "" {
		return errors.New("--dir is required")
	}
	if *pageBytes < 0 {
		return fmt.Errorf("--referrers-page-bytes must be >= 0, got %d", *pageBytes)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("create --dir: %w", err)
	}

	yes, no := true, false
	conf := config.Config{
		HTTP: config.ConfigHTTP{Addr: *addr},
		Storage: config.ConfigStorage{
			StoreType: config.StoreDir,
			RootDir:   *dir,
			ReadOnly:  &no,
			GC: config.ConfigGC{
				// A negative frequency disables the periodic GC. The repo cache also runs a GC when an entry ages
				// out (and on shutdown); a long grace period keeps that from deleting anything pushed by a test.
				Frequency:         -1,
				GracePeriod:       1000 * time.Hour,
				Untagged:          &no,
				EmptyRepo:         &no,
				ReferrersDangling: &no,
				ReferrersWithSubj: &no,
			},
		},
		API: config.ConfigAPI{
			PushEnabled:   &yes,
			DeleteEnabled: &yes,
			Blob:          config.ConfigAPIBlob{DeleteEnabled: &yes},
			Referrer: config.ConfigAPIReferrer{
				Enabled: &yes,
				Limit:   *pageBytes, // 0 means olareg's default
			},
		},
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}

	// Bind first, so that a port conflict fails fast with a clear error before anything is announced.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	reg := olareg.New(conf) // *olareg.Server is an http.Handler
	hs := &http.Server{Handler: reg, ReadHeaderTimeout: 5 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	shutdownDone := make(chan error, 1)
	go func() {
		select {
		case <-stop:
		case <-parentGone():
			fmt.Fprintln(os.Stderr, "olareg-serve: parent process exited, shutting down")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdownDone <- hs.Shutdown(ctx)
	}()

	fmt.Printf("olareg-serve: listening on %s\n", ln.Addr())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if err := <-shutdownDone; err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Closing the store runs olareg's GC over every repo it has opened. That fails (harmlessly) for a repo that was
	// only queried and never pushed to, so an error here is reported but is not a failure.
	if err := reg.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "olareg-serve: warning: closing store: %v\n", err)
	}
	return nil
}

// parentGone is closed when this process is re-parented (its parent died without stopping it), so a crashed test
// run never leaves a registry behind.
func parentGone() <-chan struct{} {
	ch := make(chan struct{})
	ppid := os.Getppid()
	go func() {
		for range time.Tick(500 * time.Millisecond) {
			if os.Getppid() != ppid {
				close(ch)
				return
			}
		}
	}()
	return ch
}

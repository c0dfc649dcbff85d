// gateway-standin plays NGINX Gateway Fabric for `make e2e-kind`, where NGF cannot be built (no image registry,
// its modules are not on the Go module proxy): `controller` provisions a data plane per Gateway and writes the
// Gateway API status NGF would; `dataplane --gateway NS/NAME` proxies that Gateway's HTTPRoutes. Standard library
// only, so it builds offline.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usage = `usage: gateway-standin controller
       gateway-standin dataplane --gateway NAMESPACE/NAME`

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "controller":
		err = runController(ctx)
	case "dataplane":
		err = runDataPlane(ctx, os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// healthServer answers /healthz with 200 while ready() holds, else 503: the pods' readiness probe.
func healthServer(ready func() bool) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return &http.Server{Addr: fmt.Sprintf(":%d", healthPort), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

// serve runs srv until it is shut down; any other end is reported on errs.
func serve(srv *http.Server, errs chan<- error) {
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		errs <- fmt.Errorf("%s: %w", srv.Addr, err)
	}
}

// every runs f now and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

const (
	// On SIGTERM the data plane fails readiness and keeps serving this long, so that the Service stops sending
	// it new connections first, then gives requests in flight drainTimeout to finish.
	unreadyDelay = 3 * time.Second
	drainTimeout = 5 * time.Second
)

type backendKey struct{}

type dataplane struct {
	table atomic.Pointer[table]
	proxy *httputil.ReverseProxy
}

func (d *dataplane) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := d.table.Load()
	if t == nil {
		http.Error(w, "no routes yet", http.StatusServiceUnavailable)
		return
	}
	rl, ok := t.lookup(r.Host, r.URL.Path)
	switch {
	case !ok:
		http.Error(w, "404 no route for this host and path", http.StatusNotFound)
	case rl.backend == "":
		// Gateway API: a rule without a usable backend answers 500.
		http.Error(w, "500 the route has no usable backend", http.StatusInternalServerError)
	default:
		d.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, rl.backend)))
	}
}

func newProxy() *httputil.ReverseProxy {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// A connection per request: each goes through the Service's cluster IP, so kube-proxy picks a pod that is
	// ready now. A kept-alive connection stays pinned to a pod that may be draining in a rolling update, and a
	// POST sent on one the pod has just closed cannot be retried.
	transport.DisableKeepAlives = true
	transport.DialContext = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	transport.ResponseHeaderTimeout = 60 * time.Second // nginx's proxy_read_timeout
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: pr.In.Context().Value(backendKey{}).(string)})
			pr.Out.Host = pr.In.Host // the backend sees the host the client asked for, as behind nginx
			pr.SetXForwarded()
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Printf("proxy %s %s%s to %s: %v", r.Method, r.Host, r.URL.Path, r.Context().Value(backendKey{}), err)
			}
			http.Error(w, "502 bad gateway", http.StatusBadGateway)
		},
	}
}

func runDataPlane(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dataplane", flag.ContinueOnError)
	ref := fs.String("gateway", "", "NAMESPACE/NAME of the Gateway this data plane serves")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gwNS, gwName, ok := strings.Cut(*ref, "/")
	if !ok || gwNS == "" || gwName == "" || fs.NArg() > 0 {
		return fmt.Errorf("dataplane: --gateway NAMESPACE/NAME is required, got %q", *ref)
	}
	k, err := inCluster()
	if err != nil {
		return err
	}
	// The listeners at start: a change of them changes the pod template (its ports), so a new pod reads them.
	var gw gateway
	path := gatewayAPI + "/namespaces/" + gwNS + "/gateways/" + gwName
	for {
		err := k.get(ctx, path, &gw)
		if err == nil {
			break
		}
		log.Printf("read Gateway %s (retrying): %v", *ref, err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}

	d := &dataplane{proxy: newProxy()}
	var draining atomic.Bool
	health := healthServer(func() bool { return d.table.Load() != nil && !draining.Load() })
	errs := make(chan error, 8)
	go serve(health, errs)
	var servers []*http.Server
	for _, port := range uniquePorts(&gw) {
		srv := &http.Server{
			Addr:              fmt.Sprintf(":%d", port+portOffset),
			Handler:           d,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       60 * time.Second,
		}
		servers = append(servers, srv)
		go serve(srv, errs)
		log.Printf("Gateway %s listener port %d: serving on %s", *ref, port, srv.Addr)
	}

	loop, cancel := context.WithCancel(ctx)
	defer cancel()
	go every(loop, 2*time.Second, func() {
		pass, done := context.WithTimeout(loop, 10*time.Second)
		defer done()
		routes, err := getList[httpRoute](pass, k, gatewayAPI+"/httproutes")
		if err != nil {
			if loop.Err() == nil {
				log.Printf("list HTTPRoutes: %v", err)
			}
			return
		}
		t := buildTable(routes, gwNS, gwName)
		if old := d.table.Load(); old == nil || !reflect.DeepEqual(*old, t) {
			log.Printf("routes: %s", describe(t))
		}
		d.table.Store(&t)
	})

	select {
	case <-ctx.Done():
	case err = <-errs:
		return err
	}
	draining.Store(true)
	log.Printf("SIGTERM: readiness off, draining in %s", unreadyDelay)
	time.Sleep(unreadyDelay)
	drain, done := context.WithTimeout(context.Background(), drainTimeout)
	defer done()
	for _, srv := range servers {
		if err := srv.Shutdown(drain); err != nil {
			log.Printf("%s: requests still in flight after %s: %v", srv.Addr, drainTimeout, err)
		}
	}
	_ = health.Shutdown(drain)
	log.Printf("drained")
	return nil
}

// describe: "example.test: / -> svc.ns.svc.cluster.local:8080 (ns/route); *: ...".
func describe(t table) string {
	if len(t) == 0 {
		return "none"
	}
	var hosts []string
	for _, h := range slices.Sorted(maps.Keys(t)) {
		var rules []string
		for _, r := range t[h] {
			kind := "prefix"
			if r.exact {
				kind = "exact"
			}
			rules = append(rules, fmt.Sprintf("%s %s -> %s (%s)", kind, r.path, r.backend, r.route))
		}
		hosts = append(hosts, fmt.Sprintf("%s: %s", hostLabel(h), strings.Join(rules, ", ")))
	}
	return strings.Join(hosts, "; ")
}

func hostLabel(h string) string {
	if h == "" {
		return "(any host)"
	}
	return h
}

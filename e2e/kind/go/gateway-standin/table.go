package main

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strings"
)

// rule is one path match of a route, with the backend it proxies to.
type rule struct {
	exact   bool
	path    string
	backend string // host:port of the Service; empty: the rule has no usable backend (answer 500)
	route   string // ns/name, for logs
}

// table maps a lowercase hostname ("*.example.com" for a wildcard, "" for routes without hostnames) to its rules,
// most specific first.
type table map[string][]rule

// buildTable is what the data plane of Gateway gwNS/gwName serves: every HTTPRoute with a parentRef to it.
// Simplified against NGF: no header, query or method matches, no filters, the first backendRef takes all traffic,
// and the Service's cluster IP (kube-proxy) picks the pod where NGF would proxy to the endpoints.
func buildTable(routes []httpRoute, gwNS, gwName string) table {
	// Gateway API's tie-breaker between routes: oldest first, then by namespace/name.
	routes = slices.Clone(routes)
	slices.SortStableFunc(routes, func(a, b httpRoute) int {
		return cmp.Or(cmp.Compare(a.Metadata.CreationTimestamp, b.Metadata.CreationTimestamp),
			cmp.Compare(a.Metadata.Namespace, b.Metadata.Namespace), cmp.Compare(a.Metadata.Name, b.Metadata.Name))
	})
	t := table{}
	for _, r := range routes {
		ns := r.Metadata.Namespace
		if !slices.ContainsFunc(r.Spec.ParentRefs, func(p parentRef) bool { return p.refersTo(ns, gwNS, gwName) }) {
			continue
		}
		var rules []rule
		for _, rr := range r.Spec.Rules {
			backend := firstBackend(rr.BackendRefs, ns)
			matches := rr.Matches
			if len(matches) == 0 {
				matches = []routeMatch{{}}
			}
			for _, m := range matches {
				exact, path := false, "/"
				if m.Path != nil {
					switch m.Path.Type {
					case "", "PathPrefix":
					case "Exact":
						exact = true
					default: // RegularExpression: not served
						continue
					}
					if m.Path.Value != "" {
						path = m.Path.Value
					}
				}
				rules = append(rules, rule{exact: exact, path: path, backend: backend, route: ns + "/" + r.Metadata.Name})
			}
		}
		hosts := r.Spec.Hostnames
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		for _, h := range hosts {
			h = strings.ToLower(h)
			t[h] = append(t[h], rules...)
		}
	}
	for h := range t {
		// Exact before prefix, then the longest path; stable keeps the routes' order for ties.
		slices.SortStableFunc(t[h], func(a, b rule) int {
			if a.exact != b.exact {
				if a.exact {
					return -1
				}
				return 1
			}
			return cmp.Compare(len(b.path), len(a.path))
		})
	}
	return t
}

// firstBackend is the first Service backendRef with a non-zero weight, as a cluster DNS name and port.
func firstBackend(refs []backendRef, routeNS string) string {
	for _, b := range refs {
		if (b.Kind != "" && b.Kind != "Service") || b.Group != "" || b.Port == 0 || (b.Weight != nil && *b.Weight == 0) {
			continue
		}
		ns := cmp.Or(b.Namespace, routeNS)
		return fmt.Sprintf("%s.%s.svc.cluster.local:%d", b.Name, ns, b.Port)
	}
	return ""
}

// lookup picks the most specific hostname entry (exact, then the longest wildcard, then routes without
// hostnames) and in it the first rule whose path matches; like nginx's server blocks, no fallback to a less
// specific hostname when no path matches.
func (t table) lookup(host, path string) (rule, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	rules, ok := t[host]
	for h := host; !ok; {
		i := strings.IndexByte(h, '.')
		if i < 0 {
			rules, ok = t[""]
			break
		}
		h = h[i+1:]
		rules, ok = t["*."+h]
	}
	for _, r := range rules {
		if pathMatches(r, path) {
			return r, true
		}
	}
	return rule{}, false
}

// pathMatches: Exact compares the whole path; PathPrefix matches whole path elements ("/api" matches "/api" and
// "/api/x", not "/apix").
func pathMatches(r rule, path string) bool {
	if r.exact {
		return path == r.path
	}
	prefix := strings.TrimSuffix(r.path, "/")
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

// The product's route (components/routes.py) plus routes the table must and must not take.
const routesJSON = `{"items": [
 {"metadata": {"name": "wal-service", "namespace": "app", "creationTimestamp": "2026-01-01T00:00:00Z"},
  "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "nginx-gateway", "name": "wal-service"}],
   "hostnames": ["wal.example.test"],
   "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [{"name": "wal-service", "port": 8080}]}]}},
 {"metadata": {"name": "api", "namespace": "nginx-gateway", "creationTimestamp": "2026-01-02T00:00:00Z"},
  "spec": {"parentRefs": [{"name": "wal-service"}],
   "hostnames": ["wal.example.test"],
   "rules": [{"matches": [{"path": {"type": "Exact", "value": "/healthz"}}, {"path": {"type": "PathPrefix", "value": "/api/"}}],
     "backendRefs": [{"name": "api", "port": 9000}]}]}},
 {"metadata": {"name": "elsewhere", "namespace": "app"},
  "spec": {"parentRefs": [{"name": "wal-service"}], "hostnames": ["other.example.test"],
   "rules": [{"backendRefs": [{"name": "x", "port": 80}]}]}},
 {"metadata": {"name": "wild", "namespace": "app"},
  "spec": {"parentRefs": [{"name": "wal-service", "namespace": "nginx-gateway"}], "hostnames": ["*.wild.test"],
   "rules": [{"backendRefs": [{"name": "zero", "port": 80, "weight": 0}, {"name": "wild", "namespace": "other", "port": 81}]}]}}
]}`

func TestBuildTable(t *testing.T) {
	routes := decode[list[httpRoute]](t, routesJSON).Items
	tbl := buildTable(routes, "nginx-gateway", "wal-service")
	if _, ok := tbl["other.example.test"]; ok {
		t.Errorf("route app/elsewhere has no namespace in its parentRef, so it names app/wal-service, not ours: %v", describe(tbl))
	}
	for _, c := range []struct{ host, path, backend string }{
		{"wal.example.test", "/records", "wal-service.app.svc.cluster.local:8080"},
		{"WAL.example.test:8080", "/", "wal-service.app.svc.cluster.local:8080"},
		{"wal.example.test", "/healthz", "api.nginx-gateway.svc.cluster.local:9000"}, // Exact, parentRef namespace defaulted
		{"wal.example.test", "/healthz/x", "wal-service.app.svc.cluster.local:8080"}, // Exact is exact
		{"wal.example.test", "/api/v1", "api.nginx-gateway.svc.cluster.local:9000"},  // longer prefix wins
		{"wal.example.test", "/apix", "wal-service.app.svc.cluster.local:8080"},      // prefix matches whole elements
		{"a.b.wild.test", "/", "wild.other.svc.cluster.local:81"},                    // wildcard host, weight 0 skipped
		{"wild.test", "/", ""},
		{"unknown.test", "/", ""},
	} {
		r, ok := tbl.lookup(c.host, c.path)
		if ok != (c.backend != "") || r.backend != c.backend {
			t.Errorf("%s%s: got %q (found %v), want %q; table %s", c.host, c.path, r.backend, ok, c.backend, describe(tbl))
		}
	}
}

const gatewayJSON = `{"metadata": {"name": "wal-service", "namespace": "nginx-gateway", "uid": "u-1", "generation": 3},
 "spec": {"gatewayClassName": "nginx", "listeners": [
  {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "wal.example.test",
   "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": "app"}}}}},
  {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "wal.example.test"}]}}`

func kindConfig(t *testing.T) dataPlaneConfig {
	// What components/gateway_controller.py kind_values() sets, as the chart passes it (toJson).
	svc := decode[serviceValues](t, `{"type": "NodePort", "externalTrafficPolicy": "Cluster",
		"nodePorts": [{"port": 30080, "listenerPort": 80}, {"port": 30443, "listenerPort": 443}]}`)
	return dataPlaneConfig{Image: "wal-e2e.local/gateway-standin:1", PullPolicy: "Never", ServiceAccount: "ngf-nginx-gateway-fabric", Service: svc}
}

func TestRenderService(t *testing.T) {
	gw := decode[gateway](t, gatewayJSON)
	s := renderService(&gw, kindConfig(t))
	if s.Metadata.Name != "wal-service-nginx" || s.Metadata.Namespace != "nginx-gateway" {
		t.Errorf("Service %s/%s, want nginx-gateway/wal-service-nginx", s.Metadata.Namespace, s.Metadata.Name)
	}
	if s.Spec.Type != "NodePort" || s.Spec.ExternalTrafficPolicy != "Cluster" {
		t.Errorf("Service type %q policy %q, want NodePort Cluster", s.Spec.Type, s.Spec.ExternalTrafficPolicy)
	}
	want := servicePort{Name: "port-80", Protocol: "TCP", Port: 80, TargetPort: 8080, NodePort: 30080}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0] != want {
		t.Errorf("Service ports %+v, want only %+v (the HTTPS listener is not served)", s.Spec.Ports, want)
	}
	if s.Spec.Selector["gateway.networking.k8s.io/gateway-name"] != "wal-service" || s.Spec.Selector["app.kubernetes.io/name"] != "wal-service-nginx" {
		t.Errorf("Service selector %v", s.Spec.Selector)
	}
	if o := s.Metadata.OwnerReferences; len(o) != 1 || o[0].UID != "u-1" || o[0].Kind != "Gateway" || !o[0].Controller {
		t.Errorf("Service owner %+v, want the Gateway", o)
	}
}

func TestRenderDeployment(t *testing.T) {
	gw := decode[gateway](t, gatewayJSON)
	d := renderDeployment(&gw, kindConfig(t))
	labels := d.Spec.Template.Metadata.Labels
	if labels["gateway.networking.k8s.io/gateway-name"] != "wal-service" {
		t.Errorf("pod labels %v lack the gateway-name label NetworkPolicies admit", labels)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("selector %s=%s does not select the pod template's labels %v", k, v, labels)
		}
	}
	ps := d.Spec.Template.Spec
	if ps.ServiceAccountName != "ngf-nginx-gateway-fabric" || len(ps.Containers) != 1 {
		t.Fatalf("pod spec %+v", ps)
	}
	c := ps.Containers[0]
	if c.Image != "wal-e2e.local/gateway-standin:1" || c.ImagePullPolicy != "Never" {
		t.Errorf("image %s pull %s", c.Image, c.ImagePullPolicy)
	}
	if want := []string{"dataplane", "--gateway", "nginx-gateway/wal-service"}; len(c.Args) != 3 || c.Args[0] != want[0] || c.Args[2] != want[2] {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	ports := map[int32]bool{}
	for _, p := range c.Ports {
		ports[p.ContainerPort] = true
	}
	if !ports[8080] || !ports[healthPort] || len(ports) != 2 {
		t.Errorf("container ports %+v, want 8080 and %d", c.Ports, healthPort)
	}
	sc := c.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser != 101 || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("container securityContext %+v does not meet the restricted profile", sc)
	}
	if c.ReadinessProbe == nil || c.Resources["limits"] == nil {
		t.Errorf("container lacks a readiness probe or limits")
	}
}

func TestRouteStatus(t *testing.T) {
	gw := decode[gateway](t, gatewayJSON)
	w := &world{
		controllerName: "gateway.nginx.org/nginx-gateway-controller",
		gateways:       map[string]*gateway{"nginx-gateway/wal-service": &gw},
		nsLabels: map[string]map[string]string{
			"app": {"kubernetes.io/metadata.name": "app"}, "nginx-gateway": {"kubernetes.io/metadata.name": "nginx-gateway"},
		},
		services: map[string]bool{"app/wal-service": true},
	}
	routes := decode[list[httpRoute]](t, routesJSON).Items
	parents, attached := w.routeParents(&routes[0])
	if len(parents) != 1 || summary(parents[0].Conditions) != "Accepted=True ResolvedRefs=True" ||
		parents[0].ParentRef.Namespace != "nginx-gateway" || len(attached["nginx-gateway/wal-service"]) != 1 {
		t.Errorf("app/wal-service: %+v attached %v", parents, attached)
	}
	// From the Gateway's own namespace, which the listener's selector does not admit; and its Service is missing.
	parents, _ = w.routeParents(&routes[1])
	if len(parents) != 1 || summary(parents[0].Conditions) != "Accepted=False (NotAllowedByListeners) ResolvedRefs=False (BackendNotFound)" ||
		parents[0].ParentRef.Namespace != "nginx-gateway" {
		t.Errorf("nginx-gateway/api: %+v", parents)
	}
	// Not our Gateway (app/wal-service): no entry of ours.
	if parents, _ = w.routeParents(&routes[2]); len(parents) != 0 {
		t.Errorf("app/elsewhere: %+v", parents)
	}

	st := gatewayStatusFor(&gw, gatewayState{address: "10.96.0.10", ready: true}, map[string]int32{"http": 1})
	if summary(st.Conditions) != "Accepted=True Programmed=True" || st.Addresses[0].Value != "10.96.0.10" ||
		st.Listeners[0].AttachedRoutes != 1 || summary(st.Listeners[0].Conditions) != "Accepted=True Programmed=True ResolvedRefs=True" {
		t.Errorf("Gateway status %+v", st)
	}
	st = gatewayStatusFor(&gw, gatewayState{address: "10.96.0.10"}, nil)
	if summary(st.Conditions) != "Accepted=True Programmed=False (Pending)" {
		t.Errorf("Gateway status before the data plane is ready: %s", summary(st.Conditions))
	}
}

func TestCarryKeepsTransitionTime(t *testing.T) {
	old := []condition{{Type: "Accepted", Status: "True", Reason: "Accepted", LastTransitionTime: "2026-01-01T00:00:00Z"}}
	want := []condition{cond("Accepted", true, "Accepted", "", 0), cond("Programmed", false, "Pending", "", 0)}
	got := carry(old, want, "2026-02-02T00:00:00Z")
	if got[0].LastTransitionTime != "2026-01-01T00:00:00Z" || got[1].LastTransitionTime != "2026-02-02T00:00:00Z" {
		t.Errorf("carry: %+v", got)
	}
	if !same(old, []condition{{Type: "Accepted", Status: "True", Reason: "Accepted"}}) {
		t.Errorf("same: unchanged conditions reported as changed")
	}
}

func TestProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Host, r.URL.Path, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer backend.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	d := &dataplane{proxy: newProxy()}
	d.table.Store(&table{
		"wal.example.test": {{path: "/down", backend: closed.Listener.Addr().String()}, {path: "/", backend: backend.Listener.Addr().String()}},
	})
	for _, c := range []struct {
		host, path string
		code       int
		body       string
	}{
		{"wal.example.test", "/records", 200, "wal.example.test /records http"},
		{"other.test", "/", 404, ""},
		{"wal.example.test", "/down", 502, ""},
	} {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest("GET", "http://"+c.host+c.path, nil))
		if rec.Code != c.code || (c.body != "" && rec.Body.String() != c.body) {
			t.Errorf("%s%s: %d %q, want %d %q", c.host, c.path, rec.Code, rec.Body.String(), c.code, c.body)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeAPI serves lists from objects and records writes; a status merge patch replaces the status fields it names.
type fakeAPI struct {
	mu      sync.Mutex
	objects map[string][]map[string]any // list path → items
	writes  []string                    // "PATCH path content-type"
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer t0ken" {
		http.Error(w, "unauthorized", 401)
		return
	}
	if r.Method == http.MethodGet {
		items, ok := f.objects[r.URL.Path]
		if !ok {
			http.Error(w, "not found", 404)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
		return
	}
	f.writes = append(f.writes, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type"))
	body, _ := io.ReadAll(r.Body)
	var patch map[string]any
	_ = json.Unmarshal(body, &patch)
	if strings.HasSuffix(r.URL.Path, "/status") {
		name := strings.TrimSuffix(r.URL.Path, "/status")
		name = name[strings.LastIndex(name, "/")+1:]
		for _, items := range f.objects {
			for _, o := range items {
				if o["metadata"].(map[string]any)["name"] == name {
					status, _ := o["status"].(map[string]any)
					if status == nil {
						status = map[string]any{}
						o["status"] = status
					}
					for k, v := range patch["status"].(map[string]any) {
						status[k] = v
					}
				}
			}
		}
		_, _ = w.Write([]byte("{}"))
		return
	}
	// Server-side apply: the object back, with what the cluster adds.
	patch["metadata"].(map[string]any)["generation"] = 1
	patch["metadata"].(map[string]any)["resourceVersion"] = "7"
	patch["status"] = map[string]any{"readyReplicas": 1}
	patch["spec"].(map[string]any)["clusterIP"] = "10.96.0.10"
	_ = json.NewEncoder(w).Encode(patch)
}

func item(t *testing.T, s string) map[string]any { return decode[map[string]any](t, s) }

func TestReconcile(t *testing.T) {
	api := &fakeAPI{objects: map[string][]map[string]any{
		gatewayAPI + "/gatewayclasses": {item(t, `{"metadata": {"name": "nginx", "generation": 1},
			"spec": {"controllerName": "gateway.nginx.org/nginx-gateway-controller"}}`),
			item(t, `{"metadata": {"name": "other"}, "spec": {"controllerName": "example.com/other"}}`)},
		gatewayAPI + "/gateways": {item(t, gatewayJSON)},
		gatewayAPI + "/httproutes": {item(t, `{"metadata": {"name": "wal-service", "namespace": "app", "generation": 2, "resourceVersion": "5"},
			"spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "nginx-gateway", "name": "wal-service"}],
			 "hostnames": ["wal.example.test"], "rules": [{"backendRefs": [{"name": "wal-service", "port": 8080}]}]},
			"status": {"parents": [{"parentRef": {"name": "elsewhere"}, "controllerName": "example.com/other", "conditions": []}]}}`)},
		"/api/v1/namespaces": {item(t, `{"metadata": {"name": "app", "labels": {"kubernetes.io/metadata.name": "app"}}}`)},
		"/api/v1/services":   {item(t, `{"metadata": {"name": "wal-service", "namespace": "app"}}`)},
		// ReferenceGrants: not installed (404), which is no error.
	}}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &controller{
		kube:      &kube{base: srv.URL, client: srv.Client(), tokenFile: token},
		name:      "gateway.nginx.org/nginx-gateway-controller",
		namespace: "nginx-gateway",
		cfg:       kindConfig(t),
		logged:    map[string]string{},
	}
	if err := c.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	apply := "?fieldManager=gateway-standin&force=true application/apply-patch+yaml"
	want := []string{
		"PATCH " + gatewayAPI + "/gatewayclasses/nginx/status application/merge-patch+json",
		"PATCH " + gatewayAPI + "/namespaces/app/httproutes/wal-service/status application/merge-patch+json",
		"PATCH /apis/apps/v1/namespaces/nginx-gateway/deployments/wal-service-nginx" + apply,
		"PATCH /api/v1/namespaces/nginx-gateway/services/wal-service-nginx" + apply,
		"PATCH " + gatewayAPI + "/namespaces/nginx-gateway/gateways/wal-service/status application/merge-patch+json",
	}
	if strings.Join(api.writes, "\n") != strings.Join(want, "\n") {
		t.Fatalf("writes:\n%s\nwant:\n%s", strings.Join(api.writes, "\n"), strings.Join(want, "\n"))
	}
	gw := decode[gateway](t, mustJSON(t, api.objects[gatewayAPI+"/gateways"][0]))
	if summary(gw.Status.Conditions) != "Accepted=True Programmed=True" || gw.Status.Addresses[0].Value != "10.96.0.10" ||
		gw.Status.Listeners[0].AttachedRoutes != 1 {
		t.Errorf("Gateway status %+v", gw.Status)
	}
	route := decode[httpRoute](t, mustJSON(t, api.objects[gatewayAPI+"/httproutes"][0]))
	if len(route.Status.Parents) != 2 || !strings.Contains(string(route.Status.Parents[0]), "example.com/other") {
		t.Errorf("route parents %s: the other controller's entry must stay first", route.Status.Parents)
	}

	// Nothing changed: only the data plane is applied again, no status is written.
	api.writes = nil
	if err := c.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(api.writes) != 2 || !strings.Contains(api.writes[0], "/deployments/") || !strings.Contains(api.writes[1], "/services/") {
		t.Errorf("second pass wrote:\n%s", strings.Join(api.writes, "\n"))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

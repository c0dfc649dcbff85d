package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

type controller struct {
	kube      *kube
	name      string // controllerName of the GatewayClasses we serve
	namespace string // ours: the data planes' ServiceAccount is here
	cfg       dataPlaneConfig
	logged    map[string]string // last logged state per subject, so that a change logs once
}

func runController(ctx context.Context) error {
	c := &controller{name: os.Getenv("CONTROLLER_NAME"), logged: map[string]string{}}
	c.cfg = dataPlaneConfig{
		Image:          os.Getenv("POD_IMAGE"),
		PullPolicy:     os.Getenv("POD_IMAGE_PULL_POLICY"),
		ServiceAccount: os.Getenv("SERVICE_ACCOUNT"),
	}
	if c.name == "" || c.cfg.Image == "" || c.cfg.ServiceAccount == "" {
		return errors.New("CONTROLLER_NAME, POD_IMAGE and SERVICE_ACCOUNT must be set (the chart's Deployment sets them)")
	}
	if v := os.Getenv("NGINX_SERVICE"); v != "" {
		if err := json.Unmarshal([]byte(v), &c.cfg.Service); err != nil {
			return fmt.Errorf("NGINX_SERVICE (the chart's nginx.service as JSON): %w", err)
		}
	}
	var err error
	if c.kube, err = inCluster(); err != nil {
		return err
	}
	if c.namespace, err = ownNamespace(); err != nil {
		return err
	}
	log.Printf("controller %s in namespace %s: data planes run %s as %s, Service %+v",
		c.name, c.namespace, c.cfg.Image, c.cfg.ServiceAccount, c.cfg.Service)

	var ready atomic.Bool
	health := healthServer(ready.Load)
	errs := make(chan error, 1)
	go serve(health, errs)
	loop, cancel := context.WithCancel(ctx)
	defer cancel()
	go every(loop, 2*time.Second, func() {
		pass, done := context.WithTimeout(loop, 20*time.Second)
		defer done()
		err := c.reconcile(pass)
		if err == nil {
			ready.Store(true)
			c.note("reconcile", "", "reconciled")
			return
		}
		if loop.Err() == nil {
			c.note("reconcile", err.Error(), "reconcile: %v", err)
		}
	})
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	shutdown, done := context.WithTimeout(context.Background(), 2*time.Second)
	defer done()
	_ = health.Shutdown(shutdown)
	return err
}

// note logs once per change of subject's state; the first state is logged unless it is empty.
func (c *controller) note(subject, state, format string, args ...any) {
	old, seen := c.logged[subject]
	if old == state && (seen || state == "") {
		return
	}
	c.logged[subject] = state
	log.Printf(format, args...)
}

func getList[T any](ctx context.Context, k *kube, path string) ([]T, error) {
	var l list[T]
	err := k.get(ctx, path, &l)
	return l.Items, err
}

func (c *controller) reconcile(ctx context.Context) error {
	now := time.Now().UTC().Format(time.RFC3339)
	classes, err := getList[gatewayClass](ctx, c.kube, gatewayAPI+"/gatewayclasses")
	if err != nil {
		return fmt.Errorf("list GatewayClasses: %w", err)
	}
	ours := map[string]bool{}
	var errs []error
	for _, gc := range classes {
		if gc.Spec.ControllerName != c.name {
			continue
		}
		ours[gc.Metadata.Name] = true
		want := []condition{cond("Accepted", true, "Accepted",
			"served by the e2e stand-in for NGINX Gateway Fabric", gc.Metadata.Generation)}
		if same(gc.Status.Conditions, want) {
			continue
		}
		status := map[string]any{"conditions": carry(gc.Status.Conditions, want, now)}
		if err := c.kube.patchStatus(ctx, gatewayAPI+"/gatewayclasses/"+gc.Metadata.Name, map[string]any{"status": status}); err != nil {
			errs = append(errs, fmt.Errorf("GatewayClass %s status: %w", gc.Metadata.Name, err))
			continue
		}
		log.Printf("GatewayClass %s: Accepted", gc.Metadata.Name)
	}

	gateways, err := getList[gateway](ctx, c.kube, gatewayAPI+"/gateways")
	if err != nil {
		return fmt.Errorf("list Gateways: %w", err)
	}
	w := &world{controllerName: c.name, gateways: map[string]*gateway{}, nsLabels: map[string]map[string]string{},
		services: map[string]bool{}}
	for i := range gateways {
		if gw := &gateways[i]; ours[gw.Spec.GatewayClassName] {
			w.gateways[gw.Metadata.Namespace+"/"+gw.Metadata.Name] = gw
		}
	}
	if len(w.gateways) == 0 {
		return errors.Join(errs...)
	}
	namespaces, err := getList[struct {
		Metadata objectMeta `json:"metadata"`
	}](ctx, c.kube, "/api/v1/namespaces")
	if err != nil {
		return fmt.Errorf("list Namespaces: %w", err)
	}
	for _, n := range namespaces {
		w.nsLabels[n.Metadata.Name] = n.Metadata.Labels
	}
	services, err := getList[struct {
		Metadata objectMeta `json:"metadata"`
	}](ctx, c.kube, "/api/v1/services")
	if err != nil {
		return fmt.Errorf("list Services: %w", err)
	}
	for _, s := range services {
		w.services[s.Metadata.Namespace+"/"+s.Metadata.Name] = true
	}
	// v1beta1: served by every Gateway API release that has ReferenceGrant (v1 only from v1.5).
	w.grants, err = getList[referenceGrant](ctx, c.kube, "/apis/gateway.networking.k8s.io/v1beta1/referencegrants")
	if ae := (*apiError)(nil); errors.As(err, &ae) && ae.Code == 404 {
		err = nil // the CRD is not installed: no grants
	}
	if err != nil {
		return fmt.Errorf("list ReferenceGrants: %w", err)
	}
	routes, err := getList[httpRoute](ctx, c.kube, gatewayAPI+"/httproutes")
	if err != nil {
		return fmt.Errorf("list HTTPRoutes: %w", err)
	}

	attached := map[string]map[string]int32{}
	for i := range routes {
		r := &routes[i]
		parents, on := w.routeParents(r)
		for gw, listeners := range on {
			if attached[gw] == nil {
				attached[gw] = map[string]int32{}
			}
			for _, l := range listeners {
				attached[gw][l]++
			}
		}
		if len(parents) > 0 {
			if err := c.routeStatus(ctx, r, parents, now); err != nil {
				errs = append(errs, err)
			}
		}
	}

	for _, key := range slices.Sorted(maps.Keys(w.gateways)) {
		gw := w.gateways[key]
		st, err := c.dataPlane(ctx, gw)
		if err != nil {
			errs = append(errs, fmt.Errorf("Gateway %s data plane: %w", key, err))
			continue
		}
		if err := c.gatewayStatus(ctx, gw, st, attached[key], now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// routeStatus writes our entries of the route's status.parents, keeping other controllers' entries.
func (c *controller) routeStatus(ctx context.Context, r *httpRoute, want []routeParentStatus, now string) error {
	var others []any
	var old []routeParentStatus
	for _, raw := range r.Status.Parents {
		var p routeParentStatus
		if err := json.Unmarshal(raw, &p); err == nil && p.ControllerName == c.name {
			old = append(old, p)
		} else {
			others = append(others, raw)
		}
	}
	for i := range want {
		var prior []condition
		for _, o := range old {
			if reflect.DeepEqual(o.ParentRef, want[i].ParentRef) {
				prior = o.Conditions
			}
		}
		want[i].Conditions = carry(prior, want[i].Conditions, now)
	}
	if equal(old, want) {
		return nil
	}
	key := r.Metadata.Namespace + "/" + r.Metadata.Name
	parents := others
	for _, p := range want {
		parents = append(parents, p)
	}
	// resourceVersion: a concurrent writer of the list makes this a conflict, retried next pass, not a loss.
	patch := map[string]any{
		"metadata": map[string]any{"resourceVersion": r.Metadata.ResourceVersion},
		"status":   map[string]any{"parents": parents},
	}
	if err := c.kube.patchStatus(ctx, gatewayAPI+"/namespaces/"+r.Metadata.Namespace+"/httproutes/"+r.Metadata.Name, patch); err != nil {
		return fmt.Errorf("HTTPRoute %s status: %w", key, err)
	}
	for _, p := range want {
		log.Printf("HTTPRoute %s on Gateway %s/%s: %s", key, p.ParentRef.Namespace, p.ParentRef.Name, summary(p.Conditions))
	}
	return nil
}

// dataPlane applies the Gateway's data-plane Deployment and Service and reports their state.
func (c *controller) dataPlane(ctx context.Context, gw *gateway) (gatewayState, error) {
	ns, name := gw.Metadata.Namespace, dataPlaneName(gw)
	key := ns + "/" + name
	if ns != c.namespace {
		// Its pods would run as our ServiceAccount, which exists only in our namespace.
		return gatewayState{problem: fmt.Sprintf(
			"the e2e stand-in for NGINX Gateway Fabric runs data planes only in its own namespace %s", c.namespace)}, nil
	}
	var dep struct {
		Metadata objectMeta `json:"metadata"`
		Status   struct {
			ReadyReplicas int32 `json:"readyReplicas"`
		} `json:"status"`
	}
	if err := c.kube.apply(ctx, "/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, renderDeployment(gw, c.cfg), &dep); err != nil {
		return gatewayState{}, fmt.Errorf("apply Deployment %s: %w", key, err)
	}
	var svc struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			ClusterIP string `json:"clusterIP"`
		} `json:"spec"`
	}
	if err := c.kube.apply(ctx, "/api/v1/namespaces/"+ns+"/services/"+name, renderService(gw, c.cfg), &svc); err != nil {
		return gatewayState{}, fmt.Errorf("apply Service %s: %w", key, err)
	}
	c.note("deployment "+key, fmt.Sprint(dep.Metadata.Generation), "Deployment %s applied (generation %d)", key, dep.Metadata.Generation)
	c.note("service "+key, svc.Metadata.ResourceVersion, "Service %s applied (cluster IP %s)", key, svc.Spec.ClusterIP)
	st := gatewayState{address: svc.Spec.ClusterIP, ready: dep.Status.ReadyReplicas >= 1}
	c.note("ready "+key, fmt.Sprint(st.ready), "data plane %s: %d ready replica(s)", key, dep.Status.ReadyReplicas)
	return st, nil
}

func (c *controller) gatewayStatus(ctx context.Context, gw *gateway, st gatewayState, attached map[string]int32, now string) error {
	key := gw.Metadata.Namespace + "/" + gw.Metadata.Name
	want := gatewayStatusFor(gw, st, attached)
	want.Conditions = carry(gw.Status.Conditions, want.Conditions, now)
	for i := range want.Listeners {
		var prior []condition
		for _, o := range gw.Status.Listeners {
			if o.Name == want.Listeners[i].Name {
				prior = o.Conditions
			}
		}
		want.Listeners[i].Conditions = carry(prior, want.Listeners[i].Conditions, now)
	}
	if equal(gw.Status, want) {
		return nil
	}
	// Explicit null: merge patch removes addresses the Gateway no longer has.
	var addresses any
	if len(want.Addresses) > 0 {
		addresses = want.Addresses
	}
	status := map[string]any{"addresses": addresses, "conditions": want.Conditions, "listeners": want.Listeners}
	if err := c.kube.patchStatus(ctx, gatewayAPI+"/namespaces/"+gw.Metadata.Namespace+"/gateways/"+gw.Metadata.Name,
		map[string]any{"status": status}); err != nil {
		return fmt.Errorf("Gateway %s status: %w", key, err)
	}
	var routes []string
	for _, l := range want.Listeners {
		routes = append(routes, fmt.Sprintf("%s=%d", l.Name, l.AttachedRoutes))
	}
	log.Printf("Gateway %s: %s, address %q, attached routes %s", key, summary(want.Conditions),
		cmp.Or(st.address, "none"), strings.Join(routes, " "))
	return nil
}

// summary: "Accepted=True Programmed=False (Pending)".
func summary(conds []condition) string {
	var parts []string
	for _, c := range conds {
		s := c.Type + "=" + c.Status
		if !c.isTrue() {
			s += " (" + c.Reason + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// same: conds already say what want says (lastTransitionTime aside).
func same(conds, want []condition) bool {
	return equal(carry(conds, want, ""), conds)
}

// equal compares as JSON with null and empty lists and objects dropped: what the API server returns may differ
// from what was written only in those.
func equal(a, b any) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	var out any
	_ = json.Unmarshal(b, &out)
	var prune func(any) any
	prune = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				if x = prune(x); x == nil {
					delete(t, k)
				} else {
					t[k] = x
				}
			}
			if len(t) == 0 {
				return nil
			}
		case []any:
			for i := range t {
				t[i] = prune(t[i])
			}
			if len(t) == 0 {
				return nil
			}
		}
		return v
	}
	return prune(out)
}

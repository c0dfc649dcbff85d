package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// world is what one reconcile pass knows of the cluster.
type world struct {
	controllerName string
	gateways       map[string]*gateway // ns/name → our Gateways (their class is ours)
	nsLabels       map[string]map[string]string
	services       map[string]bool // ns/name
	grants         []referenceGrant
}

func cond(kind string, ok bool, reason, message string, generation int64) condition {
	status := "False"
	if ok {
		status = "True"
	}
	return condition{Type: kind, Status: status, Reason: reason, Message: message, ObservedGeneration: generation}
}

// carry keeps lastTransitionTime of a condition whose status did not change, and stamps now on the others.
func carry(old, want []condition, now string) []condition {
	out := slices.Clone(want)
	for i := range out {
		out[i].LastTransitionTime = now
		for _, o := range old {
			if o.Type == out[i].Type && o.Status == out[i].Status && o.LastTransitionTime != "" {
				out[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return out
}

func selects(sel *labelSelector, labels map[string]string) bool {
	if sel == nil {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range sel.MatchExpressions {
		v, has := labels[e.Key]
		switch e.Operator {
		case "In":
			if !has || !slices.Contains(e.Values, v) {
				return false
			}
		case "NotIn":
			if has && slices.Contains(e.Values, v) {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// admits: the listener takes HTTPRoutes from the route's namespace (allowedRoutes; Same by default).
func (w *world) admits(l listener, gwNS, routeNS string) bool {
	if l.AllowedRoutes != nil && len(l.AllowedRoutes.Kinds) > 0 &&
		!slices.Contains(l.AllowedRoutes.Kinds, routeGroupKind{Group: gatewayGroup, Kind: "HTTPRoute"}) {
		return false
	}
	from, sel := "Same", (*labelSelector)(nil)
	if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil {
		from, sel = cmp.Or(l.AllowedRoutes.Namespaces.From, "Same"), l.AllowedRoutes.Namespaces.Selector
	}
	switch from {
	case "All":
		return true
	case "Same":
		return routeNS == gwNS
	case "Selector":
		return selects(sel, w.nsLabels[routeNS])
	}
	return false
}

// hostsMeet: the listener's hostname and the route's hostnames intersect (either side may be a wildcard; no
// hostname means any).
func hostsMeet(listenerHost string, routeHosts []string) bool {
	if listenerHost == "" || len(routeHosts) == 0 {
		return true
	}
	covers := func(wild, host string) bool {
		return strings.HasPrefix(wild, "*.") && strings.HasSuffix(host, wild[1:]) && len(host) > len(wild)-1
	}
	for _, h := range routeHosts {
		if strings.EqualFold(h, listenerHost) || covers(listenerHost, h) || covers(h, listenerHost) {
			return true
		}
	}
	return false
}

// attach evaluates one parentRef of route r to Gateway gw: the Accepted condition, and the listeners it attaches to.
func (w *world) attach(r *httpRoute, ref parentRef, gw *gateway) (condition, []string) {
	gen := r.Metadata.Generation
	var candidates []listener
	for _, l := range gw.Spec.Listeners {
		if (ref.SectionName == "" || ref.SectionName == l.Name) && (ref.Port == nil || *ref.Port == l.Port) {
			candidates = append(candidates, l)
		}
	}
	if len(candidates) == 0 {
		return cond("Accepted", false, "NoMatchingParent", "no listener of the Gateway matches sectionName/port", gen), nil
	}
	var names []string
	admitted := false
	for _, l := range candidates {
		if !servable(l) || !w.admits(l, gw.Metadata.Namespace, r.Metadata.Namespace) {
			continue
		}
		admitted = true
		if hostsMeet(l.Hostname, r.Spec.Hostnames) {
			names = append(names, l.Name)
		}
	}
	switch {
	case !admitted:
		return cond("Accepted", false, "NotAllowedByListeners",
			"no HTTP listener of the Gateway allows routes from this namespace", gen), nil
	case len(names) == 0:
		return cond("Accepted", false, "NoMatchingListenerHostname",
			"no listener hostname matches the route's hostnames", gen), nil
	}
	return cond("Accepted", true, "Accepted", "the route is attached to the Gateway", gen), names
}

func (w *world) granted(routeNS, svcNS, svc string) bool {
	for _, g := range w.grants {
		if g.Metadata.Namespace != svcNS {
			continue
		}
		from := slices.ContainsFunc(g.Spec.From, func(f grantFrom) bool {
			return f.Group == gatewayGroup && f.Kind == "HTTPRoute" && f.Namespace == routeNS
		})
		to := slices.ContainsFunc(g.Spec.To, func(t grantTo) bool {
			return t.Group == "" && t.Kind == "Service" && (t.Name == "" || t.Name == svc)
		})
		if from && to {
			return true
		}
	}
	return false
}

// resolvedRefs: every backendRef is a Service that exists and, in another namespace, is granted to the route.
func (w *world) resolvedRefs(r *httpRoute) condition {
	gen, ns := r.Metadata.Generation, r.Metadata.Namespace
	for _, rule := range r.Spec.Rules {
		for _, b := range rule.BackendRefs {
			if b.Group != "" || cmp.Or(b.Kind, "Service") != "Service" {
				return cond("ResolvedRefs", false, "InvalidKind", fmt.Sprintf("backendRef %s: only Services are supported", b.Name), gen)
			}
			bns := cmp.Or(b.Namespace, ns)
			if bns != ns && !w.granted(ns, bns, b.Name) {
				return cond("ResolvedRefs", false, "RefNotPermitted",
					fmt.Sprintf("no ReferenceGrant in %s allows this route to reach Service %s", bns, b.Name), gen)
			}
			if !w.services[bns+"/"+b.Name] {
				return cond("ResolvedRefs", false, "BackendNotFound", fmt.Sprintf("Service %s/%s not found", bns, b.Name), gen)
			}
		}
	}
	return cond("ResolvedRefs", true, "ResolvedRefs", "all backend references resolved", gen)
}

// routeParents is our share of route r's status.parents (one entry per parentRef to one of our Gateways,
// lastTransitionTime not yet set) and, per Gateway, the listeners it attaches to.
func (w *world) routeParents(r *httpRoute) ([]routeParentStatus, map[string][]string) {
	var out []routeParentStatus
	attached := map[string][]string{}
	ns := r.Metadata.Namespace
	for _, ref := range r.Spec.ParentRefs {
		group, kind := ref.groupKind()
		key := cmp.Or(ref.Namespace, ns) + "/" + ref.Name
		gw := w.gateways[key]
		if group != gatewayGroup || kind != "Gateway" || gw == nil {
			continue
		}
		accepted, listeners := w.attach(r, ref, gw)
		attached[key] = append(attached[key], listeners...)
		echo := ref
		echo.Group, echo.Kind, echo.Namespace = &group, &kind, cmp.Or(ref.Namespace, ns)
		out = append(out, routeParentStatus{
			ParentRef:      echo,
			ControllerName: w.controllerName,
			Conditions:     []condition{accepted, w.resolvedRefs(r)},
		})
	}
	return out, attached
}

// gatewayState is what the controller observed of a Gateway's data plane.
type gatewayState struct {
	address string // the data-plane Service's cluster IP
	ready   bool   // its Deployment has a ready replica
	problem string // why there is no data plane; empty when there is one
}

// gatewayStatusFor is the Gateway's status (lastTransitionTime not yet set); attached counts routes per listener.
func gatewayStatusFor(gw *gateway, st gatewayState, attached map[string]int32) gatewayStatus {
	gen := gw.Metadata.Generation
	var s gatewayStatus
	if st.address != "" {
		s.Addresses = []gatewayAddress{{Type: "IPAddress", Value: st.address}}
	}
	programmed := cond("Programmed", true, "Programmed", "the data plane is ready", gen)
	switch {
	case st.problem != "":
		programmed = cond("Programmed", false, "Invalid", st.problem, gen)
	case !st.ready:
		programmed = cond("Programmed", false, "Pending",
			fmt.Sprintf("waiting for Deployment %s/%s to have a ready replica", gw.Metadata.Namespace, dataPlaneName(gw)), gen)
	}
	s.Conditions = []condition{cond("Accepted", true, "Accepted", "the Gateway is accepted", gen), programmed}
	s.Listeners = []listenerStatus{}
	for _, l := range gw.Spec.Listeners {
		ls := listenerStatus{Name: l.Name, SupportedKinds: []routeGroupKind{}, AttachedRoutes: attached[l.Name]}
		if servable(l) {
			lp := programmed
			lp.Message = fmt.Sprintf("the data plane listens on port %d", l.Port+portOffset)
			if !programmed.isTrue() {
				lp.Message = programmed.Message
			}
			ls.SupportedKinds = []routeGroupKind{{Group: gatewayGroup, Kind: "HTTPRoute"}}
			ls.Conditions = []condition{
				cond("Accepted", true, "Accepted", "the listener is accepted", gen),
				lp,
				cond("ResolvedRefs", true, "ResolvedRefs", "the listener's references are resolved", gen),
			}
		} else {
			reason, why := "UnsupportedProtocol", "the e2e stand-in for NGINX Gateway Fabric serves HTTP listeners only"
			if l.Protocol == "HTTP" {
				reason = "PortUnavailable"
				why = fmt.Sprintf("port %d: the data plane listens on the port plus %d, which must be below 65536 and not %d",
					l.Port, portOffset, healthPort)
			}
			ls.Conditions = []condition{
				cond("Accepted", false, reason, why, gen),
				cond("Programmed", false, "Invalid", why, gen),
				cond("ResolvedRefs", true, "ResolvedRefs", "the listener's references are resolved", gen),
			}
		}
		s.Listeners = append(s.Listeners, ls)
	}
	return s
}

func (c condition) isTrue() bool { return c.Status == "True" }

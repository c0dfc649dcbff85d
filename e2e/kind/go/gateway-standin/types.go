package main

import "encoding/json"

// The parts of the Gateway API and core objects the stand-in reads or writes; unknown fields are ignored.

const (
	gatewayGroup = "gateway.networking.k8s.io"
	gatewayAPI   = "/apis/gateway.networking.k8s.io/v1"
	fieldManager = "gateway-standin"
)

type objectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
}

type condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
	LastTransitionTime string `json:"lastTransitionTime"`
	ObservedGeneration int64  `json:"observedGeneration"`
}

type list[T any] struct {
	Items []T `json:"items"`
}

type gatewayClass struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		ControllerName string `json:"controllerName"`
	} `json:"spec"`
	Status struct {
		Conditions []condition `json:"conditions"`
	} `json:"status"`
}

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values,omitempty"`
	} `json:"matchExpressions,omitempty"`
}

type routeGroupKind struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
}

type listener struct {
	Name          string `json:"name"`
	Hostname      string `json:"hostname,omitempty"`
	Port          int32  `json:"port"`
	Protocol      string `json:"protocol"`
	AllowedRoutes *struct {
		Namespaces *struct {
			From     string         `json:"from,omitempty"`
			Selector *labelSelector `json:"selector,omitempty"`
		} `json:"namespaces,omitempty"`
		Kinds []routeGroupKind `json:"kinds,omitempty"`
	} `json:"allowedRoutes,omitempty"`
}

type gatewayAddress struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type listenerStatus struct {
	Name           string           `json:"name"`
	SupportedKinds []routeGroupKind `json:"supportedKinds"`
	AttachedRoutes int32            `json:"attachedRoutes"`
	Conditions     []condition      `json:"conditions"`
}

type gatewayStatus struct {
	Addresses  []gatewayAddress `json:"addresses,omitempty"`
	Conditions []condition      `json:"conditions"`
	Listeners  []listenerStatus `json:"listeners"`
}

type gateway struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		GatewayClassName string     `json:"gatewayClassName"`
		Listeners        []listener `json:"listeners"`
	} `json:"spec"`
	Status gatewayStatus `json:"status"`
}

type parentRef struct {
	Group       *string `json:"group,omitempty"`
	Kind        *string `json:"kind,omitempty"`
	Namespace   string  `json:"namespace,omitempty"`
	Name        string  `json:"name"`
	SectionName string  `json:"sectionName,omitempty"`
	Port        *int32  `json:"port,omitempty"`
}

type backendRef struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Port      int32  `json:"port,omitempty"`
	Weight    *int32 `json:"weight,omitempty"`
}

type routeMatch struct {
	Path *struct {
		Type  string `json:"type,omitempty"`
		Value string `json:"value,omitempty"`
	} `json:"path,omitempty"`
}

type routeRule struct {
	Matches     []routeMatch `json:"matches,omitempty"`
	BackendRefs []backendRef `json:"backendRefs,omitempty"`
}

type routeParentStatus struct {
	ParentRef      parentRef   `json:"parentRef"`
	ControllerName string      `json:"controllerName"`
	Conditions     []condition `json:"conditions"`
}

type httpRoute struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		ParentRefs []parentRef `json:"parentRefs,omitempty"`
		Hostnames  []string    `json:"hostnames,omitempty"`
		Rules      []routeRule `json:"rules,omitempty"`
	} `json:"spec"`
	Status struct {
		// Raw, so that other controllers' entries go back unchanged.
		Parents []json.RawMessage `json:"parents,omitempty"`
	} `json:"status"`
}

type referenceGrant struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		From []grantFrom `json:"from"`
		To   []grantTo   `json:"to"`
	} `json:"spec"`
}

type grantFrom struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
}

type grantTo struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
}

// group and kind of a parentRef, with the API's defaults.
func (p parentRef) groupKind() (string, string) {
	group, kind := gatewayGroup, "Gateway"
	if p.Group != nil {
		group = *p.Group
	}
	if p.Kind != nil {
		kind = *p.Kind
	}
	return group, kind
}

// refersTo says whether the route's parentRef p names the Gateway ns/name.
func (p parentRef) refersTo(routeNS, ns, name string) bool {
	group, kind := p.groupKind()
	pns := p.Namespace
	if pns == "" {
		pns = routeNS
	}
	return group == gatewayGroup && kind == "Gateway" && pns == ns && p.Name == name
}

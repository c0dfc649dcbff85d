package main

import (
	"cmp"
	"fmt"
)

const (
	// Non-root cannot bind ports below 1024: the data plane listens on this offset plus the listener's port,
	// and its Service maps the listener's port there.
	portOffset = 8000
	healthPort = 8081
)

// serviceValues is the chart's nginx.service, which NGF applies to every data-plane Service.
type serviceValues struct {
	Type                  string `json:"type"`
	ExternalTrafficPolicy string `json:"externalTrafficPolicy"`
	NodePorts             []struct {
		Port         int32 `json:"port"`
		ListenerPort int32 `json:"listenerPort"`
	} `json:"nodePorts"`
}

// dataPlaneConfig is what the controller's chart tells it about the data planes it runs.
type dataPlaneConfig struct {
	Image          string
	PullPolicy     string
	ServiceAccount string
	Service        serviceValues
}

type ownerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller bool   `json:"controller"`
}

type meta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	Labels          map[string]string `json:"labels"`
	OwnerReferences []ownerReference  `json:"ownerReferences"`
}

type servicePort struct {
	Name       string `json:"name"`
	Protocol   string `json:"protocol"`
	Port       int32  `json:"port"`
	TargetPort int32  `json:"targetPort"`
	NodePort   int32  `json:"nodePort,omitempty"`
}

type service struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   meta   `json:"metadata"`
	Spec       struct {
		Type                  string            `json:"type"`
		Selector              map[string]string `json:"selector"`
		Ports                 []servicePort     `json:"ports"`
		ExternalTrafficPolicy string            `json:"externalTrafficPolicy,omitempty"`
	} `json:"spec"`
}

type containerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

type securityContext struct {
	RunAsNonRoot             bool  `json:"runAsNonRoot"`
	RunAsUser                int64 `json:"runAsUser"`
	RunAsGroup               int64 `json:"runAsGroup"`
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation,omitempty"`
	ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem,omitempty"`
	Capabilities             *struct {
		Drop []string `json:"drop"`
	} `json:"capabilities,omitempty"`
	SeccompProfile struct {
		Type string `json:"type"`
	} `json:"seccompProfile"`
}

type container struct {
	Name            string          `json:"name"`
	Image           string          `json:"image"`
	ImagePullPolicy string          `json:"imagePullPolicy"`
	Args            []string        `json:"args"`
	Ports           []containerPort `json:"ports"`
	ReadinessProbe  map[string]any  `json:"readinessProbe"`
	Resources       map[string]any  `json:"resources"`
	SecurityContext securityContext `json:"securityContext"`
}

type deployment struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   meta   `json:"metadata"`
	Spec       struct {
		Replicas int32 `json:"replicas"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				ServiceAccountName            string          `json:"serviceAccountName"`
				TerminationGracePeriodSeconds int64           `json:"terminationGracePeriodSeconds"`
				SecurityContext               securityContext `json:"securityContext"`
				Containers                    []container     `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func dataPlaneName(gw *gateway) string { return gw.Metadata.Name + "-nginx" }

// dataPlaneLabels select the data-plane pods; the gateway-name label is what NetworkPolicies admit (GEP-1762),
// the name label keeps other pods carrying it out of the Service.
func dataPlaneLabels(gw *gateway) map[string]string {
	return map[string]string{
		"gateway.networking.k8s.io/gateway-name": gw.Metadata.Name,
		"app.kubernetes.io/name":                 dataPlaneName(gw),
	}
}

func dataPlaneMeta(gw *gateway) meta {
	labels := dataPlaneLabels(gw)
	labels["app.kubernetes.io/managed-by"] = fieldManager
	return meta{
		Name:      dataPlaneName(gw),
		Namespace: gw.Metadata.Namespace,
		Labels:    labels,
		// Deleting the Gateway deletes its data plane, as with NGF.
		OwnerReferences: []ownerReference{{
			APIVersion: gatewayGroup + "/v1", Kind: "Gateway", Name: gw.Metadata.Name, UID: gw.Metadata.UID, Controller: true,
		}},
	}
}

// servedListeners are the Gateway's listeners the stand-in serves: HTTP, on a port it can offset without
// overflowing or taking the health port.
func servedListeners(gw *gateway) []listener {
	var out []listener
	for _, l := range gw.Spec.Listeners {
		if servable(l) {
			out = append(out, l)
		}
	}
	return out
}

func servable(l listener) bool {
	p := l.Port + portOffset
	return l.Protocol == "HTTP" && p <= 65535 && p != healthPort
}

// uniquePorts: listeners may share a port (distinct hostnames); the pod and the Service list each port once.
func uniquePorts(gw *gateway) []int32 {
	var ports []int32
	seen := map[int32]bool{}
	for _, l := range servedListeners(gw) {
		if !seen[l.Port] {
			seen[l.Port] = true
			ports = append(ports, l.Port)
		}
	}
	return ports
}

func renderService(gw *gateway, cfg dataPlaneConfig) service {
	var s service
	s.APIVersion, s.Kind, s.Metadata = "v1", "Service", dataPlaneMeta(gw)
	s.Spec.Type = cmp.Or(cfg.Service.Type, "LoadBalancer")
	s.Spec.Selector = dataPlaneLabels(gw)
	if s.Spec.Type != "ClusterIP" {
		s.Spec.ExternalTrafficPolicy = cfg.Service.ExternalTrafficPolicy
	}
	for _, port := range uniquePorts(gw) {
		sp := servicePort{Name: fmt.Sprintf("port-%d", port), Protocol: "TCP", Port: port, TargetPort: port + portOffset}
		for _, np := range cfg.Service.NodePorts {
			if np.ListenerPort == port && s.Spec.Type != "ClusterIP" {
				sp.NodePort = np.Port
			}
		}
		s.Spec.Ports = append(s.Spec.Ports, sp)
	}
	return s
}

// restricted meets the Kubernetes "restricted" Pod Security profile; 101 is nginx's user in NGF's images.
func restricted(container bool) securityContext {
	sc := securityContext{RunAsNonRoot: true, RunAsUser: 101, RunAsGroup: 101}
	sc.SeccompProfile.Type = "RuntimeDefault"
	if container {
		no, yes := false, true
		sc.AllowPrivilegeEscalation, sc.ReadOnlyRootFilesystem = &no, &yes
		sc.Capabilities = &struct {
			Drop []string `json:"drop"`
		}{Drop: []string{"ALL"}}
	}
	return sc
}

func renderDeployment(gw *gateway, cfg dataPlaneConfig) deployment {
	var d deployment
	d.APIVersion, d.Kind, d.Metadata = "apps/v1", "Deployment", dataPlaneMeta(gw)
	d.Spec.Replicas = 1
	d.Spec.Selector.MatchLabels = dataPlaneLabels(gw)
	d.Spec.Template.Metadata.Labels = dataPlaneLabels(gw)
	ps := &d.Spec.Template.Spec
	ps.ServiceAccountName = cfg.ServiceAccount
	// Room for the data plane's own drain (dataplane.go: readiness off, then up to 5 s for requests in flight).
	ps.TerminationGracePeriodSeconds = 30
	ps.SecurityContext = restricted(false)
	ports := []containerPort{{Name: "health", ContainerPort: healthPort, Protocol: "TCP"}}
	for _, port := range uniquePorts(gw) {
		ports = append(ports, containerPort{ContainerPort: port + portOffset, Protocol: "TCP"})
	}
	ps.Containers = []container{{
		Name:            "nginx",
		Image:           cfg.Image,
		ImagePullPolicy: cmp.Or(cfg.PullPolicy, "IfNotPresent"),
		Args:            []string{"dataplane", "--gateway", gw.Metadata.Namespace + "/" + gw.Metadata.Name},
		Ports:           ports,
		ReadinessProbe: map[string]any{
			"httpGet":          map[string]any{"path": "/healthz", "port": "health"},
			"periodSeconds":    2,
			"failureThreshold": 2,
		},
		Resources: map[string]any{
			"requests": map[string]string{"cpu": "10m", "memory": "16Mi"},
			"limits":   map[string]string{"cpu": "500m", "memory": "64Mi"},
		},
		SecurityContext: restricted(true),
	}}
	return d
}

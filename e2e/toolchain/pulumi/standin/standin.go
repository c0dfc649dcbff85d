// Package standin serves small providers for the e2e toolchain.
//
// The Go module proxy refuses github.com/pulumi/pulumi-command/provider and
// github.com/pulumi/pulumi-random/provider/v4, so the e2e run cannot use the
// real command and random providers. These stand-ins implement the one
// resource type the program uses from each, following the upstream resource
// contracts (pulumi-command local/command.go: triggers replace, other input
// changes update and re-run `update` or else `create`; random: every input is
// replace-on-change), so that the engine, the language host, the Kubernetes
// provider and the API server around them are exercised for real. They are not
// evidence about the real providers' behaviour.
package standin

import (
	"context"
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Resource is the behaviour of the one resource type a stand-in serves.
type Resource interface {
	// Check returns the inputs with defaults applied.
	Check(news resource.PropertyMap) resource.PropertyMap
	// ReplaceOnChange reports whether a change to the input key replaces.
	ReplaceOnChange(key resource.PropertyKey) bool
	// Create returns the id and outputs; preview must not act.
	Create(ctx context.Context, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error)
	// Update returns the new outputs; preview must not act.
	Update(ctx context.Context, olds, news resource.PropertyMap, preview bool) (resource.PropertyMap, error)
	// Delete undoes Create.
	Delete(ctx context.Context, olds resource.PropertyMap) error
}

// DeleteBeforeReplacer is a Resource whose replacement must delete the old
// one first (a fixed name, as a docker container's).
type DeleteBeforeReplacer interface {
	DeleteBeforeReplace() bool
}

// Main serves res as resource type token of the provider named name.
func Main(name, version, token string, res Resource) {
	MainTypes(name, version, map[string]Resource{token: res})
}

// MainTypes serves each resource type token of the provider named name.
func MainTypes(name, version string, types map[string]Resource) {
	if err := provider.Main(name, func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &server{name: name, version: version, types: types}, nil
	}); err != nil {
		panic(err)
	}
}

type server struct {
	pulumirpc.UnimplementedResourceProviderServer

	name, version string
	types         map[string]Resource
}

// config is the provider's configuration, as Configure received it.
var config = resource.PropertyMap{}

// Config returns the provider configuration value key ("host"), or "".
func Config(key resource.PropertyKey) string {
	if v := Plain(config[key]); v.IsString() {
		return v.StringValue()
	}
	return ""
}

var opts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) { return plugin.UnmarshalProperties(s, opts) }
func marshal(m resource.PropertyMap) (*structpb.Struct, error)    { return plugin.MarshalProperties(m, opts) }

func (s *server) resourceOf(token string) (Resource, error) {
	res, ok := s.types[token]
	if !ok {
		served := make([]string, 0, len(s.types))
		for t := range s.types {
			served = append(served, t)
		}
		sort.Strings(served)
		return nil, fmt.Errorf("the %s stand-in serves only %v, not %s", s.name, served, token)
	}
	return res, nil
}

func (s *server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: s.version}, nil
}

func (s *server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, s.name, s.version)}, nil
}

func (s *server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *server) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	if req.GetArgs() != nil {
		args, err := unmarshal(req.GetArgs())
		if err != nil {
			return nil, err
		}
		config = args
	}
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	res, err := s.resourceOf(req.GetType())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	inputs, err := marshal(res.Check(news))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs}, nil
}

// Diff compares the new inputs with the same keys of the old state.
func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	res, err := s.resourceOf(req.GetType())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		if olds, err = unmarshal(req.GetOlds()); err != nil {
			return nil, err
		}
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	var diffs, replaces []string
	for k := range keys {
		o, n := olds[k], news[k]
		if !n.ContainsUnknowns() && o.DeepEquals(n) {
			continue
		}
		diffs = append(diffs, string(k))
		if res.ReplaceOnChange(k) {
			replaces = append(replaces, string(k))
		}
	}
	sort.Strings(diffs)
	sort.Strings(replaces)
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	dbr, _ := res.(DeleteBeforeReplacer)
	return &pulumirpc.DiffResponse{
		Changes: changes, Diffs: diffs, Replaces: replaces,
		DeleteBeforeReplace: len(replaces) > 0 && dbr != nil && dbr.DeleteBeforeReplace(),
	}, nil
}

// withSecretness marks every output secret when any input is, as the
// upstream providers do for outputs that depend on all inputs.
func withSecretness(inputs, outputs resource.PropertyMap) resource.PropertyMap {
	if !resource.NewProperty(inputs).ContainsSecrets() {
		return outputs
	}
	for k, v := range outputs {
		if !v.IsSecret() {
			outputs[k] = resource.MakeSecret(v)
		}
	}
	return outputs
}

func (s *server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	res, err := s.resourceOf(req.GetType())
	if err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	id, outputs, err := res.Create(ctx, inputs, req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := marshal(withSecretness(inputs, outputs))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	// Like upstream, there is nothing to read back: refresh keeps the state.
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (s *server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	res, err := s.resourceOf(req.GetType())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	outputs, err := res.Update(ctx, olds, news, req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := marshal(withSecretness(news, outputs))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (s *server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	res, err := s.resourceOf(req.GetType())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, res.Delete(ctx, olds)
}

// Copy returns a shallow copy of m.
func Copy(m resource.PropertyMap) resource.PropertyMap {
	out := make(resource.PropertyMap, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Plain returns v without a secret wrapper.
func Plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

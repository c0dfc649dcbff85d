// Command pulumi-resource-kubernetes serves the Kubernetes provider from the
// module the Go proxy publishes. Upstream's main embeds a schema generated at
// release time (schema-embed.json, not in the module); build.sh writes it from
// the module's own schema.json with the version stamped, as upstream does.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}

// Command pulumi-resource-command is the e2e stand-in for command:local:Command
// (see package standin for why it exists and what it is not).
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"wal-service.local/e2e/toolchain/pulumi/standin"
)

var version = "0.0.0"

type command struct{}

func (command) Check(news resource.PropertyMap) resource.PropertyMap { return news }

func (command) ReplaceOnChange(key resource.PropertyKey) bool { return key == "triggers" }

func str(m resource.PropertyMap, key resource.PropertyKey) string {
	v := standin.Plain(m[key])
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// run executes script with the resource's interpreter, dir, environment and
// stdin, and returns the state with stdout and stderr (trailing newline
// trimmed, as upstream does).
func run(ctx context.Context, state resource.PropertyMap, script string) (resource.PropertyMap, error) {
	args := []string{"/bin/sh", "-c"}
	if v := standin.Plain(state["interpreter"]); v.IsArray() && len(v.ArrayValue()) > 0 {
		args = nil
		for _, a := range v.ArrayValue() {
			args = append(args, standin.Plain(a).StringValue())
		}
	}
	cmd := exec.CommandContext(ctx, args[0], append(args[1:], script)...) //nolint:gosec
	cmd.Dir = str(state, "dir")
	cmd.Env = os.Environ()
	if env := standin.Plain(state["environment"]); env.IsObject() {
		for k, v := range env.ObjectValue() {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%s", k, standin.Plain(v).StringValue()))
		}
	}
	if stdin := str(state, "stdin"); stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	out := standin.Copy(state)
	out["stdout"] = resource.NewProperty(strings.TrimSuffix(stdout.String(), "\n"))
	out["stderr"] = resource.NewProperty(strings.TrimSuffix(stderr.String(), "\n"))
	return out, nil
}

func previewState(inputs resource.PropertyMap) resource.PropertyMap {
	out := standin.Copy(inputs)
	out["stdout"] = resource.MakeComputed(resource.NewProperty(""))
	out["stderr"] = resource.MakeComputed(resource.NewProperty(""))
	return out
}

func (command) Create(ctx context.Context, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	id, err := resource.NewUniqueHex("command", 8, 0)
	if err != nil {
		return "", nil, err
	}
	script := str(inputs, "create")
	if preview {
		return id, previewState(inputs), nil
	}
	if script == "" {
		return id, inputs, nil
	}
	out, err := run(ctx, inputs, script)
	return id, out, err
}

func (command) Update(ctx context.Context, olds, news resource.PropertyMap, preview bool) (resource.PropertyMap, error) {
	if preview {
		return previewState(news), nil
	}
	script := str(news, "update")
	if script == "" {
		script = str(news, "create")
	}
	if script == "" {
		return news, nil
	}
	return run(ctx, news, script)
}

func (command) Delete(ctx context.Context, olds resource.PropertyMap) error {
	script := str(olds, "delete")
	if script == "" {
		return nil
	}
	state := standin.Copy(olds)
	env := map[string]resource.PropertyValue{}
	if e := standin.Plain(olds["environment"]); e.IsObject() {
		for k, v := range e.ObjectValue() {
			env[string(k)] = v
		}
	}
	// Upstream passes the last outputs to the delete command.
	env["PULUMI_COMMAND_STDOUT"] = standin.Plain(olds["stdout"])
	env["PULUMI_COMMAND_STDERR"] = standin.Plain(olds["stderr"])
	state["environment"] = resource.NewProperty(resource.NewPropertyMapFromMap(toAny(env)))
	_, err := run(ctx, state, script)
	return err
}

func toAny(m map[string]resource.PropertyValue) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if v.IsString() {
			out[k] = v.StringValue()
		}
	}
	return out
}

func main() {
	standin.Main("command", version, "command:local:Command", command{})
}

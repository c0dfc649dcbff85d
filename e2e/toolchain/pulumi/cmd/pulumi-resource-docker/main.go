// Command pulumi-resource-docker is the e2e stand-in for the docker provider
// (the Go module proxy does not serve github.com/pulumi/pulumi-docker/provider):
// the four resource types the program uses, driving the real daemon through
// the docker CLI. It follows pulumi-docker v4's provider (provider/provider.go,
// provider/image.go, provider/resources.go) and the kreuzwerker/docker schema it
// bridges for the others; see package standin for what it is not.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"wal-service.local/e2e/toolchain/pulumi/standin"
)

var version = "0.0.0"

func str(m resource.PropertyMap, key resource.PropertyKey) string {
	if v := standin.Plain(m[key]); v.IsString() {
		return v.StringValue()
	}
	return ""
}

func obj(m resource.PropertyMap, key resource.PropertyKey) resource.PropertyMap {
	if v := standin.Plain(m[key]); v.IsObject() {
		return v.ObjectValue()
	}
	return resource.PropertyMap{}
}

func list(m resource.PropertyMap, key resource.PropertyKey) []resource.PropertyValue {
	if v := standin.Plain(m[key]); v.IsArray() {
		return v.ArrayValue()
	}
	return nil
}

func flag(m resource.PropertyMap, key resource.PropertyKey, fallback bool) bool {
	if v := standin.Plain(m[key]); v.IsBool() {
		return v.BoolValue()
	}
	return fallback
}

// docker runs the CLI against the provider's host (upstream: docker:host, else
// DOCKER_HOST, else the default socket) and returns its trimmed stdout.
func docker(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = os.Environ()
	if host := standin.Config("host"); host != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+host)
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func computed(m resource.PropertyMap, keys ...resource.PropertyKey) resource.PropertyMap {
	out := standin.Copy(m)
	for _, k := range keys {
		out[k] = resource.MakeComputed(resource.NewProperty(""))
	}
	return out
}

// image is docker:index/image:Image, pulumi-docker's native resource.
type image struct{}

// Check applies upstream's defaults (provider.go Check): context ".", the
// Dockerfile "<context>/Dockerfile", and build.contextDigest, the hash of the
// context that makes a source change a diff.
func (image) Check(news resource.PropertyMap) resource.PropertyMap {
	out := standin.Copy(news)
	if _, ok := out["buildOnPreview"]; !ok {
		out["buildOnPreview"] = resource.NewProperty(false)
	}
	build := standin.Copy(obj(news, "build"))
	if str(build, "context") == "" {
		build["context"] = resource.NewProperty(".")
	}
	if str(build, "dockerfile") == "" {
		build["dockerfile"] = resource.NewProperty(filepath.Join(str(build, "context"), "Dockerfile"))
	}
	if digest, err := hashContext(str(build, "context"), str(build, "dockerfile")); err == nil {
		build["contextDigest"] = resource.NewProperty(digest)
	}
	out["build"] = resource.NewProperty(build)
	return out
}

// hashContext is upstream's hashContext (provider.go): the Dockerfile's bytes,
// then every file .dockerignore keeps, by path, mode and content.
func hashContext(contextDir, dockerfile string) (string, error) {
	h := sha256.New()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		return "", err
	}
	h.Write([]byte("Dockerfile"))
	h.Write(data)
	var patterns []string
	for _, ignore := range []string{dockerfile + ".dockerignore", filepath.Join(contextDir, ".dockerignore")} {
		if f, err := os.Open(ignore); err == nil {
			patterns, err = ignorefile.ReadAll(f)
			f.Close()
			if err != nil {
				return "", err
			}
			break
		}
	}
	matcher, err := patternmatcher.New(patterns)
	if err != nil {
		return "", err
	}
	var files []string
	err = filepath.WalkDir(contextDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == contextDir {
			return err
		}
		rel, _ := filepath.Rel(contextDir, path)
		if skip, _ := matcher.MatchesOrParentMatches(rel); skip {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, rel := range files {
		path := filepath.Join(contextDir, rel)
		info, err := os.Lstat(path)
		if err != nil {
			return "", err
		}
		h.Write([]byte(rel))
		h.Write([]byte(info.Mode().String()))
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(path)
			h.Write([]byte(target))
		} else {
			f, err := os.Open(path)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return "", err
			}
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Upstream's Diff never replaces an Image: every change rebuilds and pushes.
func (image) ReplaceOnChange(resource.PropertyKey) bool { return false }

func (i image) Create(ctx context.Context, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	out, err := i.build(ctx, inputs, preview)
	return str(inputs, "imageName"), out, err
}

func (i image) Update(ctx context.Context, _, news resource.PropertyMap, preview bool) (resource.PropertyMap, error) {
	return i.build(ctx, news, preview)
}

// build is upstream's dockerBuild: build, push unless skipPush, and report
// repoDigest (RepoDigests[0] of the pushed repository, repo@sha256:...).
func (image) build(ctx context.Context, inputs resource.PropertyMap, preview bool) (resource.PropertyMap, error) {
	name := str(inputs, "imageName")
	build := obj(inputs, "build")
	registry := obj(inputs, "registry")
	out := resource.PropertyMap{
		"imageName":      resource.NewProperty(name),
		"baseImageName":  resource.NewProperty(name),
		"context":        resource.NewProperty(str(build, "context")),
		"dockerfile":     resource.NewProperty(str(build, "dockerfile")),
		"registryServer": resource.NewProperty(str(registry, "server")),
	}
	if preview && !flag(inputs, "buildOnPreview", false) {
		return computed(out, "repoDigest"), nil
	}
	args := []string{"build", "-q", "-t", name, "-f", str(build, "dockerfile")}
	if target := str(build, "target"); target != "" {
		args = append(args, "--target", target)
	}
	buildArgs := obj(build, "args")
	keys := make([]string, 0, len(buildArgs))
	for k := range buildArgs {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--build-arg", k+"="+str(buildArgs, resource.PropertyKey(k)))
	}
	if _, err := docker(ctx, "", append(args, str(build, "context"))...); err != nil {
		return nil, err
	}
	if flag(inputs, "skipPush", false) {
		id, err := docker(ctx, "", "image", "inspect", "--format", "{{.Id}}", name)
		out["repoDigest"] = resource.NewProperty(id)
		return out, err
	}
	if user := str(registry, "username"); user != "" {
		if _, err := docker(ctx, str(registry, "password"), "login", "-u", user, "--password-stdin", str(registry, "server")); err != nil {
			return nil, err
		}
	}
	if _, err := docker(ctx, "", "push", name); err != nil {
		return nil, err
	}
	raw, err := docker(ctx, "", "image", "inspect", "--format", "{{json .RepoDigests}}", name)
	if err != nil {
		return nil, err
	}
	var digests []string
	if err := json.Unmarshal([]byte(raw), &digests); err != nil {
		return nil, err
	}
	repo := name
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		repo = name[:i]
	}
	for _, d := range digests {
		if strings.HasPrefix(d, repo+"@") {
			out["repoDigest"] = resource.NewProperty(d)
			return out, nil
		}
	}
	return nil, fmt.Errorf("pushed %s, but docker reports no digest in %s", name, repo)
}

// Upstream's Delete leaves the image and its tags alone, locally and remotely.
func (image) Delete(context.Context, resource.PropertyMap) error { return nil }

// remoteImage is docker:index/remoteImage:RemoteImage (kreuzwerker docker_image).
type remoteImage struct{}

func (remoteImage) Check(news resource.PropertyMap) resource.PropertyMap { return news }

// name, pullTriggers and triggers are ForceNew; keepLocally is not.
func (remoteImage) ReplaceOnChange(key resource.PropertyKey) bool { return key != "keepLocally" }

// Create uses the local image when present, else pulls it; the id is the
// image id followed by the name, as upstream's.
func (remoteImage) Create(ctx context.Context, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	name := str(inputs, "name")
	if preview {
		return "", computed(inputs, "imageId", "repoDigest"), nil
	}
	id, err := docker(ctx, "", "image", "inspect", "--format", "{{.Id}}", name)
	if err != nil {
		if _, err := docker(ctx, "", "pull", name); err != nil {
			return "", nil, err
		}
		if id, err = docker(ctx, "", "image", "inspect", "--format", "{{.Id}}", name); err != nil {
			return "", nil, err
		}
	}
	digest, _ := docker(ctx, "", "image", "inspect", "--format", `{{range .RepoDigests}}{{.}}{{"\n"}}{{end}}`, name)
	out := standin.Copy(inputs)
	out["imageId"] = resource.NewProperty(id)
	out["repoDigest"] = resource.NewProperty(strings.SplitN(digest, "\n", 2)[0])
	return id + name, out, nil
}

func (remoteImage) Update(_ context.Context, olds, news resource.PropertyMap, _ bool) (resource.PropertyMap, error) {
	out := standin.Copy(olds)
	out["keepLocally"] = news["keepLocally"]
	return out, nil
}

func (remoteImage) Delete(ctx context.Context, olds resource.PropertyMap) error {
	if flag(olds, "keepLocally", false) {
		return nil
	}
	if _, err := docker(ctx, "", "image", "inspect", str(olds, "name")); err != nil {
		return nil
	}
	_, err := docker(ctx, "", "image", "rm", str(olds, "name"))
	return err
}

// volume is docker:index/volume:Volume: every input ForceNew, no update.
type volume struct{}

func (volume) Check(news resource.PropertyMap) resource.PropertyMap { return news }

func (volume) ReplaceOnChange(resource.PropertyKey) bool { return true }

func (volume) Create(ctx context.Context, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	out := standin.Copy(inputs)
	if preview {
		return "", computed(out, "mountpoint", "driver"), nil
	}
	name, err := docker(ctx, "", "volume", "create", str(inputs, "name"))
	if err != nil {
		return "", nil, err
	}
	mountpoint, err := docker(ctx, "", "volume", "inspect", "--format", "{{.Mountpoint}}", name)
	out["name"] = resource.NewProperty(name)
	out["driver"] = resource.NewProperty("local")
	out["mountpoint"] = resource.NewProperty(mountpoint)
	return name, out, err
}

func (volume) Update(context.Context, resource.PropertyMap, resource.PropertyMap, bool) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("a docker volume is never updated, only replaced")
}

func (volume) Delete(ctx context.Context, olds resource.PropertyMap) error {
	_, err := docker(ctx, "", "volume", "rm", "-f", str(olds, "name"))
	return err
}

// container is docker:index/container:Container. resources.go sets
// DeleteBeforeReplace (a container's name is unique), and the schema makes
// every input the program sets ForceNew except restart.
type container struct{}

func (container) Check(news resource.PropertyMap) resource.PropertyMap {
	out := standin.Copy(news)
	if _, ok := out["restart"]; !ok {
		out["restart"] = resource.NewProperty("no")
	}
	return out
}

func (container) ReplaceOnChange(key resource.PropertyKey) bool {
	switch key {
	case "restart", "maxRetryCount", "mustRun", "rm", "removeVolumes", "wait", "destroyGraceSeconds":
		return false
	}
	return true
}

func (container) DeleteBeforeReplace() bool { return true }

func (container) Create(ctx context.Context, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	if preview {
		return "", computed(inputs, "exitCode", "networkDatas"), nil
	}
	args := []string{"run", "-d", "--name", str(inputs, "name"), "--restart", str(inputs, "restart")}
	for _, env := range list(inputs, "envs") {
		args = append(args, "-e", standin.Plain(env).StringValue())
	}
	for _, v := range list(inputs, "volumes") {
		m := standin.Plain(v).ObjectValue()
		source := str(m, "volumeName")
		if source == "" {
			source = str(m, "hostPath")
		}
		args = append(args, "-v", source+":"+str(m, "containerPath"))
	}
	for _, p := range list(inputs, "ports") {
		m := standin.Plain(p).ObjectValue()
		ip := str(m, "ip")
		if ip == "" {
			ip = "0.0.0.0"
		}
		protocol := str(m, "protocol")
		if protocol == "" {
			protocol = "tcp"
		}
		internal := fmt.Sprint(standin.Plain(m["internal"]).NumberValue())
		external := internal
		if e := standin.Plain(m["external"]); e.IsNumber() {
			external = fmt.Sprint(e.NumberValue())
		}
		args = append(args, "-p", fmt.Sprintf("%s:%s:%s/%s", ip, external, internal, protocol))
	}
	id, err := docker(ctx, "", append(args, str(inputs, "image"))...)
	if err != nil {
		return "", nil, err
	}
	// mustRun (default true): a container that is not running fails the create, and is removed.
	if running, _ := docker(ctx, "", "inspect", "--format", "{{.State.Running}}", id); running != "true" {
		logs, _ := docker(ctx, "", "logs", "--tail", "20", id)
		_, _ = docker(ctx, "", "rm", "-f", "-v", id)
		return "", nil, fmt.Errorf("container %s is not running: %s", str(inputs, "name"), logs)
	}
	out := standin.Copy(inputs)
	out["exitCode"] = resource.NewProperty(0.0)
	return id, out, nil
}

func (container) Update(ctx context.Context, olds, news resource.PropertyMap, preview bool) (resource.PropertyMap, error) {
	out := standin.Copy(olds)
	for k, v := range news {
		out[k] = v
	}
	if preview {
		return out, nil
	}
	name := str(olds, "name")
	_, err := docker(ctx, "", "update", "--restart", str(news, "restart"), name)
	return out, err
}

// Delete stops and removes it with its anonymous volumes (removeVolumes
// defaults to true); named volumes stay.
func (container) Delete(ctx context.Context, olds resource.PropertyMap) error {
	name := str(olds, "name")
	if _, err := docker(ctx, "", "inspect", name); err != nil {
		return nil
	}
	_, err := docker(ctx, "", "rm", "-f", "-v", name)
	return err
}

func main() {
	standin.MainTypes("docker", version, map[string]standin.Resource{
		"docker:index/image:Image":             image{},
		"docker:index/remoteImage:RemoteImage": remoteImage{},
		"docker:index/volume:Volume":           volume{},
		"docker:index/container:Container":     container{},
	})
}

// Command pulumi-resource-random is the e2e stand-in for
// random:index/randomPassword:RandomPassword (see package standin for why it
// exists and what it is not).
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/bcrypt"

	"wal-service.local/e2e/toolchain/pulumi/standin"
)

var version = "0.0.0"

type password struct{}

// Check applies the upstream defaults: every character class on, no minimums.
func (password) Check(news resource.PropertyMap) resource.PropertyMap {
	out := standin.Copy(news)
	for _, k := range []resource.PropertyKey{"lower", "upper", "numeric", "special"} {
		if _, ok := out[k]; !ok {
			out[k] = resource.NewProperty(true)
		}
	}
	return out
}

func (password) ReplaceOnChange(resource.PropertyKey) bool { return true }

func flag(m resource.PropertyMap, key resource.PropertyKey) bool {
	v := standin.Plain(m[key])
	return v.IsBool() && v.BoolValue()
}

func generate(inputs resource.PropertyMap) (string, error) {
	length := standin.Plain(inputs["length"])
	if !length.IsNumber() || length.NumberValue() < 1 {
		return "", fmt.Errorf("length must be a positive number")
	}
	alphabet := ""
	if flag(inputs, "lower") {
		alphabet += "abcdefghijklmnopqrstuvwxyz"
	}
	if flag(inputs, "upper") {
		alphabet += "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	}
	if flag(inputs, "numeric") {
		alphabet += "0123456789"
	}
	if flag(inputs, "special") {
		special := "!@#$%&*()-_=+[]{}<>:?"
		if v := standin.Plain(inputs["overrideSpecial"]); v.IsString() {
			special = v.StringValue()
		}
		alphabet += special
	}
	if alphabet == "" {
		return "", fmt.Errorf("at least one character class must be enabled")
	}
	out := make([]byte, int(length.NumberValue()))
	for i := range out {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		out[i] = alphabet[n.Int64()]
	}
	return string(out), nil
}

func (password) Create(_ context.Context, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	out := standin.Copy(inputs)
	if preview {
		out["result"] = resource.MakeComputed(resource.NewProperty(""))
		out["bcryptHash"] = resource.MakeComputed(resource.NewProperty(""))
		return "", out, nil
	}
	result, err := generate(inputs)
	if err != nil {
		return "", nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(result), bcrypt.DefaultCost)
	if err != nil {
		return "", nil, err
	}
	out["result"] = resource.MakeSecret(resource.NewProperty(result))
	out["bcryptHash"] = resource.MakeSecret(resource.NewProperty(string(hash)))
	return "none", out, nil
}

func (password) Update(_ context.Context, olds, _ resource.PropertyMap, _ bool) (resource.PropertyMap, error) {
	return olds, nil // every input replaces, so an update changes nothing
}

func (password) Delete(context.Context, resource.PropertyMap) error { return nil }

func main() {
	standin.Main("random", version, "random:index/randomPassword:RandomPassword", password{})
}

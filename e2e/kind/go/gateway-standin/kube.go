package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// kube is the in-cluster REST client both modes share: plain net/http keeps the binary standard-library only
// (no client-go, so no go.sum and nothing to fetch).
type kube struct {
	base      string
	client    *http.Client
	tokenFile string
}

// apiError is a non-2xx answer of the API server.
type apiError struct {
	Code int
	Body string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

func inCluster() (*kube, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, fmt.Errorf("KUBERNETES_SERVICE_HOST/PORT unset: not running in a pod")
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s/ca.crt holds no certificate", saDir)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &kube{
		base:      "https://" + net.JoinHostPort(host, port),
		client:    &http.Client{Transport: transport, Timeout: 15 * time.Second},
		tokenFile: saDir + "/token",
	}, nil
}

func ownNamespace() (string, error) {
	b, err := os.ReadFile(saDir + "/namespace")
	return strings.TrimSpace(string(b)), err
}

// do sends body (JSON-encoded unless nil) and decodes the answer into out (unless nil).
func (k *kube) do(ctx context.Context, method, path, contentType string, body, out any) error {
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.base+path, payload)
	if err != nil {
		return err
	}
	// Read per request: the kubelet rotates the projected token in place.
	token, err := os.ReadFile(k.tokenFile)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &apiError{Code: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

func (k *kube) get(ctx context.Context, path string, out any) error {
	return k.do(ctx, http.MethodGet, path, "", nil, out)
}

// apply is a server-side apply of obj (a JSON body is valid YAML) owned by our field manager.
func (k *kube) apply(ctx context.Context, path string, obj, out any) error {
	q := url.Values{"fieldManager": {fieldManager}, "force": {"true"}}
	return k.do(ctx, http.MethodPatch, path+"?"+q.Encode(), "application/apply-patch+yaml", obj, out)
}

// patchStatus merge-patches the status subresource at path (the object's path).
func (k *kube) patchStatus(ctx context.Context, path string, patch any) error {
	return k.do(ctx, http.MethodPatch, path+"/status", "application/merge-patch+json", patch, nil)
}

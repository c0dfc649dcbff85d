// Command etcd is the etcd server at the version k8s.io/kubernetes requires;
// the upstream main package lives in a module that replaces its siblings with
// local paths, so this wrapper calls the same entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}

// Command coredns is CoreDNS with only the plugins kind's Corefile uses (kubeadm's
// default: errors, health, ready, kubernetes, prometheus, forward, cache, loop, reload,
// loadbalance), built from CoreDNS's own packages the way CoreDNS documents compiling
// with a chosen plugin set. Building CoreDNS's own main instead compiles every plugin
// it ships, with the cloud SDKs they import: more than half of the kind parts' cold
// build (docs/e2e.md, "CI times").
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The plugins, each registering itself with CoreDNS's server.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives: the order in which a query passes the plugins, as in CoreDNS's plugin.cfg
// (the same relative order; the plugins left out are not in it).
var directives = []string{
	"reload",
	"ready",
	"health",
	"prometheus",
	"errors",
	"loadbalance",
	"cache",
	"kubernetes",
	"loop",
	"forward",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}

// incluster: what client-go's rest.InClusterConfig() does, with the standard library only. It reads the
// service-account token, CA and namespace the kubelet mounted, reaches the API server at
// $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (verifying the serving certificate with that CA),
// GETs the path given as its argument ("{ns}" and "{pod}" replaced by the namespace and $HOSTNAME) and
// prints the body. Retries for 10 s. busybox's wget is no substitute: its built-in TLS 1.2 client sends
// no signature_algorithms, which API servers built with Go ≥ 1.25 (Kubernetes ≥ 1.35) refuse.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: incluster /api/v1/namespaces/{ns}/pods/{pod}")
		os.Exit(2)
	}
	token, err1 := os.ReadFile(sa + "token")
	ca, err2 := os.ReadFile(sa + "ca.crt")
	ns, err3 := os.ReadFile(sa + "namespace")
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			fmt.Fprintln(os.Stderr, "incluster:", err)
			os.Exit(1)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		fmt.Fprintln(os.Stderr, "incluster: no certificate in ca.crt")
		os.Exit(1)
	}
	path := strings.NewReplacer("{ns}", string(ns), "{pod}", os.Getenv("HOSTNAME")).Replace(os.Args[1])
	url := "https://" + net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")) + path
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var last string
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				os.Stdout.Write(body)
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintln(os.Stderr, "incluster: GET", url, "failed:", last)
	os.Exit(1)
}

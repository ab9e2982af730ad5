// A small fast HTTP server for the proxy benchmark: GET / answers a fixed 64-byte body.
// Usage: httpd -listen 127.0.0.1:PORT
package main

import (
	"flag"
	"log"
	"net/http"
)

var body = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n")

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

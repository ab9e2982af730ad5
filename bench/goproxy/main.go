// The old kube-proxy userspace data path, as a baseline: accept, dial, two io.Copy goroutines,
// full close of both sockets when either direction ends (pkg/proxy/userspace ProxyTCP/copyBytes).
// Usage: goproxy -listen 127.0.0.1:PORT -backend 127.0.0.1:PORT
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"time"
)

func copyBytes(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	backend := flag.String("backend", "", "backend address")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening %s", ln.Addr())
	for {
		in, err := ln.Accept()
		if err != nil {
			log.Print(err)
			continue
		}
		// As upstream: the dial happens inside the accept loop.
		out, err := net.DialTimeout("tcp", *backend, 250*time.Millisecond)
		if err != nil {
			in.Close()
			continue
		}
		go copyBytes(in, out)
		go copyBytes(out, in)
	}
}

// Command netutil stands in for curl and netcat-openbsd in the local agnhost image (upstream installs them
// from alpine; busybox-static's wget crashes in name lookups and its nc has no UDP). It acts as curl or nc
// depending on the name it is called by, and understands the forms the e2e specs use:
//
//	curl [-g] [-q] [-s] [-S] [-k] [-f] [-L] [-m|--max-time N] [--connect-timeout N] [-X M] [-o FILE]
//	     [-w '%{http_code}'] [-d DATA] [-H 'K: V'] URL
//	nc [-u] [-w N] [-z] [-v] [-n] HOST PORT   (stdin is sent; what comes back is printed)
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "netutil" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "curl":
		os.Exit(curl(args))
	case "nc", "netcat":
		os.Exit(nc(args))
	default:
		fmt.Fprintln(os.Stderr, "usage: netutil curl|nc ARGS (or call it as curl or nc)")
		os.Exit(2)
	}
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func curl(args []string) int {
	maxTime, connectTimeout := time.Duration(0), 30*time.Second
	method, out, writeOut, data, url := "", "-", "", "", ""
	failOnError, insecure, hasData := false, false, false
	headers := http.Header{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch a {
		case "-m", "--max-time":
			maxTime = seconds(next())
		case "--connect-timeout":
			connectTimeout = seconds(next())
		case "-X", "--request":
			method = next()
		case "-o", "--output":
			out = next()
		case "-w", "--write-out":
			writeOut = next()
		case "-d", "--data", "--data-raw", "--data-binary":
			data, hasData = next(), true
		case "-H", "--header":
			if k, v, ok := strings.Cut(next(), ":"); ok {
				headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		case "-f", "--fail":
			failOnError = true
		case "-k", "--insecure":
			insecure = true
		default:
			if !strings.HasPrefix(a, "-") {
				url = a
			}
		}
	}
	if url == "" {
		fmt.Fprintln(os.Stderr, "curl: no URL specified")
		return 2
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	if method == "" {
		method = http.MethodGet
		if hasData {
			method = http.MethodPost
		}
	}
	tr := &http.Transport{
		DialContext:     (&net.Dialer{Timeout: connectTimeout}).DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}, //nolint:gosec // curl -k
		Proxy:           nil,
	}
	client := &http.Client{Transport: tr, Timeout: maxTime}
	var body io.Reader
	if hasData {
		body = strings.NewReader(data)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		fmt.Fprintf(os.Stderr, "curl: %v\n", err)
		return 3
	}
	req.Header = headers
	if hasData && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		if writeOut != "" {
			fmt.Print(strings.ReplaceAll(writeOut, "%{http_code}", "000"))
		}
		fmt.Fprintf(os.Stderr, "curl: %v\n", err)
		if strings.Contains(err.Error(), "Timeout") || strings.Contains(err.Error(), "timeout") {
			return 28
		}
		return 7
	}
	defer resp.Body.Close()
	w := io.Writer(os.Stdout)
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			fmt.Fprintf(os.Stderr, "curl: %v\n", err)
			return 23
		}
		defer f.Close()
		w = f
	}
	if failOnError && resp.StatusCode >= 400 {
		fmt.Fprintf(os.Stderr, "curl: (22) The requested URL returned error: %d\n", resp.StatusCode)
		return 22
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		fmt.Fprintf(os.Stderr, "curl: %v\n", err)
		return 56
	}
	if writeOut != "" {
		fmt.Print(strings.ReplaceAll(writeOut, "%{http_code}", strconv.Itoa(resp.StatusCode)))
	}
	return 0
}

func nc(args []string) int {
	udp, zero := false, false
	wait := time.Duration(0)
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-w" && i+1 < len(args):
			i++
			wait = seconds(args[i])
		case strings.HasPrefix(a, "-w") && len(a) > 2:
			wait = seconds(a[2:])
		case strings.HasPrefix(a, "-") && len(a) > 1:
			udp = udp || strings.Contains(a, "u")
			zero = zero || strings.Contains(a, "z")
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) != 2 {
		fmt.Fprintln(os.Stderr, "usage: nc [-u] [-w N] [-z] HOST PORT")
		return 2
	}
	network, addr := "tcp", net.JoinHostPort(rest[0], rest[1])
	if udp {
		network = "udp"
	}
	dialTimeout := wait
	if dialTimeout == 0 {
		dialTimeout = 30 * time.Second
	}
	conn, err := net.DialTimeout(network, addr, dialTimeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nc: %v\n", err)
		return 1
	}
	defer conn.Close()
	if zero {
		fmt.Fprintf(os.Stderr, "Connection to %s %s port [%s] succeeded!\n", rest[0], rest[1], network)
		return 0
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(conn, os.Stdin)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	if udp {
		<-done
		// UDP has no end: read what comes back until the -w idle time (default 1 s) passes.
		idle := wait
		if idle == 0 {
			idle = time.Second
		}
		buf := make([]byte, 65536)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(idle))
			n, err := conn.Read(buf)
			if n > 0 {
				_, _ = os.Stdout.Write(buf[:n])
			}
			if err != nil {
				return 0
			}
		}
	}
	if wait > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(wait + 30*time.Second))
	}
	_, _ = io.Copy(os.Stdout, conn)
	return 0
}

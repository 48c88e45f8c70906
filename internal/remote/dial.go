package remote

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The handshake: one HTTP/1.1 request on a fresh connection,
//
//	GET <base path>/v1/stream HTTP/1.1
//	Host: <host>
//	Connection: Upgrade
//	Upgrade: herald-stream/1
//
// answered "101 Switching Protocols" with the same Upgrade header; from
// then on the connection carries frames (internal/wire). Any other answer
// is an HTTP error, problem+json from a Herald server.
const streamProtocol = "herald-stream/1"

// parseBaseURL checks the server URL a Conn is given.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w: give the server's HTTP address, such as http://127.0.0.1:7070", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host:port or https://host:port, such as http://127.0.0.1:7070", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: remove the query and fragment; give only the server's base address", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// dialStream connects to u and upgrades the connection. The returned
// reader holds any bytes read past the handshake.
func dialStream(ctx context.Context, u *url.URL) (net.Conn, *bufio.Reader, error) {
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{KeepAlive: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w (is the server running at that address?)", u.Redacted(), err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	// The handshake obeys ctx: a deadline in the past unblocks it.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("TLS handshake with %s: %w", u.Redacted(), err)
		}
		conn = tc
	}
	rd, err := upgrade(conn, u)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("upgrade %s: %w", u.Redacted(), ctx.Err())
		}
		return nil, nil, err
	}
	if !stop() {
		conn.Close()
		return nil, nil, ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	return conn, rd, nil
}

func upgrade(conn net.Conn, u *url.URL) (*bufio.Reader, error) {
	path := u.EscapedPath() + "/v1/stream"
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: Upgrade\r\nUpgrade: " + streamProtocol +
		"\r\nUser-Agent: herald-remote\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", u.Redacted(), err)
	}
	rd := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(rd, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: reading the answer: %w", u.Redacted(), err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols && strings.EqualFold(resp.Header.Get("Upgrade"), streamProtocol) {
		return rd, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	detail := strings.TrimSpace(string(body))
	var p struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && p.Detail != "" {
		detail = p.Detail
	}
	err = fmt.Errorf("%s answered %s to the stream upgrade: %s", u.Redacted(), resp.Status, detail)
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		err = fmt.Errorf("%w (the server is starting or stopping; calls retry by themselves)", err)
	case http.StatusNotFound, http.StatusSwitchingProtocols, http.StatusUpgradeRequired:
		err = fmt.Errorf("%w (is this a Herald server with the stream protocol %s?)", err, streamProtocol)
	}
	return nil, err
}

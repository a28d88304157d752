package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Running is a Server listening over TLS on a loopback port.
type Running struct {
	// URL is the base URL, "https://127.0.0.1:port", without a trailing slash.
	URL string
	// CAPEM is the PEM certificate of the emulator's own CA, the only CA its leaf chains to.
	CAPEM []byte
	// Server is the handler being served; read its Metrics.
	Server *Server

	host      string
	srv       *http.Server
	transport *http.Transport
	done      chan error
}

// Start serves a new Server for w over TLS on 127.0.0.1:0, with a freshly generated CA (ECDSA P-256) whose leaf
// certificate covers 127.0.0.1, ::1 and localhost. Close it when done.
func Start(w *World) (*Running, error) {
	caPEM, cert, err := newCertificates()
	if err != nil {
		return nil, fmt.Errorf("emulator: certificates: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("emulator: listen: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	r := &Running{
		URL:    "https://" + ln.Addr().String(),
		CAPEM:  caPEM,
		Server: New(w),
		host:   ln.Addr().String(),
		srv: &http.Server{
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0), // TLS handshake noise from clients that distrust the CA
		},
		transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		},
		done: make(chan error, 1),
	}
	r.srv.Handler = r.Server
	go func() { r.done <- r.srv.ServeTLS(ln, "", "") }() // exits when Close shuts the server down
	return r, nil
}

// Client returns an HTTP client that trusts only the emulator's CA and refuses to send a request to any host but
// the emulator, so a misconfigured SDK fails instead of reaching the real Entra ID or Graph. Clients share one
// connection pool.
func (r *Running) Client() *http.Client {
	return &http.Client{Transport: &pinnedTransport{host: r.host, next: r.transport}}
}

type pinnedTransport struct {
	host string
	next http.RoundTripper
}

func (p *pinnedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || req.URL.Host != p.host {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("emulator: refusing request to %s://%s%s: this client only reaches the emulator at https://%s",
			req.URL.Scheme, req.URL.Host, req.URL.Path, p.host)
	}
	return p.next.RoundTrip(req)
}

// Close stops the server and closes idle client connections.
func (r *Running) Close() error {
	err := r.srv.Close()
	r.transport.CloseIdleConnections()
	if serveErr := <-r.done; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("emulator: close: %w", err)
	}
	return nil
}

// Env returns, in a stable order, the settings that point the product at this emulator (all but storage):
// REPORT_GRAPH_TIME_SCALE (the world's time scale, so the product paces to scaled budgets), REPORT_TENANTS,
// BRIDGE_APP_CLIENT_ID, MANAGED_IDENTITY_CLIENT_ID, IDENTITY_ENDPOINT, IDENTITY_HEADER, REPORT_AUTHORITY_HOST,
// REPORT_GRAPH_ENDPOINT and REPORT_CA_FILE (caFile, where the caller writes CAPEM); with an API, the REPORT_API_*
// settings of tenantreport's Entra-authenticated routes too.
func (r *Running) Env(caFile string) [][2]string {
	w := &r.Server.world
	type target struct {
		TenantID    string `json:"tenantId"`
		DisplayName string `json:"displayName"`
	}
	targets := make([]target, 0, len(w.Tenants))
	for _, t := range w.Tenants {
		targets = append(targets, target{t.ID, t.DisplayName})
	}
	tenants, _ := json.Marshal(targets) // strings only: cannot fail
	// The product paces its requests to Graph's budgets: at the world's
	// time scale, or it would wait a real minute for a scaled one.
	scale := "1"
	if w.TimeScale > 0 {
		scale = strconv.FormatFloat(w.TimeScale, 'g', -1, 64)
	}
	env := [][2]string{
		{"REPORT_GRAPH_TIME_SCALE", scale},
		{"REPORT_TENANTS", string(tenants)},
		{"BRIDGE_APP_CLIENT_ID", w.BridgeApp.ClientID},
		{"MANAGED_IDENTITY_CLIENT_ID", w.ManagedIdentity.ClientID},
		{"IDENTITY_ENDPOINT", r.URL + "/msi/token"},
		{"IDENTITY_HEADER", r.Server.IdentityHeader()},
		{"REPORT_AUTHORITY_HOST", r.URL + "/"},
		{"REPORT_GRAPH_ENDPOINT", r.URL},
		{"REPORT_CA_FILE", caFile},
	}
	if a := w.API; a != nil {
		// The API's settings, and each caller mapped to its own tenant when
		// that is a report target: a customer's automation reading its own.
		callers := map[string][]string{}
		for _, c := range w.Callers {
			if slices.ContainsFunc(w.Tenants, func(t Tenant) bool { return strings.EqualFold(t.ID, c.TenantID) }) {
				callers[strings.ToLower(c.App.ClientID)] = []string{strings.ToLower(c.TenantID)}
			}
		}
		mapped, _ := json.Marshal(callers) // strings only: cannot fail
		env = append(env, [2]string{"REPORT_API_TENANT_ID", w.HomeTenantID}, [2]string{"REPORT_API_CLIENT_ID", a.ClientID},
			[2]string{"REPORT_API_APP_ID_URI", a.identifierURI()}, [2]string{"REPORT_API_CALLERS", string(mapped)})
	}
	return env
}

// newCertificates returns a fresh CA's PEM certificate and a leaf certificate it signed for the loopback names.
func newCertificates() (caPEM []byte, leaf tls.Certificate, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, err
	}
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "tenantreport emulator CA", Organization: []string{"tenantreport"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, leaf, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, leaf, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, leaf, err
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	leaf = tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
	return caPEM, leaf, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

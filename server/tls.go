package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// tlsConfig builds the TLS listener's configuration from the tls-* settings.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if c.TLSCertFile == "" || c.TLSKeyFile == "" {
		return nil, fmt.Errorf("--tls-port needs --tls-cert-file and --tls-key-file")
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSCACertFile != "" {
		pem, err := os.ReadFile(c.TLSCACertFile)
		if err != nil {
			return nil, fmt.Errorf("reading --tls-ca-cert-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca-cert-file %s holds no PEM certificate", c.TLSCACertFile)
		}
		conf.ClientCAs = pool
	}
	switch c.TLSAuthClients {
	case "yes":
		if conf.ClientCAs == nil {
			return nil, fmt.Errorf("--tls-auth-clients yes needs --tls-ca-cert-file to verify client certificates")
		}
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	case "optional":
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	case "no":
		conf.ClientAuth = tls.NoClientCert
	default:
		return nil, fmt.Errorf("--tls-auth-clients must be yes, optional or no")
	}
	return conf, nil
}

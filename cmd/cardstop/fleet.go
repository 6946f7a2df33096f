package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/fleet"
)

// fleetFlags say where a station's changes go beyond it (FLEET.md): an
// upstream MIM CM-compatible service, and webhooks.
type fleetFlags struct {
	upstream      *string
	tokenFile     *string
	caFile        *string
	fingerprint   *string
	webhooks      *listFlag
	webhookSecret *string
}

func addFleetFlags(fs *flag.FlagSet) *fleetFlags {
	f := &fleetFlags{
		upstream:      fs.String("upstream", "", "the upstream's MIM CM API base, e.g. https://hub:8443/CertificateManagement/api/v1.0: every change made here is carried out there too, and unknown cards are looked up there; empty: none"),
		tokenFile:     fs.String("upstream-token-file", "", "the file holding the bearer token for the upstream (on a Cardstop hub: a token of role station)"),
		caFile:        fs.String("upstream-ca", "", "PEM certificates to trust for the upstream instead of the system's"),
		fingerprint:   fs.String("upstream-fingerprint", "", "trust exactly the upstream certificate with this SHA-256 fingerprint (hex), as a hub logs it at start"),
		webhooks:      &listFlag{},
		webhookSecret: fs.String("webhook-secret-file", "", "the file holding the webhooks' signing secret (whsec_<base64>, as Standard Webhooks writes it)"),
	}
	fs.Var(f.webhooks, "webhook", "POST every change made here to this URL as a signed CloudEvent; may be given more than once (in the environment or the file: URLs separated by spaces)")
	return f
}

// listFlag is a flag that may be given more than once; one value may
// also hold several, separated by spaces (the environment, the file).
type listFlag struct{ values []string }

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.values, " ")
}

func (l *listFlag) Set(v string) error {
	l.values = append(l.values, strings.Fields(v)...)
	return nil
}

// senders checks the flags and returns a sender for each sink, by the
// sink's name, and the upstream (nil without one).
func (f *fleetFlags) senders(station string) (map[string]fleet.Sender, *fleet.Upstream, error) {
	out := map[string]fleet.Sender{}
	var up *fleet.Upstream
	if *f.upstream != "" {
		var err error
		up, err = fleet.NewUpstream(fleet.UpstreamConfig{URL: *f.upstream, TokenFile: *f.tokenFile, CAFile: *f.caFile,
			Fingerprint: *f.fingerprint, Station: station})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		out[storage.SinkUpstream] = up
	} else if *f.tokenFile != "" || *f.caFile != "" || *f.fingerprint != "" {
		return nil, nil, fmt.Errorf("%w: --upstream-token-file, --upstream-ca and --upstream-fingerprint need --upstream", errUsage)
	}
	if len(f.webhooks.values) == 0 {
		if *f.webhookSecret != "" {
			return nil, nil, fmt.Errorf("%w: --webhook-secret-file needs --webhook", errUsage)
		}
		return out, up, nil
	}
	if *f.webhookSecret == "" {
		return nil, nil, fmt.Errorf("%w: --webhook needs --webhook-secret-file: receivers check each event's signature", errUsage)
	}
	secret, err := fleet.ReadWebhookSecret(*f.webhookSecret)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range f.webhooks.values {
		w, err := fleet.NewWebhook(u, secret, station)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		out[storage.SinkWebhook(u)] = w
	}
	return out, up, nil
}

// upstreamOrigin is who a card taken from the upstream is recorded as.
func upstreamOrigin(upstream string) domain.Origin {
	host := upstream
	if u, err := url.Parse(upstream); err == nil {
		host = u.Host
	}
	return domain.Origin{Actor: "upstream:" + host, Role: domain.RoleAdmin, Source: upstream, CorrelationID: guid.New()}
}

// logFleet says at start where changes go.
func logFleet(log *slog.Logger, sinks []string) {
	if len(sinks) == 0 {
		log.Info("no upstream and no webhook: changes stay in this station's database")
		return
	}
	log.Info("changes made here are delivered beyond this station through the outbox", "sinks", strings.Join(sinks, ", "))
}

package storage

import (
	"time"

	"github.com/cardstop/cardstop/storage/domain"
)

// The datacollection names under which a station sends its evidence to
// its upstream (FLEET.md §2): a MIM CM keeps them with the request, and a
// Cardstop hub reads them back into its audit event.
const (
	DataStation    = "cardstop.station"
	DataReader     = "cardstop.reader"
	DataAtr        = "cardstop.atr"
	DataIdentifier = "cardstop.identifier"
	DataInserted   = "cardstop.inserted"
	DataPressed    = "cardstop.pressed"
	DataCommitted  = "cardstop.committed"
)

// EvidenceItems returns the datacollection items that carry a change made
// at station, committed then, with the walk-up evidence e (nil for a
// change made on the station's API or page). Empty values are left out.
func EvidenceItems(station string, committed time.Time, e *domain.Evidence) []DataItem {
	var out []DataItem
	add := func(name, v string) {
		if v != "" {
			out = append(out, DataItem{Name: name, Value: &v})
		}
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	add(DataStation, station)
	if e != nil {
		add(DataReader, e.Reader)
		add(DataAtr, e.Atr)
		add(DataIdentifier, e.Identifier)
		add(DataInserted, stamp(e.InsertedAt))
		add(DataPressed, stamp(e.PressedAt))
	}
	add(DataCommitted, stamp(committed))
	return out
}

// stationEvidence reads back what EvidenceItems wrote into a request's
// datacollection: nil when the request carries none of it. A time that
// does not parse is left zero; the text stays in the request.
func (r Request) stationEvidence() *domain.Evidence {
	var e domain.Evidence
	found := false
	stamp := func(v string) time.Time {
		t, _ := time.Parse(time.RFC3339Nano, v)
		return t
	}
	for _, d := range r.DataCollection {
		if d.Value == nil {
			continue
		}
		v := *d.Value
		switch d.Name {
		case DataStation:
			e.Station = v
		case DataReader:
			e.Reader = v
		case DataAtr:
			e.Atr = v
		case DataIdentifier:
			e.Identifier = v
		case DataInserted:
			e.InsertedAt = stamp(v)
		case DataPressed:
			e.PressedAt = stamp(v)
		case DataCommitted:
			e.Committed = stamp(v)
		default:
			continue // a name of a later version
		}
		found = true
	}
	if !found {
		return nil
	}
	return &e
}

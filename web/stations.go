package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/page"
)

// stationActivity is what the hub has seen of the stations that call it,
// by token name, for the admin page. It is kept in memory only, so the
// change path writes nothing more: it starts empty when the service does.
type stationActivity struct {
	since time.Time // when the service started
	mu    sync.Mutex
	by    map[string]stationSeen
}

type stationSeen struct {
	lastSeen   time.Time // the last authenticated API call
	lastChange time.Time // the last card status change
	lastCard   guid.GUID // the card of that change
}

func newStationActivity(now time.Time) *stationActivity {
	return &stationActivity{since: now, by: map[string]stationSeen{}}
}

// seen records an authenticated API call by the station token name.
func (a *stationActivity) seen(name string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.by[name]
	st.lastSeen = at
	a.by[name] = st
}

// changed records a card status change made by the station token name.
func (a *stationActivity) changed(name string, at time.Time, card guid.GUID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.by[name]
	st.lastChange, st.lastCard = at, card
	a.by[name] = st
}

func (a *stationActivity) get(name string) stationSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.by[name]
}

// stationsPage lists the station tokens and what each did since the
// service started.
func (s *Server) stationsPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	tokens, err := s.admin.Tokens()
	if err != nil {
		return err
	}
	v := page.StationsView{Since: s.stations.since}
	for _, t := range tokens {
		if t.Role != domain.RoleStation {
			continue
		}
		seen := s.stations.get(t.Name)
		v.Stations = append(v.Stations, page.HubStationView{Name: t.Name, Created: t.Created,
			LastSeen: seen.lastSeen, LastChange: seen.lastChange, LastCard: seen.lastCard})
	}
	s.render(w, r, http.StatusOK, page.Stations(u, v))
	return nil
}

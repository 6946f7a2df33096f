package wire

import (
	"encoding/json"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// BenchmarkEncodeCard is the JSON encoding of one Smartcard, the body of
// every card answer.
func BenchmarkEncodeCard(b *testing.B) {
	c := SmartcardFrom(storage.Smartcard{Uuid: guid.New(), Status: domain.CardActive, Flags: 1, AssignedUserUuid: guid.New(),
		ProfileTemplateUuid: guid.New(), ProfileTemplateVersion: 46, SerialNumber: "{bc88f13f-83ba-4037-8262-46eba1291c6e}",
		Middleware: "MSBaseCSP", Atr: "3b8d0180fba000000397425446590301c8"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(c); err != nil {
			b.Fatal(err)
		}
	}
}

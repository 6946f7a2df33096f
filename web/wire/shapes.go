package wire

import (
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Smartcard is MIM CM's Smartcard object, with its keys in the documented
// order.
type Smartcard struct {
	Uuid                   guid.GUID
	Status                 domain.CardStatus
	Flags                  int
	ParentSmartcardUuid    guid.GUID
	PrimarySmartcardUuid   guid.GUID
	PermanentSmartcardUuid guid.GUID
	AssignedUserUuid       guid.GUID
	ProfileTemplateUuid    guid.GUID
	ProfileTemplateVersion int
	Comment                string
	SerialNumber           string
	Middleware             string
	Atr                    string
}

// SmartcardFrom takes the documented fields of a card record.
func SmartcardFrom(c storage.Smartcard) Smartcard {
	return Smartcard{
		Uuid: c.Uuid, Status: c.Status, Flags: c.Flags,
		ParentSmartcardUuid: c.ParentSmartcardUuid, PrimarySmartcardUuid: c.PrimarySmartcardUuid,
		PermanentSmartcardUuid: c.PermanentSmartcardUuid, AssignedUserUuid: c.AssignedUserUuid,
		ProfileTemplateUuid: c.ProfileTemplateUuid, ProfileTemplateVersion: c.ProfileTemplateVersion,
		Comment: c.Comment, SerialNumber: c.SerialNumber, Middleware: c.Middleware, Atr: c.Atr,
	}
}

// Record is the card record for an import; the appliance's own fields
// start empty.
func (c Smartcard) Record() storage.Smartcard {
	return storage.Smartcard{
		Uuid: c.Uuid, Status: c.Status, Flags: c.Flags,
		ParentSmartcardUuid: c.ParentSmartcardUuid, PrimarySmartcardUuid: c.PrimarySmartcardUuid,
		PermanentSmartcardUuid: c.PermanentSmartcardUuid, AssignedUserUuid: c.AssignedUserUuid,
		ProfileTemplateUuid: c.ProfileTemplateUuid, ProfileTemplateVersion: c.ProfileTemplateVersion,
		Comment: c.Comment, SerialNumber: c.SerialNumber, Middleware: c.Middleware, Atr: c.Atr,
	}
}

// Request is MIM CM's Request object, with its keys in the documented order.
type Request struct {
	Uuid                     guid.GUID
	RequestType              domain.RequestType
	Status                   domain.RequestStatus
	Flags                    int
	DataCollection           []DataItem
	DataCollectionFlags      int
	OriginatorUserUuid       guid.GUID
	TargetUserUuid           guid.GUID
	Submitted                Time
	Completed                Time
	NewProfileUuid           guid.GUID
	OldProfileUuid           guid.GUID
	NewSmartcardUuid         guid.GUID
	OldSmartcardUuid         guid.GUID
	Priority                 int
	Comment                  string
	ProfileTemplateUuid      guid.GUID
	SecurityDescriptor       string
	IsSmartcard              bool
	IsEnrollmentAgent        bool
	IsDataCollectionComplete bool
}

// DataItem is one entry of a request's data collection.
type DataItem struct {
	Name  string
	Value *string
}

// RequestFrom takes the documented fields of a request record.
func RequestFrom(r storage.Request) Request {
	items := make([]DataItem, len(r.DataCollection))
	for i, d := range r.DataCollection {
		items[i] = DataItem(d)
	}
	return Request{
		Uuid: r.Uuid, RequestType: r.RequestType, Status: r.Status, Flags: r.Flags,
		DataCollection: items, DataCollectionFlags: r.DataCollectionFlags,
		OriginatorUserUuid: r.OriginatorUserUuid, TargetUserUuid: r.TargetUserUuid,
		Submitted: Time(r.Submitted), Completed: Time(r.Completed),
		NewProfileUuid: r.NewProfileUuid, OldProfileUuid: r.OldProfileUuid,
		NewSmartcardUuid: r.NewSmartcardUuid, OldSmartcardUuid: r.OldSmartcardUuid,
		Priority: r.Priority, Comment: r.Comment, ProfileTemplateUuid: r.ProfileTemplateUuid,
		SecurityDescriptor: r.SecurityDescriptor, IsSmartcard: r.IsSmartcard,
		IsEnrollmentAgent: r.IsEnrollmentAgent, IsDataCollectionComplete: r.IsDataCollectionComplete,
	}
}

// Time prints as Json.NET printed .NET dates: UTC with a Z and no trailing
// zeros in the fraction ("2015-07-07T23:36:21.93Z"), and the zero time as
// DateTime.MinValue, "0001-01-01T00:00:00", with no zone.
type Time time.Time

// MarshalText implements the format above.
func (t Time) MarshalText() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("0001-01-01T00:00:00"), nil
	}
	return []byte(tt.UTC().Format("2006-01-02T15:04:05.9999999Z")), nil
}

// Error is the body of every error response: ASP.NET Web API's shape, plus
// the correlation id that the server's log line also carries.
type Error struct {
	Message       string
	CorrelationId guid.GUID
}

package domain

import (
	"strconv"
	"strings"
)

// This file is the one place that numbers the MIM CM enumerations; see
// docs/API.md for where each number comes from.

// CardStatus is a smartcard's state, numbered as the MIM CM REST API
// serialises it.
type CardStatus int

// The card states. The numbers are the wire format: do not reorder.
const (
	CardNone CardStatus = iota
	CardNew
	CardAssigned
	CardActive
	CardDisabled
	CardSuspended
	CardRetired
)

var cardStatusNames = []string{"None", "New", "Assigned", "Active", "Disabled", "Suspended", "Retired"}

func (s CardStatus) String() string { return enumName(cardStatusNames, int(s)) }

// Valid reports whether s is one of the seven known states.
func (s CardStatus) Valid() bool { return s >= CardNone && s <= CardRetired }

// ParseCardStatus accepts a state's name in any case, or its number.
func ParseCardStatus(s string) (CardStatus, error) {
	n, ok := parseEnum(cardStatusNames, nil, s)
	if !ok {
		return 0, Refuse(ErrInvalid, "unknown smartcard status %q; use one of %s (or 0-6)", Clip(s), strings.Join(cardStatusNames, ", "))
	}
	return CardStatus(n), nil
}

// RequestType is the kind of a MIM CM request.
type RequestType int

// The request types, numbered as MIM CM stores them.
const (
	TypeNone RequestType = iota
	TypeEnroll
	TypeRecover
	TypeRenew
	TypeDisable
	TypeUnblock
	TypeDuplicate
	TypeRetire
	TypeRecoverOnBehalf
	TypeSuspendOrReinstate
	TypeOnlineUpdate
	TypeTemporaryEnroll
)

var requestTypeNames = []string{"None", "Enroll", "Recover", "Renew", "Disable", "Unblock", "Duplicate", "Retire",
	"RecoverOnBehalf", "SuspendOrReinstate", "OnlineUpdate", "TemporaryEnroll"}

// requestTypeAliases are the names MIM CM clients use in POST /requests
// for the types this appliance carries out.
var requestTypeAliases = map[string]int{
	"revoke":         int(TypeDisable),
	"suspend":        int(TypeSuspendOrReinstate),
	"reinstate":      int(TypeSuspendOrReinstate),
	"temporarycards": int(TypeTemporaryEnroll),
}

func (t RequestType) String() string { return enumName(requestTypeNames, int(t)) }

// ParseRequestType accepts a type's name or alias in any case, or its number.
func ParseRequestType(s string) (RequestType, error) {
	n, ok := parseEnum(requestTypeNames, requestTypeAliases, s)
	if !ok || n == int(TypeNone) {
		return 0, Refuse(ErrInvalid, "unknown request type %q; this appliance carries out %s", Clip(s), SupportedTypes())
	}
	return RequestType(n), nil
}

// RequestStatus is the state of a MIM CM request. The numbers are sparse,
// as in MIM CM itself.
type RequestStatus int

// The request states.
const (
	RequestNone      RequestStatus = 0
	RequestApproved  RequestStatus = 3
	RequestDenied    RequestStatus = 4
	RequestCompleted RequestStatus = 8
	RequestFailed    RequestStatus = 9
	RequestPending   RequestStatus = 16
	RequestCanceled  RequestStatus = 17
	RequestExecuting RequestStatus = 18
)

var requestStatusNames = map[RequestStatus]string{
	RequestNone: "None", RequestApproved: "Approved", RequestDenied: "Denied", RequestCompleted: "Completed",
	RequestFailed: "Failed", RequestPending: "Pending", RequestCanceled: "Canceled", RequestExecuting: "Executing",
}

func (s RequestStatus) String() string {
	if n, ok := requestStatusNames[s]; ok {
		return n
	}
	return strconv.Itoa(int(s))
}

// Finished reports whether no further change of the request is possible.
func (s RequestStatus) Finished() bool {
	return s == RequestCompleted || s == RequestDenied || s == RequestFailed || s == RequestCanceled
}

// ParseRequestStatus accepts a status name in any case, or its number.
// "Abandoned" has no number of its own in MIM CM: it is Canceled.
func ParseRequestStatus(s string) (RequestStatus, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "Abandoned") {
		return RequestCanceled, nil
	}
	for st, name := range requestStatusNames {
		if strings.EqualFold(t, name) || t == strconv.Itoa(int(st)) {
			return st, nil
		}
	}
	return 0, Refuse(ErrInvalid, "unknown request status %q; use Approved, Denied, Completed, Canceled or Abandoned", Clip(s))
}

func enumName(names []string, n int) string {
	if n >= 0 && n < len(names) {
		return names[n]
	}
	return strconv.Itoa(n)
}

// parseEnum matches a name or alias case-insensitively, or a number in range.
func parseEnum(names []string, aliases map[string]int, s string) (int, bool) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(t); err == nil {
		return n, n >= 0 && n < len(names)
	}
	for i, name := range names {
		if strings.EqualFold(t, name) {
			return i, true
		}
	}
	n, ok := aliases[strings.ToLower(t)]
	return n, ok
}

// Clip keeps echoed input short in messages.
func Clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

package web

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cardstop/cardstop/web/wire"
)

// A request's INFO line is written by hand: slog's JSONHandler, generic,
// cost a sixth of a GET's own work. The line has the keys, order and
// values the handler writes (TestAccessLineIsSlogs holds it to that), so
// the log reads as one.

var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeAccessLine writes r's line to w, one Write, as slog's handlers do.
func writeAccessLine(w io.Writer, now time.Time, r *http.Request, path string, code int, actor string) {
	bp := lineBuffers.Get().(*[]byte)
	b := appendAccessLine((*bp)[:0], now, r, path, code, actor)
	_, _ = w.Write(b)
	*bp = b
	lineBuffers.Put(bp)
}

func appendAccessLine(b []byte, now time.Time, r *http.Request, path string, code int, actor string) []byte {
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"http","method":`...)
	b = wire.AppendString(b, r.Method)
	b = append(b, `,"path":`...)
	b = wire.AppendString(b, path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"actor":`...)
	b = wire.AppendString(b, actor)
	b = append(b, `,"remote":`...)
	b = wire.AppendString(b, remoteHost(r))
	b = append(b, `,"correlation_id":"`...)
	b = correlationID(r.Context()).Append(b)
	return append(b, "\"}\n"...)
}

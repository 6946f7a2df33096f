package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Lists (GET /smartcards, GET /requests) and the audit export are written
// as they are read, element by element, never built in memory: with
// 100,000 cards the answer is 54 MB, and eight of them at once would not
// fit in a Pi's 512 MB. An answer that ends within its first chunk
// (streamChunk) goes out as before, plain, with a Content-Length; a longer
// one goes out in chunks, gzipped when the client asks for it.

// streamChunk is how much of an answer is gathered before it is written
// to the connection, and the size below which an answer is sent whole.
const streamChunk = 32 << 10

// streamStall is how long one chunk of a streamed answer may take to be
// written: each chunk moves the connection's write deadline to now plus
// this, so a long answer to a client that keeps reading (at least 32 KiB
// every 20 s, 1.6 KB/s) is not cut by the server's WriteTimeout, while a
// client that stops reading is cut 20 s later.
const streamStall = 20 * time.Second

// streamMax is the longest a streamed answer may take in all: after it the
// deadline is not moved again, so not even a client that trickles its
// reads just fast enough holds a connection for longer.
const streamMax = 10 * time.Minute

// stream is one streamed answer. Its methods are not safe for concurrent
// use.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	gzipOK  bool      // the client accepts gzip
	until   time.Time // streamMax after the start
	buf     []byte    // what is not yet written
	elem    bytes.Buffer
	enc     *json.Encoder // into elem
	started bool          // the status line is sent
	out     io.Writer     // after started: the connection, or gz over it
	gz      *gzip.Writer
}

// newStream starts an answer of status 200 to r. escapeHTML is the JSON
// encoder's setting: off for the API (MIM CM does not escape <, > and &),
// on for the audit export (its lines are what the events are hashed as).
func newStream(w http.ResponseWriter, r *http.Request, escapeHTML bool) *stream {
	s := &stream{w: w, rc: http.NewResponseController(w), gzipOK: acceptsGzip(r),
		until: time.Now().Add(streamMax), buf: make([]byte, 0, streamChunk+4<<10)}
	s.enc = json.NewEncoder(&s.elem)
	s.enc.SetEscapeHTML(escapeHTML)
	w.Header().Add("Vary", "Accept-Encoding") // a long answer is gzipped when asked
	return s
}

// raw adds bytes to the answer.
func (s *stream) raw(b string) error {
	s.buf = append(s.buf, b...)
	if len(s.buf) < streamChunk {
		return nil
	}
	return s.flush()
}

// value adds v's JSON encoding to the answer, with the newline the
// encoder ends it with when line is true, without when false.
func (s *stream) value(v any, line bool) error {
	s.elem.Reset()
	if err := s.enc.Encode(v); err != nil {
		return err
	}
	b := s.elem.Bytes()
	if !line {
		b = b[:len(b)-1]
	}
	s.buf = append(s.buf, b...)
	if len(s.buf) < streamChunk {
		return nil
	}
	return s.flush()
}

// flush writes what is gathered, first sending the status line and the
// encoding headers.
func (s *stream) flush() error {
	if !s.started {
		s.started = true
		h := s.w.Header()
		h.Del("Content-Length")
		s.out = deadlineWriter{w: s.w, rc: s.rc, until: s.until}
		if s.gzipOK {
			h.Set("Content-Encoding", "gzip")
			s.gz = gzipWriters.Get().(*gzip.Writer)
			s.gz.Reset(s.out)
			s.out = s.gz
		}
		s.w.WriteHeader(http.StatusOK)
	}
	_, err := s.out.Write(s.buf)
	s.buf = s.buf[:0]
	return err
}

// close ends the answer: a short one goes out whole, with its length.
func (s *stream) close() error {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Length", strconv.Itoa(len(s.buf)))
		s.w.WriteHeader(http.StatusOK)
		_, err := s.w.Write(s.buf)
		return err
	}
	err := s.flush()
	if s.gz != nil {
		if cerr := s.gz.Close(); err == nil {
			err = cerr
		}
		s.gz.Reset(io.Discard)
		gzipWriters.Put(s.gz)
		s.gz = nil
	}
	return err
}

// gzipWriters keeps compressors between answers: each holds about 1 MB.
var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // the Pi's CPU is the scarce thing
	return gz
}}

// deadlineWriter writes to the connection, moving its write deadline
// (streamStall, but not past until) before each write.
type deadlineWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	until time.Time
}

// newDeadlineWriter writes a long answer to w (a backup) under the
// streamed answers' deadlines instead of the server's WriteTimeout.
func newDeadlineWriter(w http.ResponseWriter) deadlineWriter {
	return deadlineWriter{w: w, rc: http.NewResponseController(w), until: time.Now().Add(streamMax)}
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	// An httptest recorder has no deadline to move: ErrNotSupported is fine.
	deadline := time.Now().Add(streamStall)
	if deadline.After(d.until) {
		deadline = d.until
	}
	_ = d.rc.SetWriteDeadline(deadline)
	return d.w.Write(p)
}

// acceptsGzip tells whether r's Accept-Encoding lists gzip (or x-gzip)
// with a quality above zero.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			if name = strings.ToLower(strings.TrimSpace(name)); name != "gzip" && name != "x-gzip" {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				k, q, ok := strings.Cut(p, "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err != nil || f <= 0 {
						return false
					}
				}
			}
			return true
		}
	}
	return false
}

// streamArray answers 200 with a JSON array of the records each reads, in
// their wire shape, written as they are read: the same bytes as encoding
// the whole slice (`[]` when there are none). An error before the first
// chunk is sent is returned, for the usual error answer; after, the status
// line is gone and the connection is cut (cutShort), so that the client
// sees a broken answer rather than a short one.
func streamArray[R, W any](s *Server, w http.ResponseWriter, r *http.Request, each func(context.Context, func(R) error) error, shape func(R) W) error {
	st := newStream(w, r, false)
	sep := "["
	err := each(r.Context(), func(rec R) error {
		if err := st.raw(sep); err != nil {
			return err
		}
		sep = ","
		return st.value(shape(rec), false)
	})
	if err == nil && sep == "[" {
		err = st.raw("[")
	}
	if err == nil {
		err = st.raw("]")
	}
	return s.endStream(w, r, st, err)
}

// endStream closes st after each has returned err.
func (s *Server) endStream(w http.ResponseWriter, r *http.Request, st *stream, err error) error {
	if err == nil {
		err = st.close()
	}
	if err != nil && !st.started {
		w.Header().Del("Vary")
		return err
	}
	if err != nil {
		s.cutShort(r, st, err)
	}
	return nil
}

// cutShort ends a streamed answer that failed after its status line was
// sent: it logs why and aborts the handler, so that the server closes the
// connection without ending the chunked body; the client sees an error,
// not a complete-looking short answer. A client that went away is only
// noted.
func (s *Server) cutShort(r *http.Request, st *stream, err error) {
	if st.gz != nil {
		st.gz.Reset(io.Discard) // not back to the pool: it may be mid-write
	}
	corr := correlationID(r.Context()).String()
	if r.Context().Err() != nil {
		s.log.InfoContext(r.Context(), "client left during a streamed answer", "path", r.URL.Path, "correlation_id", corr, "err", err)
	} else {
		s.log.WarnContext(r.Context(), "streamed answer cut short", "path", r.URL.Path, "correlation_id", corr, "err", err)
	}
	panic(http.ErrAbortHandler)
}

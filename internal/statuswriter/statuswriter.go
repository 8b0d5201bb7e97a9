// Package statuswriter records the status an http.Handler answers with, for middleware
// that acts on it afterwards (the receiver commits a seen id after a 2xx; the OpenTelemetry
// middleware sets the span's status code).
package statuswriter

import "net/http"

// Writer wraps an http.ResponseWriter and records the first final status written: the
// code given to WriteHeader (informational 1xx codes are passed on and not recorded), or
// 200 on the first Write or Flush without one. Status is 0 while nothing was written;
// Code is the status the response has once the handler returned. Its zero value needs
// ResponseWriter set before use.
type Writer struct {
	http.ResponseWriter
	// Status is the final status written so far; 0 when none.
	Status int
}

// Code returns the status of the response once the handler returned: Status, or 200
// (http.StatusOK) when nothing was written, as net/http answers a handler that returns
// without writing.
func (w *Writer) Code() int {
	if w.Status == 0 {
		return http.StatusOK
	}
	return w.Status
}

// WriteHeader records code (when final and the first) and writes it.
func (w *Writer) WriteHeader(code int) {
	if w.Status == 0 && code >= 200 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records 200 when no status was written, then writes b.
func (w *Writer) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client when the underlying writer can flush.
func (w *Writer) Flush() {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer (deadlines, hijack).
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

package statuswriter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookkit/hookkit/internal/statuswriter"
)

func TestWriterRecordsTheFinalStatus(t *testing.T) {
	cases := []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int // Status
		code  int // Code()
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0, http.StatusOK},
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) }, http.StatusAccepted, http.StatusAccepted},
		{"Write without WriteHeader", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, http.StatusOK, http.StatusOK},
		{"Flush without WriteHeader", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, http.StatusOK, http.StatusOK},
		{"the first final status stays", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNoContent)
			w.WriteHeader(http.StatusInternalServerError)
		}, http.StatusNoContent, http.StatusNoContent},
		{"1xx is not final", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
		}, http.StatusCreated, http.StatusCreated},
		{"1xx alone", func(w http.ResponseWriter) { w.WriteHeader(http.StatusEarlyHints) }, 0, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := &statuswriter.Writer{ResponseWriter: rec}
			c.write(w)
			assert.Equal(t, c.want, w.Status)
			assert.Equal(t, c.code, w.Code())
		})
	}
}

func TestWriterUnwrapReachesTheConnection(t *testing.T) {
	// http.ResponseController goes through Unwrap: a deadline set on the wrapper must
	// reach the server's writer (httptest.ResponseRecorder has none and would fail).
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statuswriter.Writer{ResponseWriter: rw}
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
}

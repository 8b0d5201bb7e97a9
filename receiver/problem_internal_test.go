package receiver

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEveryReasonHasAValidProblemDocument(t *testing.T) {
	allowed := map[int]bool{400: true, 401: true, 403: true, 405: true, 413: true, 422: true, 500: true, 503: true}
	for reason, def := range problemDefs {
		t.Run(string(reason), func(t *testing.T) {
			assert.True(t, allowed[def.status], "status %d", def.status)
			assert.Equal(t, def.status, reason.Status())
			rec := httptest.NewRecorder()
			writeProblem(rec, reason, 0)
			assert.Equal(t, def.status, rec.Code)
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			assert.Empty(t, rec.Header().Get("Retry-After"))
			var doc map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
			assert.Equal(t, map[string]any{
				"type":   "https://hookkit.dev/problems/" + string(reason),
				"title":  def.title,
				"status": float64(def.status),
				"detail": def.detail,
			}, doc)
		})
	}
}

func TestUnknownReasonFallsBackTo500(t *testing.T) {
	rec := httptest.NewRecorder()
	writeProblem(rec, Reason("made-up"), 0)
	assert.Equal(t, 500, rec.Code)
	assert.Contains(t, rec.Body.String(), ReasonHandlerError.TypeURI())
	assert.Zero(t, Reason("made-up").Status())
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want int64
	}{
		{time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{90 * time.Second, 90},
		{time.Duration(math.MaxInt64), int64(math.MaxInt64/int64(time.Second)) + 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, retryAfterSeconds(tt.in), tt.in.String())
	}
	rec := httptest.NewRecorder()
	writeProblem(rec, ReasonRetryLater, 2500*time.Millisecond)
	assert.Equal(t, "3", rec.Header().Get("Retry-After"))
}

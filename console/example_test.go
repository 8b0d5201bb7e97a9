package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hookkit/hookkit/console"
	"github.com/hookkit/hookkit/dispatch"
	"github.com/hookkit/hookkit/sender"
)

// The console mounted under /admin/webhooks/ behind the application's own authentication.
func ExampleNew() {
	rec := console.NewRecorder(100) // the charts: every attempt the Sender makes
	s, _ := sender.New(sender.Config{Observer: rec.Observer()})
	d, _ := dispatch.New(s, nil, dispatch.Config{})
	_ = d.Subscribe(dispatch.Subscription{Endpoint: sender.Endpoint{ID: "acme", URL: "https://hooks.acme.example/docusign"}})

	requireAdmin := func(h http.Handler) http.Handler { // your authentication
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user, pass, ok := r.BasicAuth(); !ok || user != "admin" || pass != "example" {
				w.Header().Set("WWW-Authenticate", `Basic realm="admin"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()

	c, err := console.New(d, console.Config{Recorder: rec})
	if err != nil {
		panic(err)
	}
	mux.Handle("/admin/webhooks/", requireAdmin(http.StripPrefix("/admin/webhooks", c)))

	for _, withAuth := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodGet, "/admin/webhooks/", nil)
		if withAuth {
			req.SetBasicAuth("admin", "example")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Header().Get("Content-Security-Policy") != "")
	}
	// Output:
	// 401 false
	// 200 true
}

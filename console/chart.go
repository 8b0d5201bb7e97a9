package console

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hookkit/hookkit/dispatch/queue"
)

// chart is a server-rendered SVG bar chart of recent attempts, oldest on the left: one bar
// per attempt, its height the attempt's latency (relative to the slowest shown), its
// colour its outcome.
type chart struct {
	W, H   int
	Bars   []bar
	Counts []outcomeCount
	N      int
	P50    string
	P95    string
	Max    string
	Source string // where the attempts come from
}

// bar is one attempt in a chart.
type bar struct {
	X, Y, W, H string
	Class      string // ok, retry, fail
	Title      string // the tooltip: number, status, class, latency, time
}

// outcomeCount is the number of attempts of one outcome in a chart.
type outcomeCount struct {
	Class string // ok, retry, fail
	Label string
	N     int
}

// outcomeClass is the CSS class of an attempt's Class: ok (acknowledged), retry
// (retryable: tried again) or fail (everything else: final or blocking).
func outcomeClass(class string) string {
	switch class {
	case queue.ClassAcknowledged:
		return "ok"
	case queue.ClassRetryable:
		return "retry"
	}
	return "fail"
}

// maxChartBars bounds the bars of one chart.
const maxChartBars = 100

// newChart returns the chart of samples (oldest first) in a w×h box; nil when there are none.
func newChart(samples []Sample, w, h int, source string) *chart {
	if len(samples) == 0 {
		return nil
	}
	if len(samples) > maxChartBars {
		samples = samples[len(samples)-maxChartBars:]
	}
	c := &chart{W: w, H: h, N: len(samples), Source: source}
	durs := make([]time.Duration, len(samples))
	var slowest time.Duration
	counts := map[string]int{}
	for i, s := range samples {
		durs[i] = s.Duration
		slowest = max(slowest, s.Duration)
		counts[outcomeClass(s.Class)]++
	}
	slots := max(len(samples), 20) // a few attempts do not make bars as wide as the chart
	slot := float64(w) / float64(slots)
	for i, s := range samples {
		bh := float64(h - 2)
		if slowest > 0 {
			bh = max(2, float64(h-2)*float64(s.Duration)/float64(slowest))
		}
		status := "no response"
		if s.Status != 0 {
			status = strconv.Itoa(s.Status)
		}
		c.Bars = append(c.Bars, bar{
			X: f(float64(i) * slot), Y: f(float64(h) - bh), W: f(max(1, slot*0.8)), H: f(bh),
			Class: outcomeClass(s.Class),
			Title: fmt.Sprintf("attempt %d · %s · %s · %s · %s", s.Number, status, s.Class,
				round(s.Duration), s.Start.UTC().Format(timeFormat)),
		})
	}
	for _, oc := range []outcomeCount{{"ok", "acknowledged", 0}, {"retry", "retryable", 0}, {"fail", "failed", 0}} {
		oc.N = counts[oc.Class]
		c.Counts = append(c.Counts, oc)
	}
	slices.Sort(durs)
	c.P50, c.P95, c.Max = round(durs[(len(durs)-1)/2]), round(durs[(len(durs)-1)*95/100]), round(slowest)
	return c
}

// f formats an SVG coordinate.
func f(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// round is a duration for people: ms precision below a minute.
func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// storedSamples returns the attempts in the histories of ds as samples, oldest first.
func storedSamples(ds ...[]queue.Delivery) []Sample {
	var out []Sample
	for _, list := range ds {
		for _, d := range list {
			for _, a := range d.Attempts {
				out = append(out, Sample{Number: a.Number, Start: a.Start, Duration: a.Duration, Status: a.Status, Class: a.Class})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Sample) int { return a.Start.Compare(b.Start) })
	return out
}

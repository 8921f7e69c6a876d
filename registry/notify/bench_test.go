package notify

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkNotifyParallel queues push events from concurrent requests
// (GOMAXPROCS × -cpu goroutines; try -cpu 1,8,64) and reports how many
// share an fsync.
func BenchmarkNotifyParallel(b *testing.B) {
	rc := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer rc.Close()
	obs := &countObserver{}
	q, err := Open(Options{Dir: b.TempDir(), Endpoints: []Endpoint{{Name: "b", URL: rc.URL}}, Observer: obs})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		repo := "repo" + strconv.FormatInt(n.Add(1), 10)
		for pb.Next() {
			ev := Event{Action: ActionPush, Target: Target{Repository: repo, Tag: "latest"}}
			if err := q.Notify(b.Context(), ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if s := obs.syncs.Load(); s > 0 {
		b.ReportMetric(float64(b.N)/float64(s), "events/fsync")
	}
}

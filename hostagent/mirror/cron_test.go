package mirror

import (
	"strings"
	"testing"
	"time"
)

func TestParseScheduleNext(t *testing.T) {
	utc := time.UTC
	// Wednesday 2026-01-07 10:17:30 UTC.
	at := time.Date(2026, 1, 7, 10, 17, 30, 0, utc)
	for _, tc := range []struct {
		expr string
		from time.Time
		want []time.Time // successive runs
	}{
		{"30m", at, []time.Time{at.Add(30 * time.Minute)}},
		{"@every 1h30m", at, []time.Time{at.Add(90 * time.Minute)}},
		{"*/15 * * * *", at, []time.Time{
			time.Date(2026, 1, 7, 10, 30, 0, 0, utc), time.Date(2026, 1, 7, 10, 45, 0, 0, utc), time.Date(2026, 1, 7, 11, 0, 0, 0, utc)}},
		{"0 3 * * *", at, []time.Time{time.Date(2026, 1, 8, 3, 0, 0, 0, utc), time.Date(2026, 1, 9, 3, 0, 0, 0, utc)}},
		{"@daily", at, []time.Time{time.Date(2026, 1, 8, 0, 0, 0, 0, utc)}},
		{"@hourly", at, []time.Time{time.Date(2026, 1, 7, 11, 0, 0, 0, utc)}},
		{"@weekly", at, []time.Time{time.Date(2026, 1, 11, 0, 0, 0, 0, utc)}}, // Sunday
		{"@monthly", at, []time.Time{time.Date(2026, 2, 1, 0, 0, 0, 0, utc)}},
		{"@yearly", at, []time.Time{time.Date(2027, 1, 1, 0, 0, 0, 0, utc)}},
		// Weekdays by name, a range: Friday the 9th next.
		{"0 9 * * mon-fri", time.Date(2026, 1, 9, 9, 0, 0, 0, utc), []time.Time{
			time.Date(2026, 1, 12, 9, 0, 0, 0, utc), time.Date(2026, 1, 13, 9, 0, 0, 0, utc)}},
		// Sunday as 7.
		{"0 0 * * 7", at, []time.Time{time.Date(2026, 1, 11, 0, 0, 0, 0, utc)}},
		// Both day fields restricted: either matches (the 1st, or a Monday).
		{"0 0 1 * 1", at, []time.Time{
			time.Date(2026, 1, 12, 0, 0, 0, 0, utc), time.Date(2026, 1, 19, 0, 0, 0, 0, utc),
			time.Date(2026, 1, 26, 0, 0, 0, 0, utc), time.Date(2026, 2, 1, 0, 0, 0, 0, utc)}},
		// Day of month alone, restricted; day of week a star.
		{"30 2 31 * *", at, []time.Time{time.Date(2026, 1, 31, 2, 30, 0, 0, utc), time.Date(2026, 3, 31, 2, 30, 0, 0, utc)}},
		// Lists, steps from a start, month names.
		{"5,35 1-5/2 * jan,jul *", at, []time.Time{
			time.Date(2026, 1, 8, 1, 5, 0, 0, utc), time.Date(2026, 1, 8, 1, 35, 0, 0, utc), time.Date(2026, 1, 8, 3, 5, 0, 0, utc)}},
		{"10/20 * * * *", at, []time.Time{time.Date(2026, 1, 7, 10, 30, 0, 0, utc), time.Date(2026, 1, 7, 10, 50, 0, 0, utc), time.Date(2026, 1, 7, 11, 10, 0, 0, utc)}},
		// Leap day.
		{"0 12 29 2 *", at, []time.Time{time.Date(2028, 2, 29, 12, 0, 0, 0, utc)}},
		// A minute that is due exactly now is not "after" now.
		{"17 10 * * *", time.Date(2026, 1, 7, 10, 17, 0, 0, utc), []time.Time{time.Date(2026, 1, 8, 10, 17, 0, 0, utc)}},
		// Never: February 30.
		{"0 0 30 2 *", at, []time.Time{{}}},
	} {
		s, err := parseSchedule(tc.expr)
		if err != nil {
			t.Errorf("parseSchedule(%q): %v", tc.expr, err)
			continue
		}
		from := tc.from
		for i, want := range tc.want {
			got := s.next(from)
			if !got.Equal(want) {
				t.Errorf("%q: run %d after %s = %s, want %s", tc.expr, i+1, from, got, want)
				break
			}
			from = got
		}
	}
}

func TestParseScheduleLocalTimeAndDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	s, err := parseSchedule("30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-03-08 02:30 does not exist in New York (clocks jump from 2:00
	// to 3:00): that day has no run.
	if got, want := s.next(time.Date(2026, 3, 8, 0, 0, 0, 0, ny)), time.Date(2026, 3, 9, 2, 30, 0, 0, ny); !got.Equal(want) {
		t.Errorf("across the spring gap: %s, want %s", got, want)
	}
	// 2026-11-01 01:30 happens twice (clocks go back from 2:00 to 1:00):
	// one run.
	s, _ = parseSchedule("30 1 * * *")
	first := s.next(time.Date(2026, 11, 1, 0, 0, 0, 0, ny))
	if first.Day() != 1 || first.Hour() != 1 || first.Minute() != 30 {
		t.Errorf("on the autumn change: %s", first)
	}
	if got, want := s.next(first), time.Date(2026, 11, 2, 1, 30, 0, 0, ny); !got.Equal(want) {
		t.Errorf("after the autumn change: %s, want %s", got, want)
	}
	// Every hour through both changes: always forward, an hour apart in
	// wall time at most twice as far in real time.
	s, _ = parseSchedule("0 * * * *")
	for _, day := range []time.Time{time.Date(2026, 3, 8, 0, 0, 0, 0, ny), time.Date(2026, 11, 1, 0, 0, 0, 0, ny)} {
		prev := day
		for range 30 {
			n := s.next(prev)
			if !n.After(prev) || n.Sub(prev) > 2*time.Hour {
				t.Fatalf("hourly after %s: %s", prev, n)
			}
			prev = n
		}
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"1ms", "shorter than 1s"},
		{"@every soon", "@every"},
		{"@fortnightly", "unknown macro"},
		{"* * * *", "want 5 fields"},
		{"60 * * * *", `minute "60": want a number from 0 to 59`},
		{"* 24 * * *", "hour"},
		{"* * 0 * *", "day of month"},
		{"* * * 13 *", "month"},
		{"* * * foo *", "month \"foo\""},
		{"* * * * 8", "day of week"},
		{"5-1 * * * *", "backwards"},
		{"*/0 * * * *", "step"},
		{"*/x * * * *", "step"},
		{"1,,2 * * * *", "minute"},
	} {
		_, err := parseSchedule(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseSchedule(%q) = %v, want an error with %q", tc.expr, err, tc.want)
		}
	}
	if s, err := parseSchedule(""); s != nil || err != nil {
		t.Errorf(`parseSchedule("") = %v, %v; want no schedule`, s, err)
	}
}

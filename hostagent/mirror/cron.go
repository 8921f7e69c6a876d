package mirror

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// A schedule says when a sync rule runs next. next returns the first time
// strictly after `after` at which the rule is due, or the zero time when it
// never is again.
type schedule interface {
	next(after time.Time) time.Time
	String() string
}

// minInterval keeps a mistyped interval ("1ns") from spinning the daemon.
const minInterval = time.Second

// parseSchedule reads a rule's schedule: "" (none: the daemon runs the
// rule once, when it starts), an interval as Go writes durations ("30m",
// "1h30m", or "@every 30m"), a macro (@hourly, @daily or @midnight,
// @weekly, @monthly, @yearly or @annually), or a five-field cron
// expression "minute hour day-of-month month day-of-week" in the
// daemon's local time.
func parseSchedule(s string) (schedule, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return nil, nil
	case "@hourly":
		s = "0 * * * *"
	case "@daily", "@midnight":
		s = "0 0 * * *"
	case "@weekly":
		s = "0 0 * * 0"
	case "@monthly":
		s = "0 0 1 * *"
	case "@yearly", "@annually":
		s = "0 0 1 1 *"
	}
	iv := strings.TrimSpace(strings.TrimPrefix(s, "@every"))
	if d, err := time.ParseDuration(iv); err == nil {
		if d < minInterval {
			return nil, fmt.Errorf("interval %s is shorter than %s", d, minInterval)
		}
		return interval(d), nil
	} else if iv != s {
		return nil, fmt.Errorf("@every %q: %v", iv, err)
	}
	if strings.HasPrefix(s, "@") {
		return nil, fmt.Errorf("%q: unknown macro (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually, @every DURATION)", s)
	}
	return parseCron(s)
}

// interval runs a rule every d, counted from the start of its last run.
type interval time.Duration

func (iv interval) next(after time.Time) time.Time { return after.Add(time.Duration(iv)) }
func (iv interval) String() string                 { return "every " + time.Duration(iv).String() }

// cron is a parsed five-field expression; each field is the set of values
// it allows, as bits.
type cron struct {
	expr                          string
	minute, hour, dom, month, dow uint64
	domRestricted, dowRestricted  bool
}

// cronField describes one field: its range and the names it accepts.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var cronFields = [5]cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	// 7 is Sunday too, as in Vixie cron.
	{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// parseCron reads "minute hour day-of-month month day-of-week". Each field
// is a comma-separated list of *, N, N-M, with an optional /STEP (*/15,
// 1-30/2, 5/10 meaning 5-max/10); months and weekdays also take names
// (jan, mon-fri). As in Vixie cron, when both day fields are restricted a
// day matching either is due.
func parseCron(expr string) (*cron, error) {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), or an interval such as 30m; got %d", expr, len(f))
	}
	c := &cron{expr: strings.Join(f, " ")}
	sets := []*uint64{&c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	for i, field := range f {
		set, err := cronFields[i].parse(field)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %w", expr, err)
		}
		*sets[i] = set
	}
	if c.dow&(1<<7) != 0 { // Sunday as 7
		c.dow |= 1
	}
	c.domRestricted = f[2] != "*" && !strings.HasPrefix(f[2], "*/")
	c.dowRestricted = f[4] != "*" && !strings.HasPrefix(f[4], "*/")
	return c, nil
}

func (cf cronField) parse(field string) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(field, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > cf.max {
				return 0, fmt.Errorf("%s %q: step %q must be a number from 1 to %d", cf.name, part, stepStr, cf.max)
			}
			step = n
		}
		lo, hi := cf.min, cf.max
		switch {
		case rng == "*":
			if cf.name == "day of week" {
				hi = 6 // 7 would only repeat Sunday
			}
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = cf.value(a); err != nil {
				return 0, err
			}
			if hi, err = cf.value(b); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("%s %q: range goes backwards", cf.name, part)
			}
		default:
			v, err := cf.value(rng)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if hasStep { // N/S: from N to the end, every S
				hi = cf.max
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func (cf cronField) value(s string) (int, error) {
	for i, n := range cf.names {
		if strings.EqualFold(s, n) {
			return cf.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < cf.min || v > cf.max {
		return 0, fmt.Errorf("%s %q: want a number from %d to %d%s", cf.name, s, cf.min, cf.max, cf.nameHint())
	}
	return v, nil
}

func (cf cronField) nameHint() string {
	if len(cf.names) == 0 {
		return ""
	}
	return " or a name (" + cf.names[0] + ", " + cf.names[1] + ", …)"
}

func (c *cron) String() string { return "cron " + c.expr }

// next finds the first minute after `after` that the expression allows,
// moving a whole month, day or hour at a time when that field does not
// match. A wall time that a daylight-saving change skips does not happen
// that day; one it repeats happens once. An expression no date satisfies (February 30) yields zero after
// five years of search.
func (c *cron) next(after time.Time) time.Time {
	loc := after.Location()
	t := time.Date(after.Year(), after.Month(), after.Day(), after.Hour(), after.Minute()+1, 0, 0, loc)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case c.month&(1<<uint(t.Month())) == 0:
			t = wallAfter(t, func(k int) time.Time { return time.Date(t.Year(), t.Month()+time.Month(k), 1, 0, 0, 0, 0, loc) })
		case !c.dayMatches(t):
			t = wallAfter(t, func(k int) time.Time { return time.Date(t.Year(), t.Month(), t.Day()+k, 0, 0, 0, 0, loc) })
		case c.hour&(1<<uint(t.Hour())) == 0:
			t = wallAfter(t, func(k int) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+k, 0, 0, 0, loc) })
		case c.minute&(1<<uint(t.Minute())) == 0:
			if rest := c.minute >> uint(t.Minute()); rest != 0 {
				t = t.Add(time.Duration(bits.TrailingZeros64(rest)) * time.Minute)
			} else { // no allowed minute left in this hour
				t = wallAfter(t, func(k int) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+k, 0, 0, 0, loc) })
			}
		default:
			return t
		}
	}
	return time.Time{}
}

// wallAfter returns the first of mk(1), mk(2), … that lies after t. A
// wall time that a daylight-saving change skips (02:00 on the day clocks
// jump to 03:00) may come back as a time before t; the next one will not.
func wallAfter(t time.Time, mk func(k int) time.Time) time.Time {
	for k := 1; ; k++ {
		if n := mk(k); n.After(t) {
			return n
		}
	}
}

func (c *cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domRestricted && c.dowRestricted {
		return dom || dow
	}
	return dom && dow
}

package client

import (
	"net/http"
	"strings"
)

// challenge is one auth challenge of a WWW-Authenticate header (RFC 7235):
// a scheme ("bearer", "basic"; lower case) and its parameters (names lower
// case), e.g. realm, service and scope for the registry token flow.
type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenges reads every challenge of every WWW-Authenticate header.
// It never fails: what it cannot read it skips, since a server's header is
// untrusted input and a bad challenge only means no authentication.
func parseChallenges(h http.Header) []challenge {
	var out []challenge
	for _, v := range h.Values("WWW-Authenticate") {
		out = append(out, parseChallengeHeader(v)...)
	}
	return out
}

func parseChallengeHeader(s string) []challenge {
	var out []challenge
	p := &headerParser{s: s}
	for {
		p.skip(" \t,")
		if p.done() {
			return out
		}
		scheme := p.token()
		if scheme == "" {
			p.i++ // not a token character: skip it
			continue
		}
		c := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
		for {
			p.skip(" \t,")
			start := p.i
			name := p.token()
			p.skip(" \t")
			if name == "" || !p.eat('=') {
				p.i = start // the next challenge's scheme, or junk
				break
			}
			p.skip(" \t")
			var val string
			if p.peek() == '"' {
				val = p.quoted()
			} else {
				val = p.token68()
			}
			c.params[strings.ToLower(name)] = val
		}
		out = append(out, c)
	}
}

// pick chooses the challenge to answer: bearer before basic; nil when there
// is neither.
func pick(cs []challenge) *challenge {
	var basic *challenge
	for i := range cs {
		switch cs[i].scheme {
		case "bearer":
			return &cs[i]
		case "basic":
			if basic == nil {
				basic = &cs[i]
			}
		}
	}
	return basic
}

type headerParser struct {
	s string
	i int
}

func (p *headerParser) done() bool { return p.i >= len(p.s) }

func (p *headerParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *headerParser) eat(c byte) bool {
	if p.peek() == c && !p.done() {
		p.i++
		return true
	}
	return false
}

func (p *headerParser) skip(set string) {
	for !p.done() && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *headerParser) token() string {
	start := p.i
	for !p.done() && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 reads an unquoted value: token characters plus the "/" and "="
// that base64 values and sloppy servers use.
func (p *headerParser) token68() string {
	start := p.i
	for !p.done() && (isTokenChar(p.s[p.i]) || p.s[p.i] == '/' || p.s[p.i] == '=' || p.s[p.i] == ':') {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string at p.i (which is '"'), undoing backslash
// escapes; an unterminated string runs to the end.
func (p *headerParser) quoted() string {
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String()
		case c == '\\' && !p.done():
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// Package archtest holds no code, only a test that encodes the module's
// import rules (imports_test.go): which package may import which. Run it
// with go test ./internal/archtest; it reads the sources, so it needs
// nothing but the repository.
package archtest

// Package browsertest tests the delivery console (package console) in a real browser:
// headless Chromium (Debian's chromium package, installed by
// internal/testenv/chromium/install.sh) driven by chromedp. It is a module of its own so
// that chromedp stays out of the library's module. It has no API; see browser_test.go.
package browsertest

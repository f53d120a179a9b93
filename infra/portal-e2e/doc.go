// Package portale2e holds the customer portal's browser tests: portal_test.go starts
// the dev stack and a receiver, mints portal links, and runs portal.e2e.mjs, which
// drives Debian's chromium through playwright-core (both installed by install.sh,
// which the Makefile runs). Screenshots land in testdata/screenshots (ignored by git)
// or in PORTAL_SCREENSHOTS.
package portale2e

// Package openapi lints the API's OpenAPI document with Redocly's recommended rules
// (lint.mjs on @redocly/openapi-core, pinned in package-lock.json and installed by
// `make deps`). It has no API.
package openapi

// Package js embeds the JavaScript SDK so the server can serve it at
// /sdk/runnel.js; the module itself is runnel.js beside this file.
package js

import _ "embed"

// Module is the source of runnel.js, an ES module.
//
//go:embed runnel.js
var Module []byte

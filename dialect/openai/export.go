package openai

import "net/http"

// WriteError answers with err's HTTP status (and Retry-After) in OpenAI's
// error shape. For other packages serving OpenAI-shaped APIs (the jobs API).
func WriteError(w http.ResponseWriter, err error) { writeError(w, err) }

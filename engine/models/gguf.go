package models

// describeGGUF fills in what a GGUF file's metadata says about the model.
func describeGGUF(m *Model) {}

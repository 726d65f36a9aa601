module tools/olareg-serve

go 1.24

require github.com/olareg/olareg v0.1.2

require github.com/opencontainers/go-digest v1.0.0 // indirect

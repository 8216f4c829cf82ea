package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// DefaultConfigFile is hull's host-wide configuration.
const DefaultConfigFile = "/etc/hull/config.json"

// HostConfig is /etc/hull/config.json. Every field is optional.
type HostConfig struct {
	// Sandbox is the default sandbox: "vm" (when empty) or "process".
	Sandbox string `json:"sandbox,omitempty"`
}

func loadConfig(path string) (*HostConfig, error) {
	var c HostConfig
	if path == "" {
		return &c, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

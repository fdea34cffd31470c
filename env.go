package jongler

// The environment variables read when no option says otherwise, as the
// original API Jongler read APIJONGLER_CONFIG.
const (
	// ConfigEnv holds the path of the INI file of keys.
	ConfigEnv = "APIJONGLER_CONFIG"
	// ConnectorsDirEnv points at a directory of connector files adding to
	// or overriding the bundled ones.
	ConnectorsDirEnv = "APIJONGLER_CONNECTORS"
	// StateDirEnv sets the state directory of the file store.
	StateDirEnv = "APIJONGLER_STATE_DIR"
	// TorEnv, set to a SOCKS5 address, routes requests through it as
	// [WithTor] does.
	TorEnv = "APIJONGLER_TOR"
)

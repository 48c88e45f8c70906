package server

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/commitlog"
)

// Config is everything `herald serve` can be told. Defaults, an optional
// JSON file, environment variables (HERALD_<NAME>) and flags (--name) fill
// the same struct, in that order of precedence, lowest first.
type Config struct {
	DataDir           string        `json:"data"`
	Listen            string        `json:"listen"`
	Sync              string        `json:"sync"`
	AutoCreateTopics  bool          `json:"autoCreateTopics"`
	MaxBodyBytes      int64         `json:"maxBodyBytes"`
	MaxEventBytes     int           `json:"maxEventBytes"`
	MaxHeaderBytes    int           `json:"maxHeaderBytes"`
	ReadHeaderTimeout time.Duration `json:"readHeaderTimeout"`
	ReadTimeout       time.Duration `json:"readTimeout"`
	WriteTimeout      time.Duration `json:"writeTimeout"`
	IdleTimeout       time.Duration `json:"idleTimeout"`
	ShutdownTimeout   time.Duration `json:"shutdownTimeout"`
	LogLevel          string        `json:"logLevel"`
}

// DefaultConfig works with nothing set: data in ./herald-data, loopback only.
func DefaultConfig() Config {
	return Config{
		DataDir:           "./herald-data",
		Listen:            "127.0.0.1:7070",
		Sync:              "always",
		AutoCreateTopics:  true,
		MaxBodyBytes:      4 << 20,
		MaxEventBytes:     1 << 20,
		MaxHeaderBytes:    64 << 10,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   20 * time.Second,
		LogLevel:          "info",
	}
}

// Validate reports every setting that cannot work, naming its flag.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("data", "must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not HOST:PORT: %v", c.Listen, err)
	}
	if _, err := commitlog.ParseSyncPolicy(c.Sync); err != nil {
		bad("sync", "%v", err)
	}
	if c.MaxBodyBytes < 1024 {
		bad("max-body-bytes", "%d: must be at least 1024", c.MaxBodyBytes)
	}
	if c.MaxEventBytes < 1024 || int64(c.MaxEventBytes) > c.MaxBodyBytes {
		bad("max-event-bytes", "%d: must be between 1024 and --max-body-bytes", c.MaxEventBytes)
	}
	if c.MaxHeaderBytes < 4096 {
		bad("max-header-bytes", "%d: must be at least 4096", c.MaxHeaderBytes)
	}
	for name, d := range map[string]time.Duration{
		"read-header-timeout": c.ReadHeaderTimeout, "read-timeout": c.ReadTimeout,
		"write-timeout": c.WriteTimeout, "idle-timeout": c.IdleTimeout, "shutdown-timeout": c.ShutdownTimeout,
	} {
		if d <= 0 {
			bad(name, "%v: must be positive", d)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q: use debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

// HelpError is LoadConfig's answer to -h or --help: not a failure, but
// the text to show (on stdout, exit status 0, as the CLI's commands do).
type HelpError struct{ Usage string }

func (e *HelpError) Error() string { return "help requested\n" + e.Usage }

// Unwrap makes errors.Is(err, flag.ErrHelp) hold.
func (e *HelpError) Unwrap() error { return flag.ErrHelp }

// LoadConfig builds the configuration from defaults, the JSON file named by
// --config or HERALD_CONFIG, the environment, and the flags in args.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	configPath := fs.String("config", getenv("HERALD_CONFIG"), "JSON configuration file")
	vals := bindFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, &HelpError{Usage: usage(fs)}
		}
		return cfg, fmt.Errorf("%w\n%s", err, usage(fs))
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), usage(fs))
	}
	if *configPath != "" {
		data, err := os.ReadFile(*configPath)
		if err != nil {
			return cfg, fmt.Errorf("--config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		var file fileConfig
		if err := dec.Decode(&file); err != nil {
			return cfg, fmt.Errorf("--config %s: %w", *configPath, err)
		}
		if err := file.applyTo(&cfg); err != nil {
			return cfg, fmt.Errorf("--config %s: %w", *configPath, err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, v := range vals {
		env := "HERALD_" + strings.ToUpper(strings.ReplaceAll(v.name, "-", "_"))
		switch {
		case set[v.name]:
			if err := v.apply(v.flagValue()); err != nil {
				return cfg, fmt.Errorf("--%s: %w", v.name, err)
			}
		case getenv(env) != "":
			if err := v.apply(getenv(env)); err != nil {
				return cfg, fmt.Errorf("%s: %w", env, err)
			}
		}
	}
	return cfg, cfg.Validate()
}

func usage(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("usage: herald serve [flags]\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

// setting is one configurable field: its flag name, how to parse it into
// the config, and how to read the flag's raw value.
type setting struct {
	name      string
	apply     func(string) error
	flagValue func() string
}

func bindFlags(fs *flag.FlagSet, cfg *Config) []setting {
	var out []setting
	str := func(name string, p *string, help string) {
		raw := fs.String(name, *p, help)
		out = append(out, setting{name, func(s string) error { *p = s; return nil }, func() string { return *raw }})
	}
	num := func(name string, set func(int64), def int64, help string) {
		raw := fs.String(name, strconv.FormatInt(def, 10), help)
		out = append(out, setting{name, func(s string) error {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", s)
			}
			set(n)
			return nil
		}, func() string { return *raw }})
	}
	dur := func(name string, p *time.Duration, help string) {
		raw := fs.String(name, p.String(), help)
		out = append(out, setting{name, func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("%q is not a duration such as 30s", s)
			}
			*p = d
			return nil
		}, func() string { return *raw }})
	}
	boolean := func(name string, p *bool, help string) {
		raw := fs.String(name, strconv.FormatBool(*p), help)
		out = append(out, setting{name, func(s string) error {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%q is not true or false", s)
			}
			*p = b
			return nil
		}, func() string { return *raw }})
	}
	str("data", &cfg.DataDir, "data directory (HERALD_DATA)")
	str("listen", &cfg.Listen, "HOST:PORT to serve HTTP on (HERALD_LISTEN)")
	str("sync", &cfg.Sync, "fsync policy: always (an acknowledged publish is on disk), interval or none")
	boolean("auto-create-topics", &cfg.AutoCreateTopics, "create unknown topics on first publish")
	num("max-body-bytes", func(n int64) { cfg.MaxBodyBytes = n }, cfg.MaxBodyBytes, "largest request body")
	num("max-event-bytes", func(n int64) { cfg.MaxEventBytes = int(n) }, int64(cfg.MaxEventBytes), "largest event, default for new topics")
	num("max-header-bytes", func(n int64) { cfg.MaxHeaderBytes = int(n) }, int64(cfg.MaxHeaderBytes), "largest request header block")
	dur("read-header-timeout", &cfg.ReadHeaderTimeout, "time a client has to send its headers")
	dur("read-timeout", &cfg.ReadTimeout, "time a client has to send a whole request")
	dur("write-timeout", &cfg.WriteTimeout, "time to write a response (not long polls or streams)")
	dur("idle-timeout", &cfg.IdleTimeout, "keep-alive idle time")
	dur("shutdown-timeout", &cfg.ShutdownTimeout, "time in-flight requests get on SIGTERM")
	str("log-level", &cfg.LogLevel, "debug, info, warn or error")
	return out
}

// fileConfig is the JSON file's shape: durations as strings, every field
// optional.
type fileConfig struct {
	DataDir           *string `json:"data"`
	Listen            *string `json:"listen"`
	Sync              *string `json:"sync"`
	AutoCreateTopics  *bool   `json:"autoCreateTopics"`
	MaxBodyBytes      *int64  `json:"maxBodyBytes"`
	MaxEventBytes     *int    `json:"maxEventBytes"`
	MaxHeaderBytes    *int    `json:"maxHeaderBytes"`
	ReadHeaderTimeout *string `json:"readHeaderTimeout"`
	ReadTimeout       *string `json:"readTimeout"`
	WriteTimeout      *string `json:"writeTimeout"`
	IdleTimeout       *string `json:"idleTimeout"`
	ShutdownTimeout   *string `json:"shutdownTimeout"`
	LogLevel          *string `json:"logLevel"`
}

func (f fileConfig) applyTo(c *Config) error {
	setStr := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setStr(&c.DataDir, f.DataDir)
	setStr(&c.Listen, f.Listen)
	setStr(&c.Sync, f.Sync)
	setStr(&c.LogLevel, f.LogLevel)
	if f.AutoCreateTopics != nil {
		c.AutoCreateTopics = *f.AutoCreateTopics
	}
	if f.MaxBodyBytes != nil {
		c.MaxBodyBytes = *f.MaxBodyBytes
	}
	if f.MaxEventBytes != nil {
		c.MaxEventBytes = *f.MaxEventBytes
	}
	if f.MaxHeaderBytes != nil {
		c.MaxHeaderBytes = *f.MaxHeaderBytes
	}
	for name, pair := range map[string]struct {
		dst *time.Duration
		v   *string
	}{
		"readHeaderTimeout": {&c.ReadHeaderTimeout, f.ReadHeaderTimeout},
		"readTimeout":       {&c.ReadTimeout, f.ReadTimeout},
		"writeTimeout":      {&c.WriteTimeout, f.WriteTimeout},
		"idleTimeout":       {&c.IdleTimeout, f.IdleTimeout},
		"shutdownTimeout":   {&c.ShutdownTimeout, f.ShutdownTimeout},
	} {
		if pair.v == nil {
			continue
		}
		d, err := time.ParseDuration(*pair.v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration such as 30s", name, *pair.v)
		}
		*pair.dst = d
	}
	return nil
}

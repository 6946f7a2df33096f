package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// systemConfig is the appliance's configuration file.
const systemConfig = "/etc/cardstop/cardstop.toml"

// defaultConfig is the system file where it exists, else none.
func defaultConfig() string {
	if _, err := os.Stat(systemConfig); err == nil {
		return systemConfig
	}
	return ""
}

// configKeys are the keys a configuration file may hold: serve's flags,
// which include every other command's.
func configKeys() []string {
	c, _ := serveCommand(io.Discard)
	var keys []string
	c.fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			keys = append(keys, f.Name)
		}
	})
	sort.Strings(keys)
	return keys
}

// envName is the environment variable of a flag: data-dir is CARDSTOP_DATA_DIR.
func envName(flagName string) string {
	return "CARDSTOP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyConfig sets the flags the command line left unset: from the
// environment first, then from the file (when one is named). It returns
// where each flag's value came from: flag, env, file or default. An
// unknown key in the file, or a value a flag refuses, is an error naming
// it.
func applyConfig(fs *flag.FlagSet, file string, lookupEnv func(string) (string, bool)) (map[string]string, error) {
	values, err := readConfig(file)
	if err != nil {
		return nil, err
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	known := configKeys()
	sources := map[string]string{}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		sources[f.Name] = "default"
		if explicit[f.Name] {
			sources[f.Name] = "flag"
			return
		}
		if !slices.Contains(known, f.Name) {
			return // a command's own flag, like token create's --role
		}
		if v, ok := lookupEnv(envName(f.Name)); ok && v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %v", errUsage, envName(f.Name), err))
			}
			sources[f.Name] = "env " + envName(f.Name)
			return
		}
		if v, ok := values[f.Name]; ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %s: %v", errUsage, file, f.Name, err))
			}
			sources[f.Name] = "file " + file
		}
	})
	return sources, errors.Join(errs...)
}

// readConfig reads a TOML file of key = value lines into strings, as a
// command line would give them. Tables and arrays have no flag to go to.
func readConfig(file string) (map[string]string, error) {
	out := map[string]string{}
	if file == "" {
		return out, nil
	}
	var raw map[string]any
	md, err := toml.DecodeFile(file, &raw)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("%w: %s: line %d: %s", errUsage, file, perr.Position.Line, perr.Message)
		}
		return nil, fmt.Errorf("%w: %s: %v", errUsage, file, err)
	}
	known := configKeys()
	for _, key := range md.Keys() {
		name := key.String()
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%w: %s: unknown key %q; the keys are: %s", errUsage, file, name, strings.Join(known, ", "))
		}
		switch v := raw[name].(type) {
		case string:
			out[name] = v
		case int64:
			out[name] = strconv.FormatInt(v, 10)
		case bool:
			out[name] = strconv.FormatBool(v)
		case []any: // a flag given more than once, like webhook
			var parts []string
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("%w: %s: %s must be a list of strings", errUsage, file, name)
				}
				parts = append(parts, s)
			}
			out[name] = strings.Join(parts, " ")
		default:
			return nil, fmt.Errorf("%w: %s: %s must be a string, a whole number, true/false or a list of strings", errUsage, file, name)
		}
	}
	return out, nil
}

// configPrint shows the effective configuration of serve, each value with
// where it came from. No option holds a secret (the TLS key is a path).
func configPrint(args []string, stdout, stderr io.Writer) error {
	c, _ := serveFlags("config print", "", "cardstop config print --config /etc/cardstop/cardstop.toml", stderr)
	if err := c.parse(args, 0); err != nil {
		return err
	}
	var names []string
	c.fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	fmt.Fprintf(stdout, "# the configuration cardstop serve would run with (flags > environment > file > defaults)\n")
	for _, name := range names {
		if name == "config" {
			continue
		}
		f := c.fs.Lookup(name)
		value := f.Value.String()
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
			fmt.Fprintf(stdout, "%s = %s", name, value)
		} else if _, err := strconv.Atoi(value); err == nil {
			fmt.Fprintf(stdout, "%s = %s", name, value)
		} else {
			fmt.Fprintf(stdout, "%s = %q", name, value)
		}
		fmt.Fprintf(stdout, "  # %s\n", c.sources[name])
	}
	return nil
}

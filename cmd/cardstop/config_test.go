package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cardstop.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "data-dir = \"/from/file\"\nlisten = \"127.0.0.1:9000\"\nconfirm-window = \"5s\"\npanel = \"simulated\"\ninsecure-http = false\n")
	env := map[string]string{"CARDSTOP_LISTEN": "127.0.0.1:9100", "CARDSTOP_PANEL": "gpio"}
	c, o := serveCommand(io.Discard)
	if err := c.parseArgs([]string{"--config", file, "--panel", "auto"}, 0); err != nil {
		t.Fatal(err)
	}
	sources, err := applyConfig(c.fs, *c.config, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]string{
		"panel":          {"auto", "flag"},
		"listen":         {"127.0.0.1:9100", "env CARDSTOP_LISTEN"},
		"data-dir":       {"/from/file", "file " + file},
		"confirm-window": {"5s", "file " + file},
		"led-green":      {"GPIO17", "default"},
	} {
		if got := c.fs.Lookup(name).Value.String(); got != want[0] || sources[name] != want[1] {
			t.Errorf("%s = %q from %q; want %q from %q", name, got, sources[name], want[0], want[1])
		}
	}
	if *o.listen != "127.0.0.1:9100" {
		t.Errorf("the listen option did not take the value: %q", *o.listen)
	}
}

// TestConfigWebhooks: --webhook is given more than once on the command
// line, as a list in the file, or space-separated in the environment.
func TestConfigWebhooks(t *testing.T) {
	a, b := "https://siem.example/hook", "https://doors.example/cardstop"
	tests := []struct {
		name, file, env string
		args            []string
	}{
		{name: "flags", args: []string{"--webhook", a, "--webhook", b}},
		{name: "file", file: "webhook = [\"" + a + "\", \"" + b + "\"]\nupstream = \"https://hub:8443/x\"\n"},
		{name: "environment", env: a + " " + b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, o := serveCommand(io.Discard)
			file := ""
			if tt.file != "" {
				file = writeFile(t, tt.file)
			}
			if err := c.parseArgs(tt.args, 0); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"CARDSTOP_WEBHOOK": tt.env}
			if _, err := applyConfig(c.fs, file, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
				t.Fatal(err)
			}
			if got := o.fleet.webhooks.values; len(got) != 2 || got[0] != a || got[1] != b {
				t.Errorf("webhooks %q; want %q and %q", got, a, b)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, file, env, want string
	}{
		{"unknown key", "data-dir = \"x\"\nlisen = \"y\"\n", "", `unknown key "lisen"`},
		{"bad duration", "confirm-window = \"ten seconds\"\n", "", "confirm-window: want a duration like 10s or 1m30s"},
		{"wrong type", "listen = 8080.5\n", "", "listen must be a string"},
		{"table", "[station]\nname = \"x\"\n", "", `unknown key "station"`},
		{"not TOML", "listen = \n", "", "line 1"},
		{"bad boolean from the environment", "", "CARDSTOP_INSECURE_HTTP=maybe", "CARDSTOP_INSECURE_HTTP"},
		{"command flag in the file", "role = \"admin\"\n", "", `unknown key "role"`},
		{"a list of numbers", "webhook = [1, 2]\n", "", "webhook must be a list of strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := serveCommand(io.Discard)
			file := ""
			if tt.file != "" {
				file = writeFile(t, tt.file)
			}
			env := map[string]string{}
			if k, v, ok := strings.Cut(tt.env, "="); ok {
				env[k] = v
			}
			_, err := applyConfig(c.fs, file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("applyConfig = %v; want a usage error with %q", err, tt.want)
			}
		})
	}
	if _, err := applyConfig(func() *command { c, _ := serveCommand(io.Discard); return c }().fs, "/nonexistent/cardstop.toml", os.LookupEnv); err == nil {
		t.Fatal("a missing configuration file was accepted")
	}
}

// FuzzReadConfig: the configuration reader never panics, and what it
// accepts holds only known keys.
func FuzzReadConfig(f *testing.F) {
	for _, s := range []string{"data-dir = \"/data/cardstop\"\nlisten = \":8443\"\n", "x = 1", "[a]\nb = [1,2]", "confirm-window = \"10s\"\nstatus-changes-per-minute = 60\n"} {
		f.Add(s)
	}
	known := configKeys()
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		values, err := readConfig(p)
		if err != nil {
			return
		}
		for k := range values {
			if !strings.Contains(" "+strings.Join(known, " ")+" ", " "+k+" ") {
				t.Fatalf("accepted unknown key %q", k)
			}
		}
	})
}

func TestConfigPrint(t *testing.T) {
	file := writeFile(t, "listen = \"127.0.0.1:9000\"\nconfirm-window = \"5s\"\n")
	var out, errb strings.Builder
	t.Setenv("CARDSTOP_PANEL", "simulated")
	if err := configPrint([]string{"--config", file, "--reader", "ACS"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`listen = "127.0.0.1:9000"  # file ` + file,
		`confirm-window = "5s"  # file ` + file,
		`panel = "simulated"  # env CARDSTOP_PANEL`,
		`reader = "ACS"  # flag`,
		`status-changes-per-minute = 60  # default`,
		`insecure-http = false  # default`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("config print lacks %q:\n%s", want, out.String())
		}
	}
	// What it prints is itself a valid configuration file.
	if _, err := readConfig(writeFile(t, out.String())); err != nil {
		t.Fatalf("the printed configuration does not read back: %v", err)
	}
}

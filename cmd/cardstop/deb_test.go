package main

import (
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDebPackages inspects the .deb files `make deb` built (make test
// builds them and names their folder in CARDSTOP_DEB_DIR): the fields (a
// libc6 dependency as new as the binary's GLIBC_ symbols), the files with
// their modes, the conffile, the copyright (a paragraph for every module
// linked in) and changelog, the polkit rule, maintainer scripts that go
// through deb-systemd-helper, a PIE binary for the architecture, and
// systemd-analyze verify on the unit. make test-deb runs lintian after it.
func TestDebPackages(t *testing.T) {
	dir := os.Getenv("CARDSTOP_DEB_DIR")
	if dir == "" {
		t.Skip("make test builds the packages first (CARDSTOP_DEB_DIR)")
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM}
	for arch, machine := range machines {
		t.Run(arch, func(t *testing.T) {
			debs, _ := filepath.Glob(filepath.Join(dir, "cardstop_*_"+arch+".deb"))
			if len(debs) != 1 {
				t.Fatalf("want one cardstop .deb for %s in %s, found %v", arch, dir, debs)
			}
			info := runTool(t, "dpkg-deb", "--info", debs[0])
			for _, want := range []string{"Package: cardstop", "Architecture: " + arch, "Depends: pcscd, libpcsclite1, libc6 (>= ", "preinst", "postinst", "prerm", "postrm"} {
				if !strings.Contains(info, want) {
					t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
				}
			}
			contents := runTool(t, "dpkg-deb", "--contents", debs[0])
			for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/cardstop", "./usr/lib/systemd/system/cardstop.service", "./etc/cardstop/cardstop.toml",
				"./usr/share/doc/cardstop/copyright", "./usr/share/doc/cardstop/changelog.gz", "./usr/share/polkit-1/rules.d/50-cardstop-pcscd.rules"} {
				if !strings.Contains(contents, want) {
					t.Errorf("the package lacks %q:\n%s", want, contents)
				}
			}
			root := t.TempDir()
			runTool(t, "dpkg-deb", "--raw-extract", debs[0], root)
			if conf, _ := os.ReadFile(filepath.Join(root, "DEBIAN", "conffiles")); strings.TrimSpace(string(conf)) != "/etc/cardstop/cardstop.toml" {
				t.Errorf("conffiles: %q", conf)
			}
			bin := filepath.Join(root, "usr", "bin", "cardstop")
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != machine {
				t.Errorf("the binary is for %v, want %v", f.Machine, machine)
			}
			if f.Type != elf.ET_DYN {
				t.Errorf("the binary is %v, want ET_DYN (built with -buildmode=pie)", f.Type)
			}
			checkLibcDepends(t, f, info)
			f.Close()
			checkCopyright(t, bin, filepath.Join(root, "usr", "share", "doc", "cardstop", "copyright"))
			checkChangelog(t, info, filepath.Join(root, "usr", "share", "doc", "cardstop", "changelog.gz"))
			rule, err := os.ReadFile(filepath.Join(root, "usr", "share", "polkit-1", "rules.d", "50-cardstop-pcscd.rules"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`"org.debian.pcsc-lite.access_pcsc"`, `"org.debian.pcsc-lite.access_card"`, `subject.user == "cardstop"`, "polkit.Result.YES"} {
				if !strings.Contains(string(rule), want) {
					t.Errorf("the polkit rule lacks %s", want)
				}
			}
			checkMaintainerScripts(t, filepath.Join(root, "DEBIAN"))
			// The configuration the package installs is one cardstop reads.
			if _, err := readConfig(filepath.Join(root, "etc", "cardstop", "cardstop.toml")); err != nil {
				t.Errorf("the packaged configuration: %v", err)
			}
			unit, err := os.ReadFile(filepath.Join(root, "usr", "lib", "systemd", "system", "cardstop.service"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"User=cardstop", "SupplementaryGroups=gpio", "StateDirectory=cardstop", "ProtectSystem=strict", "Restart=on-failure"} {
				if !strings.Contains(string(unit), want) {
					t.Errorf("the unit lacks %s", want)
				}
			}
			// systemd-analyze checks that ExecStart exists on this machine:
			// point it at a binary that does, for the check only.
			check := filepath.Join(t.TempDir(), "cardstop.service")
			os.WriteFile(check, []byte(strings.ReplaceAll(string(unit), "/usr/bin/cardstop", "/bin/true")), 0o644)
			if out, err := exec.Command("systemd-analyze", "verify", check).CombinedOutput(); err != nil {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// checkLibcDepends holds the package's libc6 dependency to the newest
// GLIBC_ symbol version the binary imports: an older one would let it
// install where it cannot start.
func checkLibcDepends(t *testing.T, f *elf.File, info string) {
	t.Helper()
	syms, err := f.ImportedSymbols()
	if err != nil {
		t.Fatal(err)
	}
	need := ""
	for _, s := range syms {
		if v, ok := strings.CutPrefix(s.Version, "GLIBC_"); ok && versionLess(need, v) {
			need = v
		}
	}
	if need == "" {
		t.Fatal("the binary imports no GLIBC_ symbols: not the cgo build?")
	}
	m := regexp.MustCompile(`libc6 \(>= ([0-9.]+)\)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("no versioned libc6 dependency:\n%s", info)
	}
	if m[1] != need {
		t.Errorf("Depends has libc6 (>= %s); the binary needs GLIBC_%s", m[1], need)
	}
}

// versionLess compares dotted numeric versions; "" is less than any.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	if a == "" {
		return b != ""
	}
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// checkCopyright wants a machine-readable copyright file that calls
// Cardstop proprietary and has a paragraph for every Go module the binary
// was built with, whose licenses its distribution must carry.
func checkCopyright(t *testing.T, bin, file string) {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n", "Files: *\n", "License: Proprietary\n", "Files: GOROOT/src/*\n"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("copyright lacks %q", want)
		}
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range bi.Deps {
		if !bytes.Contains(text, []byte("Files: vendor/"+dep.Path+"/*\n")) {
			t.Errorf("copyright has no paragraph for %s, which the binary links: add its license to buildroot/deb/copyright", dep.Path)
		}
	}
}

// checkChangelog wants the native package's changelog.gz with an entry for
// the package's own version.
func checkChangelog(t *testing.T, info, file string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^ Version: (\S+)$`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("no Version field:\n%s", info)
	}
	gz, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	r, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cardstop (" + m[1] + ") "; !bytes.HasPrefix(text, []byte(want)) {
		t.Errorf("the changelog starts %q, want %q", text[:min(len(text), 60)], want)
	}
	if !regexp.MustCompile(`(?m)^ -- .+ <.+@.+>  \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$`).Match(text) {
		t.Errorf("the changelog has no trailer line:\n%s", text)
	}
}

// checkMaintainerScripts wants the unit enabled, started and purged through
// deb-systemd-helper and deb-systemd-invoke, as debhelper does; systemctl
// itself only for daemon-reload.
func checkMaintainerScripts(t *testing.T, dir string) {
	t.Helper()
	want := map[string][]string{
		"preinst":  {"useradd --system", "gpio"},
		"postinst": {"deb-systemd-helper enable", "deb-systemd-helper --quiet was-enabled", "deb-systemd-invoke"},
		"prerm":    {"deb-systemd-invoke stop"},
		"postrm":   {"deb-systemd-helper purge", "/var/lib/cardstop"},
	}
	for name, wants := range want {
		text, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(string(text), w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
		for i, line := range strings.Split(string(text), "\n") {
			if regexp.MustCompile(`^\s*systemctl\b`).MatchString(line) && !strings.Contains(line, "daemon-reload") {
				t.Errorf("%s:%d calls systemctl: %s", name, i+1, line)
			}
		}
	}
}

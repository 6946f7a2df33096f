package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebPackages inspects the .deb files `make deb` built (make test
// builds them and names their folder in CARDSTOP_DEB_DIR): the fields, the
// files with their modes, the conffile, the binary's architecture, and
// systemd-analyze verify on the unit.
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
			for _, want := range []string{"Package: cardstop", "Architecture: " + arch, "Depends: pcscd, libpcsclite1", "preinst", "postinst", "prerm"} {
				if !strings.Contains(info, want) {
					t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
				}
			}
			contents := runTool(t, "dpkg-deb", "--contents", debs[0])
			for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/cardstop", "./usr/lib/systemd/system/cardstop.service", "./etc/cardstop/cardstop.toml"} {
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
			f.Close()
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

// Package gpiosim holds no code, only a test: the panel on GPIO lines
// through a real Linux kernel. It boots a small kernel with the gpio-sim
// driver under qemu (TCG), with pcscd, the vpcd reader and the cardstop
// binary in its initramfs, and watches the LED lines and presses the
// button as the kernel sees them. `make test-gpiosim` builds the kernel
// (cached) and runs it.
package gpiosim

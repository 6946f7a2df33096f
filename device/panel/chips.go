package panel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// chipGlob finds the GPIO character devices, as periph's gpioioctl does
// (tests point it elsewhere).
var chipGlob = "/dev/gpiochip*"

// checkChips opens every GPIO chip the pattern matches, as periph will,
// to find out what periph does not say. There being none is ErrNoGPIO;
// none that can be opened is a plain error naming the first device and
// why. When only some cannot be opened, unopened says which (a line not
// found may be on it) and err is nil.
func checkChips(pattern string) (unopened, err error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("GPIO chips %s: %w", pattern, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no GPIO chip (%s) on this machine", ErrNoGPIO, pattern)
	}
	failed := 0
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			failed++
			if unopened == nil {
				// os.Open's error names the device: "open /dev/gpiochip0:
				// permission denied".
				unopened = fmt.Errorf("GPIO chip cannot be opened (is the service's user in the group of %s?): %w", path, err)
			}
			continue
		}
		f.Close()
	}
	if failed == len(paths) {
		return nil, unopened
	}
	return unopened, nil
}

// isBusy tells whether err is the kernel's EBUSY for a line request: another
// process holds the line. periph's gpioioctl (v3.8.5) returns an ioctl's
// errno as errors.New(errno.Error()), so errors.Is cannot find
// syscall.EBUSY in it and only the errno's text is left to match; both are
// tried, for drivers that keep the errno.
func isBusy(err error) bool {
	return errors.Is(err, syscall.EBUSY) || strings.Contains(err.Error(), syscall.EBUSY.Error())
}

//go:build !unix

package httpapi

import "time"

func processCPU() (time.Duration, bool) { return 0, false }

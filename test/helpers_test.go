package test

import "github.com/aiprod/aiprod/pkg/sim"

func simFaults(down bool) sim.Faults { return sim.Faults{Down: down} }

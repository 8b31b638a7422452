package netguard

// Control is the default dialer's Control hook, for tests.
var Control = control

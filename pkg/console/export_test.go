package console

// NewFS is newHandler for the tests: a handler over other files.
var NewFS = newHandler

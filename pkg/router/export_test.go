package router

// ExploreDraw is exploreDraw, for the tests of package router_test.
var ExploreDraw = exploreDraw

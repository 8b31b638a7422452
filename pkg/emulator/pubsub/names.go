package pubsubemu

import (
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// resourceID is Pub/Sub's rule for topic and subscription ids: 3 to 255
// characters, starting with a letter, of letters, digits and -_.~+%, and
// not starting with "goog".
var resourceID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$`)

// checkName returns the project of a full resource name
// "projects/<project>/<kind>/<id>" (kind "topics" or "subscriptions"), or
// InvalidArgument.
func checkName(name, kind string) (project string, err error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != kind ||
		!resourceID.MatchString(parts[3]) || strings.HasPrefix(parts[3], "goog") {
		return "", status.Errorf(codes.InvalidArgument, "invalid %s name %q: want projects/<project>/%s/<id>", kind, name, kind)
	}
	return parts[1], nil
}

// checkProject checks a "projects/<project>" parent and returns it with a
// trailing slash, the prefix of its resources' names.
func checkProject(parent string) (string, error) {
	p, ok := strings.CutPrefix(parent, "projects/")
	if !ok || p == "" || strings.Contains(p, "/") {
		return "", status.Errorf(codes.InvalidArgument, "invalid project %q: want projects/<project>", parent)
	}
	return parent + "/", nil
}

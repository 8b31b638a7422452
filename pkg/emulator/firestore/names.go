package firestoreemu

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Resource names, as the service spells them:
//
//	database:   projects/{project}/databases/{database}
//	root:       projects/{project}/databases/{database}/documents
//	document:   {root}/{collection}/{id}[/{collection}/{id}...]
//	collection: {root or document}/{collection}
//
// Documents are stored under their full name, so projects and databases
// never mix.

const maxDocumentNameBytes = 6 * 1024

// parseDatabaseName checks that name is a database name and returns it.
func parseDatabaseName(name string) (string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "databases" || parts[1] == "" || parts[3] == "" {
		return "", invalidArgf("invalid database name %q: want projects/{project}/databases/{database}", name)
	}
	return name, nil
}

// splitRoot splits name into its database and the path after
// "{database}/documents" (without the leading slash; empty for the root).
func splitRoot(name string) (db, rest string, err error) {
	parts := strings.SplitN(name, "/", 6)
	if len(parts) < 5 || parts[0] != "projects" || parts[2] != "databases" || parts[4] != "documents" || parts[1] == "" || parts[3] == "" {
		return "", "", invalidArgf("invalid resource name %q: want projects/{project}/databases/{database}/documents/...", name)
	}
	db = strings.Join(parts[:4], "/")
	if len(parts) == 6 {
		rest = parts[5]
		if rest == "" {
			return "", "", invalidArgf("invalid resource name %q: trailing slash", name)
		}
	}
	return db, rest, nil
}

// parseDocumentName checks that name is a document name and returns its
// database.
func parseDocumentName(name string) (string, error) {
	db, rest, err := splitRoot(name)
	if err != nil {
		return "", err
	}
	if rest == "" {
		return "", invalidArgf("invalid document name %q: no document path", name)
	}
	segs := strings.Split(rest, "/")
	if len(segs)%2 != 0 {
		return "", invalidArgf("invalid document name %q: it names a collection, not a document", name)
	}
	if err := checkSegments(name, segs); err != nil {
		return "", err
	}
	if len(name) > maxDocumentNameBytes {
		return "", invalidArgf("document name %q is too long", name)
	}
	return db, nil
}

// parseParent checks that parent is the root of a database or a document
// name, as RunQuery, ListDocuments and ListCollectionIds expect, and returns
// the database.
func parseParent(parent string) (string, error) {
	db, rest, err := splitRoot(parent)
	if err != nil {
		return "", err
	}
	if rest == "" {
		return db, nil
	}
	segs := strings.Split(rest, "/")
	if len(segs)%2 != 0 {
		return "", invalidArgf("invalid parent %q: it names a collection, not a document", parent)
	}
	return db, checkSegments(parent, segs)
}

func checkSegments(name string, segs []string) error {
	for _, s := range segs {
		switch {
		case s == "":
			return invalidArgf("invalid resource name %q: empty segment", name)
		case s == "." || s == "..":
			return invalidArgf("invalid resource name %q: segment %q is not allowed", name, s)
		case len(s) > 4 && strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__"):
			return invalidArgf("invalid resource name %q: segment %q is reserved", name, s)
		case !utf8.ValidString(s):
			return invalidArgf("invalid resource name %q: not valid UTF-8", name)
		}
	}
	return nil
}

// docParentAndCollection returns the parent (root or document) of a document
// name and the ID of the collection holding it.
func docParentAndCollection(name string) (parent, collectionID string) {
	i := strings.LastIndexByte(name, '/')
	coll := name[:i]
	j := strings.LastIndexByte(coll, '/')
	return coll[:j], coll[j+1:]
}

// sortedUnique returns names sorted, without duplicates.
func sortedUnique(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

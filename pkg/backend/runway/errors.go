package runway

import (
	"strings"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// failureClass classifies a FAILED task by its failureCode, a dotted code
// whose leftmost segment is the most generic (docs: "Task failures").
//
//   - any SAFETY segment (SAFETY.INPUT.TEXT, SAFETY.OUTPUT.VIDEO,
//     INPUT_PREPROCESSING.SAFETY.TEXT): ContentSafety, never retried;
//   - ASSET.* and INPUT.*: Permanent, the inputs will never work;
//   - INTERNAL.* (INTERNAL.BAD_OUTPUT.*), INPUT_PREPROCESSING.INTERNAL and
//     anything unknown: Retryable.
func failureClass(code string) error {
	segs := strings.Split(strings.ToUpper(code), ".")
	for _, s := range segs {
		if s == "SAFETY" {
			return errclass.ContentSafety
		}
	}
	switch segs[0] {
	case "ASSET", "INPUT":
		return errclass.Permanent
	}
	return errclass.Retryable
}

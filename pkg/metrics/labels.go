package metrics

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// labelSetsMax bounds the label combinations a Recorder remembers; past it
// a new combination is built at each measurement, as it would be without
// the cache. Labels are low-cardinality by design (DESIGN.md "Metrics"),
// so a service stays far below it.
const labelSetsMax = 4096

// labelKey identifies one combination of label values of one instrument
// call site: which labels (names, fixed per site) and their values; n is an
// integer value (an HTTP status code).
type labelKey struct {
	names *[]string
	n     int
	v     [5]string
}

// labelSets remembers the options (an attribute set, sorted and
// deduplicated once) of every label combination recorded, so that a
// measurement costs a map lookup instead of building, sorting and hashing
// its attributes, and no allocation. Safe for concurrent use.
type labelSets struct {
	mu sync.RWMutex
	m  map[labelKey]*labelSet
}

// labelSet is one label combination as the options of a measurement, as
// slices made once: passing them on allocates nothing. The instruments
// never change them.
type labelSet struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// get returns the options of names[i] = values[i] (and, with intName,
// intName = n).
func (c *labelSets) get(names *[]string, intName string, n int, values ...string) *labelSet {
	k := labelKey{names: names, n: n}
	copy(k.v[:], values)
	c.mu.RLock()
	o, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return o
	}
	kv := make([]attribute.KeyValue, 0, len(values)+1)
	for i, v := range values {
		kv = append(kv, attribute.String((*names)[i], v))
	}
	if intName != "" {
		kv = append(kv, attribute.Int(intName, n))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(kv...))
	o = &labelSet{add: []metric.AddOption{opt}, rec: []metric.RecordOption{opt}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[labelKey]*labelSet{}
	}
	if len(c.m) < labelSetsMax {
		c.m[k] = o
	}
	return o
}

// The label names of each kind of measurement, in the order their values
// are passed to labelSets.get; their addresses tell the kinds apart.
var (
	labelsProjectTier     = []string{LabelProject, LabelTier}
	labelsCompleted       = []string{LabelProject, LabelBackend, LabelTier, LabelStatus, LabelErrorCode}
	labelsDuration        = []string{LabelBackend, LabelTier, LabelStatus}
	labelsProjectBackend  = []string{LabelProject, LabelBackend}
	labelsProject         = []string{LabelProject}
	labelsBackendSignal   = []string{LabelBackend, LabelSignal}
	labelsBackendRequest  = []string{LabelBackend, LabelOperation, LabelOutcome}
	labelsBackendDuration = []string{LabelBackend, LabelOperation}
	labelsGeneration      = []string{LabelBackend, LabelModel}
	labelsBackend         = []string{LabelBackend}
	labelsQueue           = []string{LabelSubscription, LabelOutcome}
	labelsOutcome         = []string{LabelOutcome}
	labelsHTTP            = []string{LabelRoute}
)

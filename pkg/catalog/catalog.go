// Package catalog describes the video backends AIPROD can route to: each
// backend's provider protocol, endpoint, credential variable, concurrency
// cap, and its offers (models) with capabilities and dated price tables.
//
// The catalog is a versioned JSON file. The default one, embedded from
// default.json, carries the providers' published prices with the source and
// date of each; AIPROD_CATALOG names another file. Estimates are pure
// functions of the catalog and a request, in integer micro-USD.
//
// # Durations
//
// Providers generate only some durations (Veo 4/6/8 s, Luma 5/9 s, Runway
// 5/10 s). A request is served by the shortest supported duration that is at
// least the requested one, and that duration is what is billed and estimated.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
)

//go:embed default.json
var defaultJSON []byte

// Providers are the protocols AIPROD has adapters for.
var Providers = []string{"veo", "runway", "luma", "replicate", "fal"}

// Catalog is the whole backend configuration.
type Catalog struct {
	Version  string    `json:"version"`
	Backends []Backend `json:"backends"`
}

// Backend is one routable backend: a provider account reached at an endpoint.
type Backend struct {
	Name     string `json:"name"`     // routing name; topic aiprod-dispatch-<name>
	Provider string `json:"provider"` // protocol: one of Providers
	Endpoint string `json:"endpoint"` // API base URL
	// CredentialEnv names the environment variable holding the API key
	// (empty for Veo, which uses Application Default Credentials).
	CredentialEnv string `json:"credential_env,omitempty"`
	// Concurrency caps the generations running at once on this backend
	// (providers cap running jobs per account); 0 means no cap.
	Concurrency int     `json:"concurrency,omitempty"`
	Offers      []Offer `json:"offers"`
	// Commitment is a committed-use price the provider sells for this
	// account, if any (see Commitment); nil: none.
	Commitment *Commitment `json:"commitment,omitempty"`
}

// Commitment is a committed-use price: the account pays MonthlyUSD every
// month and its usage, billed at DiscountPercent off the list prices, is
// drawn from it; usage beyond it is billed at the discounted prices too,
// and what is not used is lost. Routing estimates and budgets keep the
// list prices (what a job costs without the commitment); the savings
// recommendations use it to say whether taking it would pay off at the
// forecast spend. The default catalog has none: no provider's reference
// in PROVIDERS.md publishes one.
//
//	"commitment": {"monthly_usd": 500, "discount_percent": 20,
//	               "source": "Runway enterprise quote", "as_of": "2026-11-01"}
type Commitment struct {
	MonthlyUSD      money.Micros `json:"monthly_usd"`
	DiscountPercent int          `json:"discount_percent"`
	Source          string       `json:"source"`
	AsOf            string       `json:"as_of"`
}

// Cost returns what a month of usage priced list at list prices costs
// under the commitment: the discounted usage, and never less than the
// commitment. It is less than list as soon as list passes MonthlyUSD:
// the break-even is the commitment itself.
func (c Commitment) Cost(list money.Micros) money.Micros {
	return max(c.MonthlyUSD, list-list.PercentOf(c.DiscountPercent))
}

// Formats is what a model can make: resolutions, aspect ratios, durations,
// inputs and audio. Its fields are promoted into the JSON of the types that
// embed it.
type Formats struct {
	Resolutions  []job.Resolution  `json:"resolutions"`
	AspectRatios []job.AspectRatio `json:"aspect_ratios"`
	Durations    []int             `json:"durations"` // supported durations in seconds, ascending
	TextToVideo  bool              `json:"text_to_video"`
	ImageToVideo bool              `json:"image_to_video"`
	Audio        bool              `json:"audio"` // can generate audio
}

// Offer is one model of a backend, its capabilities and its prices.
type Offer struct {
	Model string   `json:"model"`
	Tier  job.Tier `json:"tier"`
	Formats
	// ImageURLSchemes lists the image_url schemes the provider takes
	// ("https", "http", "gs", "data"); empty means any.
	ImageURLSchemes []string          `json:"image_url_schemes,omitempty"`
	Prices          []Price           `json:"prices"`
	Extra           map[string]string `json:"extra,omitempty"` // provider-specific settings
}

// Price is one row of an offer's price table: it applies to requests whose
// resolution and audio match (empty Resolution and nil Audio match any).
type Price struct {
	Resolution job.Resolution `json:"resolution,omitempty"`
	Audio      *bool          `json:"audio,omitempty"`
	PerSecond  money.Micros   `json:"per_second_usd"`
	Fixed      money.Micros   `json:"fixed_usd,omitempty"`
	Source     string         `json:"source"`
	AsOf       string         `json:"as_of"`
}

// Cost is the price of a generation of seconds.
func (p Price) Cost(seconds int) money.Micros { return p.Fixed + p.PerSecond.Times(seconds) }

func (p Price) matches(req *job.Request) bool {
	return (p.Resolution == "" || p.Resolution == req.Resolution) && (p.Audio == nil || *p.Audio == req.Audio)
}

// Quote is what serving a request on one offer costs.
type Quote struct {
	Backend  string
	Provider string
	Model    string
	Tier     job.Tier
	Seconds  int          // billed duration
	Estimate money.Micros // price × Seconds + fixed
	// Price is the catalog's price row (not a copy: a quote stays small,
	// and routing makes one per candidate); read-only.
	Price *Price
}

// BilledSeconds returns the shortest supported duration ≥ requested, or 0.
func (o *Offer) BilledSeconds(requested int) int {
	for _, d := range o.Durations {
		if d >= requested {
			return d
		}
	}
	return 0
}

// Check returns "" when the offer can serve req, else why not.
func (o *Offer) Check(req *job.Request) string {
	return o.refusal(o.misfit(req), req)
}

// A misfit names the first capability of an offer that a request lacks;
// fits when none. Routing checks every offer of every backend per decision,
// so the check is kept apart from the text of its reason (refusal), which
// is built only for a backend that no offer serves.
type misfit uint8

const (
	fits misfit = iota
	misfitTier
	misfitResolution
	misfitAspectRatio
	misfitDuration
	misfitImageToVideo
	misfitTextToVideo
	misfitAudio
	misfitImageScheme
)

// misfit returns the first capability of o that req lacks, or fits.
func (o *Offer) misfit(req *job.Request) misfit {
	switch {
	case req.QualityTier.Rank() > o.Tier.Rank():
		return misfitTier
	case !slices.Contains(o.Resolutions, req.Resolution):
		return misfitResolution
	case !slices.Contains(o.AspectRatios, req.AspectRatio):
		return misfitAspectRatio
	case o.BilledSeconds(req.DurationSeconds) == 0:
		return misfitDuration
	case req.ImageToVideo() && !o.ImageToVideo:
		return misfitImageToVideo
	case !req.ImageToVideo() && !o.TextToVideo:
		return misfitTextToVideo
	case req.Audio && !o.Audio:
		return misfitAudio
	case req.ImageToVideo() && len(o.ImageURLSchemes) > 0 && !slices.Contains(o.ImageURLSchemes, urlScheme(req.ImageURL)):
		return misfitImageScheme
	}
	return fits
}

// refusal is the reason text of misfit m of o for req ("" when it fits).
func (o *Offer) refusal(m misfit, req *job.Request) string {
	switch m {
	case misfitTier:
		return fmt.Sprintf("tier %s below %s", o.Tier, req.QualityTier)
	case misfitResolution:
		return fmt.Sprintf("no %s", req.Resolution)
	case misfitAspectRatio:
		return fmt.Sprintf("no %s aspect ratio", req.AspectRatio)
	case misfitDuration:
		return fmt.Sprintf("no %d s duration (max %d s)", req.DurationSeconds, slices.Max(o.Durations))
	case misfitImageToVideo:
		return "no image-to-video"
	case misfitTextToVideo:
		return "image-to-video only"
	case misfitAudio:
		return "no audio"
	case misfitImageScheme:
		return fmt.Sprintf("image_url must be %s", strings.Join(o.ImageURLSchemes, ", "))
	}
	return ""
}

func urlScheme(u string) string {
	s, _, ok := strings.Cut(u, ":")
	if !ok {
		return ""
	}
	return strings.ToLower(s)
}

// Quote prices req on this offer; the string says why not when it cannot.
func (o *Offer) Quote(b *Backend, req *job.Request) (Quote, string) {
	if m := o.misfit(req); m != fits {
		return Quote{}, o.refusal(m, req)
	}
	if q, ok := o.quote(b, req); ok {
		return q, ""
	}
	return Quote{}, noPrice(req)
}

// quote prices req on o, which fits it; false when no price matches.
func (o *Offer) quote(b *Backend, req *job.Request) (Quote, bool) {
	i := o.price(req)
	if i < 0 {
		return Quote{}, false
	}
	return o.quoteAt(b, i, req), true
}

// price is the index of the price row of o that applies to req, or -1.
func (o *Offer) price(req *job.Request) int {
	for i := range o.Prices {
		if o.Prices[i].matches(req) {
			return i
		}
	}
	return -1
}

// quoteAt is the quote of req on o at price row i.
func (o *Offer) quoteAt(b *Backend, i int, req *job.Request) Quote {
	p := &o.Prices[i]
	secs := o.BilledSeconds(req.DurationSeconds)
	return Quote{Backend: b.Name, Provider: b.Provider, Model: o.Model, Tier: o.Tier, Seconds: secs, Estimate: p.Cost(secs), Price: p}
}

func noPrice(req *job.Request) string {
	return fmt.Sprintf("no price for %s audio=%t", req.Resolution, req.Audio)
}

// Quote returns the cheapest offer of b that serves req, or, when none does,
// a message saying why each offer cannot.
func (b *Backend) Quote(req *job.Request) (Quote, string) {
	if q, ok := b.Cheapest(req); ok {
		return q, ""
	}
	return Quote{}, b.Refusal(req)
}

// Cheapest returns the cheapest offer of b that serves req, and false when
// none does (Refusal then says why). It builds no text and does not
// allocate: routing calls it for every backend of every decision.
func (b *Backend) Cheapest(req *job.Request) (Quote, bool) {
	best, row := -1, -1
	var cost money.Micros
	for i := range b.Offers {
		o := &b.Offers[i]
		if o.misfit(req) != fits {
			continue
		}
		j := o.price(req)
		if j < 0 {
			continue
		}
		if c := o.Prices[j].Cost(o.BilledSeconds(req.DurationSeconds)); best < 0 || c < cost {
			best, row, cost = i, j, c
		}
	}
	if best < 0 {
		return Quote{}, false
	}
	return b.Offers[best].quoteAt(b, row, req), true
}

// Refusal says why each offer of b cannot serve req, "model: reason" joined
// by "; " in catalog order; "" when one can.
func (b *Backend) Refusal(req *job.Request) string {
	whys := make([]string, 0, len(b.Offers))
	for i := range b.Offers {
		_, why := b.Offers[i].Quote(b, req)
		if why == "" {
			return ""
		}
		whys = append(whys, b.Offers[i].Model+": "+why)
	}
	return strings.Join(whys, "; ")
}

// Offer returns the offer of a model, or nil.
func (b *Backend) Offer(model string) *Offer {
	for i := range b.Offers {
		if b.Offers[i].Model == model {
			return &b.Offers[i]
		}
	}
	return nil
}

// Backend returns the named backend, or nil.
func (c *Catalog) Backend(name string) *Backend {
	for i := range c.Backends {
		if c.Backends[i].Name == name {
			return &c.Backends[i]
		}
	}
	return nil
}

// Names returns the backend names in catalog order.
func (c *Catalog) Names() []string {
	out := make([]string, len(c.Backends))
	for i, b := range c.Backends {
		out[i] = b.Name
	}
	return out
}

// Clone returns a deep-enough copy whose backends can be edited (endpoints
// rewritten for the dev stack) without touching c.
func (c *Catalog) Clone() *Catalog {
	out := &Catalog{Version: c.Version, Backends: slices.Clone(c.Backends)}
	for i := range out.Backends {
		out.Backends[i].Offers = slices.Clone(out.Backends[i].Offers)
	}
	return out
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// Bounds of an offer, so that no estimate overflows: at most
// MaxPrice × MaxOfferSeconds + MaxPrice micro-USD, far below 2^63.
const (
	// MaxOfferSeconds is the longest duration an offer may list.
	MaxOfferSeconds = 3600
	// MaxPrice bounds per_second_usd and fixed_usd.
	MaxPrice = 1_000_000 * money.Dollar
)

// MaxConcurrency bounds a backend's concurrency: its slots are one store
// document (store.SlotTable), which must stay well under Firestore's
// 1 MiB. It is store.MaxSlots (TestMaxConcurrencyFitsTheSlotTable in
// pkg/store holds them together).
const MaxConcurrency = 1000

// Validate checks the catalog; messages name the backend, offer and field.
func (c *Catalog) Validate() error {
	if c.Version == "" {
		return fmt.Errorf("catalog: version is required")
	}
	if len(c.Backends) == 0 {
		return fmt.Errorf("catalog: backends is empty")
	}
	seen := map[string]bool{}
	for _, b := range c.Backends {
		if !nameRE.MatchString(b.Name) {
			return fmt.Errorf("catalog: backend name %q must match %s", b.Name, nameRE)
		}
		if seen[b.Name] {
			return fmt.Errorf("catalog: backend %q listed twice", b.Name)
		}
		seen[b.Name] = true
		if !slices.Contains(Providers, b.Provider) {
			return fmt.Errorf("catalog: backend %s: provider %q must be one of %v", b.Name, b.Provider, Providers)
		}
		if b.Endpoint == "" {
			return fmt.Errorf("catalog: backend %s: endpoint is required", b.Name)
		}
		if b.Concurrency < 0 || b.Concurrency > MaxConcurrency {
			return fmt.Errorf("catalog: backend %s: concurrency must be from 0 (no cap) to %d, got %d", b.Name, MaxConcurrency, b.Concurrency)
		}
		if len(b.Offers) == 0 {
			return fmt.Errorf("catalog: backend %s: offers is empty", b.Name)
		}
		if err := b.Commitment.validate(); err != nil {
			return fmt.Errorf("catalog: backend %s: %w", b.Name, err)
		}
		for _, o := range b.Offers {
			where := fmt.Sprintf("catalog: backend %s offer %s", b.Name, o.Model)
			switch {
			case o.Model == "":
				return fmt.Errorf("catalog: backend %s: an offer has no model", b.Name)
			case o.Tier.Rank() == 0:
				return fmt.Errorf("%s: tier %q must be draft, standard or premium", where, o.Tier)
			case len(o.Resolutions) == 0 || len(o.AspectRatios) == 0 || len(o.Durations) == 0:
				return fmt.Errorf("%s: resolutions, aspect_ratios and durations are required", where)
			case !slices.IsSorted(o.Durations):
				return fmt.Errorf("%s: durations must be ascending", where)
			case o.Durations[0] < 1 || o.Durations[len(o.Durations)-1] > MaxOfferSeconds:
				return fmt.Errorf("%s: durations must be from 1 to %d seconds", where, MaxOfferSeconds)
			case !o.TextToVideo && !o.ImageToVideo:
				return fmt.Errorf("%s: offers neither text_to_video nor image_to_video", where)
			}
			for _, p := range o.Prices {
				if p.Source == "" || p.AsOf == "" {
					return fmt.Errorf("%s: every price needs source and as_of", where)
				}
				if p.PerSecond < 0 || p.Fixed < 0 || p.PerSecond+p.Fixed == 0 || p.PerSecond > MaxPrice || p.Fixed > MaxPrice {
					return fmt.Errorf("%s: price per_second_usd and fixed_usd must be from 0 to %s, and not both 0", where, MaxPrice.USD())
				}
			}
			// Every capability combination must have a price.
			for _, r := range o.Resolutions {
				for _, audio := range []bool{false, true} {
					if audio && !o.Audio {
						continue
					}
					req := job.Request{Resolution: r, Audio: audio}
					if !slices.ContainsFunc(o.Prices, func(p Price) bool { return p.matches(&req) }) {
						return fmt.Errorf("%s: no price for %s audio=%t", where, r, audio)
					}
				}
			}
		}
	}
	return nil
}

// validate checks a commitment (nil: none, valid).
func (c *Commitment) validate() error {
	switch {
	case c == nil:
		return nil
	case c.MonthlyUSD <= 0 || c.MonthlyUSD > MaxPrice:
		return fmt.Errorf("commitment: monthly_usd must be above 0 and at most %s", MaxPrice.USD())
	case c.DiscountPercent < 1 || c.DiscountPercent > 99:
		return fmt.Errorf("commitment: discount_percent must be from 1 to 99, got %d", c.DiscountPercent)
	case c.Source == "" || c.AsOf == "":
		return errors.New("commitment: source and as_of are required")
	}
	return nil
}

// Parse reads a catalog from JSON strictly (unknown fields and trailing
// data are errors) and validates it.
func Parse(b []byte) (*Catalog, error) {
	var c Catalog
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		if strings.HasPrefix(err.Error(), "money:") {
			// From Micros.UnmarshalJSON, which knows no field name; only
			// prices and commitments hold amounts.
			return nil, fmt.Errorf("catalog: prices' per_second_usd and fixed_usd, and commitment's monthly_usd, must be USD amounts: %w", err)
		}
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("catalog: trailing data after the catalog object")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads the catalog file at path, or the embedded default when path is "".
func Load(path string) (*Catalog, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return Parse(b)
}

// Default returns a fresh copy of the embedded default catalog.
func Default() *Catalog {
	c, err := Parse(defaultJSON)
	if err != nil {
		panic("embedded default catalog is invalid: " + err.Error())
	}
	return c
}

// Package recommend finds savings in a project's recent usage, each with
// the money it would save in a month (GET /v1/recommendations, `aiprod
// forecast`). It is pure: the usage by backend and job shape
// (store.ShapeCell, from the daily roll-ups), the catalog's prices and the
// month's projected spend in, recommendations out.
//
// # Kinds
//
//   - "tier": jobs that asked for premium (or standard) video, priced
//     against the cheapest offer one tier down that serves the same shape
//     (resolution, aspect ratio, duration, audio, image input). The saving
//     is the difference between the cheapest price at the tier asked and
//     at the tier below, per video made: whether the lower tier is good
//     enough is the user's call, so the message says what share of the
//     spend it concerns.
//   - "backend_mix": spend on a backend where another backend of the
//     catalog serves the same shape at the same tier for less. The saving
//     is what was spent there minus the cheaper price per video made.
//     Routing already prefers the cheapest healthy backend, so such spend
//     comes from failovers, open circuits, full concurrency, or requests'
//     backends allow-lists: the message names the cheaper backend.
//   - "commitment": a backend whose catalog entry has a committed-use
//     price (catalog.Commitment), priced at the spend the forecast expects
//     on it this month (the projection times the backend's share of the
//     recent spend). It is recommended when it would cost less than list
//     prices; when it would not but the spend is at least half the
//     commitment, a recommendation with no saving says how far it is.
//
// Tier and backend-mix savings do not overlap: together they are the
// spend minus the cheapest lower-tier price of the same videos.
//
// # Money
//
// Everything is integer micro-USD. Savings over the window the usage
// covers are scaled to a month of 30 days in proportion to its length
// (a project two weeks old has its two weeks doubled); per-video prices
// come from the catalog's estimates (catalog.Backend.Cheapest); no float
// is used.
package recommend

//go:build ignore

// Generate writes the shipped traces of package routesim (go run
// generate.go, in this directory). Every trace shares one catalog of five
// backends whose prices differ (as providers' do: $0.05 to $0.14 a second)
// and whose concurrency caps differ (2 to 20), and a steady mix of jobs:
// 5 or 10 s, 720p or 1080p, some image-to-video, and 15% pinned to one
// pair of backends by an allow-list (customers who want given providers),
// one job every 6 s. The draws are fixed, so the files do not change.
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/aiprod/aiprod/pkg/routesim"
)

type offer struct {
	Model        string   `json:"model"`
	Tier         string   `json:"tier"`
	Resolutions  []string `json:"resolutions"`
	AspectRatios []string `json:"aspect_ratios"`
	Durations    []int    `json:"durations"`
	TextToVideo  bool     `json:"text_to_video"`
	ImageToVideo bool     `json:"image_to_video"`
	Audio        bool     `json:"audio"`
	Prices       []price  `json:"prices"`
}

type price struct {
	PerSecond float64 `json:"per_second_usd"`
	Source    string  `json:"source"`
	AsOf      string  `json:"as_of"`
}

type backend struct {
	Name        string  `json:"name"`
	Provider    string  `json:"provider"`
	Endpoint    string  `json:"endpoint"`
	Concurrency int     `json:"concurrency"`
	Offers      []offer `json:"offers"`
}

type traceJob struct {
	AtS     float64        `json:"at_s"`
	Request map[string]any `json:"request"`
}

type trace struct {
	Catalog  map[string]any    `json:"catalog"`
	Behavior []routesim.Window `json:"behavior"`
	Jobs     []traceJob        `json:"jobs"`
}

var backends = []struct {
	name, provider string
	perSecond      float64
	concurrency    int
}{
	{"fal", "fal", 0.05, 10},
	{"replicate", "replicate", 0.07, 20},
	{"veo", "veo", 0.10, 10},
	{"runway", "runway", 0.12, 2},
	{"luma", "luma", 0.14, 10},
}

func catalog() map[string]any {
	var bs []backend
	for _, b := range backends {
		bs = append(bs, backend{Name: b.name, Provider: b.provider, Endpoint: "http://" + b.name + ".sim", Concurrency: b.concurrency,
			Offers: []offer{{Model: b.name + "-video", Tier: "standard", Resolutions: []string{"720p", "1080p"},
				AspectRatios: []string{"16:9", "9:16"}, Durations: []int{5, 10}, TextToVideo: true, ImageToVideo: true,
				Prices: []price{{PerSecond: b.perSecond, Source: "routesim trace", AsOf: "2026-01-01"}}}}})
	}
	return map[string]any{"version": "routesim", "backends": bs}
}

// steady returns n jobs of the steady mix, one every gap seconds from start.
func steady(rng *rand.Rand, start, gap float64, n int) []traceJob {
	var out []traceJob
	for i := range n {
		req := map[string]any{"prompt": fmt.Sprintf("steady job %d", i), "duration_seconds": 5}
		if rng.Float64() < 0.3 {
			req["duration_seconds"] = 10
		}
		if rng.Float64() < 0.2 {
			req["resolution"] = "1080p"
		}
		if rng.Float64() < 0.1 {
			req["image_url"] = "https://example.com/first-frame.png"
		}
		if rng.Float64() < 0.15 {
			i, j := rng.IntN(len(backends)), rng.IntN(len(backends)-1)
			if j >= i {
				j++
			}
			req["backends"] = []string{backends[i].name, backends[j].name}
		}
		out = append(out, traceJob{AtS: start + float64(i)*gap + rng.Float64()*gap/2, Request: req})
	}
	return out
}

// burst returns n jobs arriving within 10 s from start, each wanting its
// video within deadline seconds.
func burst(start float64, n, deadline int) []traceJob {
	var out []traceJob
	for i := range n {
		out = append(out, traceJob{AtS: start + 10*float64(i)/float64(n), Request: map[string]any{
			"prompt": fmt.Sprintf("burst job %d", i), "duration_seconds": 5, "deadline_seconds": deadline}})
	}
	return out
}

func write(name string, t trace) {
	t.Catalog = catalog()
	if t.Behavior == nil {
		t.Behavior = []routesim.Window{}
	}
	b, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		panic(err)
	}
}

func main() {
	// fal, the cheapest, is also the slowest: p50 40 s, p95 90 s.
	falSlow := routesim.Window{Backend: "fal", FromS: 0, ToS: 7200, P50S: 40, P95S: 90}

	write("steady.json", trace{Behavior: []routesim.Window{falSlow}, Jobs: steady(rand.New(rand.NewPCG(1, 1)), 0, 6, 600)})

	down := routesim.Window{Backend: "fal", FromS: 900, ToS: 1500, Down: true}
	write("outage.json", trace{Behavior: []routesim.Window{falSlow, down}, Jobs: steady(rand.New(rand.NewPCG(2, 2)), 0, 6, 600)})

	flaky := falSlow
	flaky.ErrorRate = 0.2
	write("flaky.json", trace{Behavior: []routesim.Window{flaky}, Jobs: steady(rand.New(rand.NewPCG(3, 3)), 0, 6, 600)})

	rng := rand.New(rand.NewPCG(4, 4))
	jobs := steady(rng, 0, 6, 300)
	jobs = append(jobs, burst(1800, 600, 900)...)
	jobs = append(jobs, steady(rng, 1810, 6, 300)...)
	write("burst.json", trace{Behavior: []routesim.Window{falSlow}, Jobs: jobs})
}

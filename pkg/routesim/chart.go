package routesim

import (
	"fmt"
	"html"
	"strings"
)

// SVG draws the report as two bar charts side by side, one bar per
// policy: cost per successful video, and p95 completion. title heads it.
func (r Report) SVG(title string) []byte {
	const (
		barW, gap, chartH, top, left = 36, 14, 220, 60, 60
		labelH                       = 90
	)
	n := len(r.Policies)
	chartW := n*(barW+gap) + gap
	width := 2*chartW + 3*left
	height := top + chartH + labelH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	panels := []struct {
		name  string
		value func(PolicyResult) float64
		unit  func(float64) string
	}{
		{"cost per successful video (USD)", func(p PolicyResult) float64 { return p.CostPerSuccessUSD }, func(v float64) string { return fmt.Sprintf("$%.3f", v) }},
		{"p95 completion (s)", func(p PolicyResult) float64 { return p.P95CompletionS }, func(v float64) string { return fmt.Sprintf("%.0f s", v) }},
	}
	for i, pn := range panels {
		x0 := left + i*(chartW+left)
		var maxV float64
		for _, p := range r.Policies {
			maxV = max(maxV, pn.value(p))
		}
		if maxV <= 0 {
			maxV = 1
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0, top-20, pn.name)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, top+chartH, x0+chartW, top+chartH)
		for k, p := range r.Policies {
			v := pn.value(p)
			h := int(float64(chartH) * v / maxV)
			x := x0 + gap + k*(barW+gap)
			fill := "#9aa5b1"
			if p.Name == "aiprod" {
				fill = "#2f6fde"
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %s</title></rect>`+"\n",
				x, top+chartH-h, barW, h, fill, html.EscapeString(p.Name), pn.unit(v))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="10">%s</text>`+"\n", x+barW/2, top+chartH-h-4, pn.unit(v))
			fmt.Fprintf(&b, `<text transform="translate(%d,%d) rotate(45)" font-size="11">%s</text>`+"\n",
				x+barW/2-4, top+chartH+12, html.EscapeString(p.Name))
		}
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// Package alert sends operator alerts — a budget threshold crossed, a
// month's spend projected past its budget, a backend's circuit opening or
// closing, every backend down, a failed job, a dead-lettered message — to the channels operators read: Slack incoming
// webhooks (Block Kit), email over SMTP (text and HTML from templates) and
// SMS through the Twilio Messages API.
//
// An Alert is channel-neutral: a kind, a one-line subject, a short text and
// labelled fields. Each Sender renders it for its channel and delivers it
// with one request; it does not retry. Errors are classified with
// pkg/errclass (a 5xx, 429 or a refused connection is Retryable, any other
// refusal Permanent) so the caller decides whether to try again, and they
// never carry a channel's secret: a Slack webhook URL is a credential (its
// path is the token), as are SMTP passwords and Twilio auth tokens, so
// errors name the channel and the answer, not the URL.
//
// The notifier decides who gets which alert (a project's notification
// settings, or the operations channel for system-wide events); this
// package only speaks the channels' protocols. pkg/sim/inbox serves
// Slack-, Twilio- and SMTP-shaped receivers for tests and the dev stack.
package alert

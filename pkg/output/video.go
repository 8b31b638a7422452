package output

import (
	"bytes"
	"cmp"
	"mime"
	"strings"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// sniffLen is how many bytes of a source videoType looks at.
const sniffLen = 16

// genericTypes are the content types that say nothing about the content:
// a source that sends one of them (or none, or one that does not parse) is
// judged by its first bytes.
var genericTypes = map[string]bool{
	"application/octet-stream": true,
	"binary/octet-stream":      true,
	"application/mp4":          true,
}

// videoType returns the content type to store for the source src (as
// errors may show it) that declared the content type declared. A video/*
// type is kept as declared. A generic or missing one is accepted only when
// the first bytes (head, called only then) are those of a video file: an
// ISO base media file (MP4, QuickTime: an "ftyp" box) or Matroska/WebM (the
// EBML magic), stored as video/mp4 (ContentTypeDefault), video/quicktime or
// video/webm. Anything else (text/html, application/json, image/png, ...) is
// not a video: Permanent. head's errors are returned as they are.
//
// Every provider AIPROD talks to serves video/mp4, and so do the
// simulators; generic types are judged by content because object stores
// serve objects uploaded without a type as application/octet-stream.
func videoType(src, declared string, head func() ([]byte, error)) (string, error) {
	mt, params, err := mime.ParseMediaType(declared)
	if err == nil && strings.HasPrefix(mt, "video/") {
		return cmp.Or(mime.FormatMediaType(mt, params), ContentTypeDefault), nil
	}
	if err == nil && !genericTypes[mt] {
		return "", errclass.New(errclass.Permanent, "source %s is %s, not a video", src, mt)
	}
	b, err := head()
	if err != nil {
		return "", err
	}
	if t := sniffVideo(b); t != "" {
		return t, nil
	}
	return "", errclass.New(errclass.Permanent, "source %s is %s and does not start like a video file (MP4, QuickTime, WebM)",
		src, cmp.Or(mt, "untyped"))
}

// ebml starts every Matroska and WebM file.
var ebml = []byte{0x1a, 0x45, 0xdf, 0xa3}

// sniffVideo returns the video type that b, the start of a file, shows,
// or "".
func sniffVideo(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp" && string(b[8:12]) == "qt  ":
		return "video/quicktime"
	case len(b) >= 8 && string(b[4:8]) == "ftyp":
		return ContentTypeDefault
	case bytes.HasPrefix(b, ebml):
		return "video/webm"
	}
	return ""
}

// checkGSVideo checks a gs:// source of size bytes and content type
// declared: not empty, and a video (videoType, head giving its first
// bytes). Errors are Permanent, or head's.
func checkGSVideo(src source, size int64, declared string, head func() ([]byte, error)) error {
	shown := "gs://" + src.bucket + "/" + src.object
	if size == 0 {
		return errclass.New(errclass.Permanent, "source %s is empty", shown)
	}
	_, err := videoType(shown, declared, head)
	return err
}

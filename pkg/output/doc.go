// Package output copies finished videos into AIPROD's output bucket.
//
// Provider video URLs expire within hours or days. When AIPROD_OUTPUT_BUCKET
// is set, the worker copies each finished video into that bucket with a
// Copier and records the URL Copy returns as the job's result instead of the
// provider's.
//
// Implementations:
//
//   - GCS: Cloud Storage, through cloud.google.com/go/storage;
//   - Memory: in memory, for tests of the worker; not for production.
//
// Both pass the conformance suite in output/outputtest.
//
// # Object naming
//
// The video of attempt n of job j is the object
//
//	<Prefix>/<j>/<n>.mp4        e.g. videos/0b0e…-uuid/2.mp4
//
// in Config.Bucket, whatever the source's name or content type (Prefix is
// "videos" by default). The name depends on nothing but the job and the
// attempt, which is what makes copies idempotent; a job id must be a plain
// name (letters, digits, '-', '_', '.'; job ids are UUIDs) and attempts start
// at 1. Copy returns gs://<bucket>/<object> by default, or
// https://storage.googleapis.com/<bucket>/<object> with URLStyle "https"
// (readable by whoever the bucket grants, not signed). Objects carry the
// metadata aiprod_job_id and aiprod_attempt and the source's content type.
//
// # What is copied
//
// Only videos: a source that declares a video/* content type keeps it; one
// that declares none, application/octet-stream, binary/octet-stream or
// application/mp4 must start like a video file (an MP4/QuickTime "ftyp"
// box, or the Matroska/WebM magic) and is stored as video/mp4,
// video/quicktime or video/webm; anything else (text/html, JSON, images) is
// refused, Permanent. Every provider AIPROD supports, and every simulator,
// serves video/mp4; bytes are sniffed only for untyped objects, which
// object stores serve as application/octet-stream.
//
// # Contract of Copy
//
// Sources over http and https (provider CDNs, signed URLs, the simulators'
// /__sim/videos/{id}.mp4):
//
//  1. If the object exists, Copy returns its URL at once: no download and
//     no write, even if the source has expired since (a redelivered success
//     costs one metadata read).
//  2. Otherwise it downloads the source through the network guard (below)
//     and streams it into an object writer with the precondition
//     DoesNotExist. Nothing is buffered beyond the writer's
//     Config.ChunkSize (16 MiB): a video larger than that goes up as a
//     resumable upload in several requests.
//  3. Anything wrong with the source (a read error, a body shorter than its
//     Content-Length, more than MaxBytes, an empty body) cancels the
//     writer's context before Close, which abandons the upload: no partial
//     object is ever committed, and a retry starts afresh.
//  4. If the precondition fails, a concurrent copy of the same attempt won:
//     Copy returns the URL of that object (one object whatever the number
//     of copies). After a write, the object's size is compared with the
//     bytes read (which net/http has already matched against
//     Content-Length); on a mismatch the generation is deleted and the error
//     is Retryable.
//
// The network guard (package netguard) makes every connection of a
// download, and of each redirect hop, to an address it has checked:
// loopback, private, link-local (the metadata server), unique-local and
// IPv4-mapped forms of those are refused (Permanent) unless
// Config.AllowPrivateNetworks (the dev stack: simulators on loopback);
// names are resolved once and the checked address dialled (no DNS
// rebinding); no proxy from the environment is used. Redirects are followed
// up to netguard.MaxRedirects (5), only to http and https. Sources of any
// other scheme are refused.
//
// gs:// sources (Veo writes its videos to Cloud Storage itself) are accepted
// only when they are the job's own: in Config.Bucket, under
// <Prefix>/<job id>/ or <folder>/<job id>/ for a folder of
// Config.SourceFolders (Veo's, e.g. veo/<job id>/<attempt>/...). Copy then
// checks that the object exists, is not empty and is a video, and returns
// its URL as is (in URLStyle): nothing is copied. Another job's object,
// anything else in the bucket and every other bucket are refused,
// Permanent: the worker's service account can read more than any one job
// should see.
//
// # Errors
//
// Errors are classified with errclass, and carry Retry-After when the
// source or Cloud Storage sent one:
//
//   - Permanent: the source answered 404 or 410 (expired); another 4xx
//     except those below; a 2xx other than 200; more than MaxBytes
//     (announced or streamed); not a video; a scheme other than http, https
//     or gs, or a redirect to one; more than 5 redirects; an address the
//     network guard refuses; a malformed URL; a gs:// source that is not
//     the job's own, or missing, empty or not a video; an invalid job id or
//     attempt. Copying again will not help.
//   - Retryable: the source answered 5xx, 408, 429, 401 or 403 (as
//     errclass.FromHTTPStatus: a refused credential is not the job's
//     fault), timed out, refused the connection, cut the body short or sent
//     none; and every error of the output bucket (a missing bucket or
//     permission is the deployment's fault, not the job's). ctx ending is
//     Retryable too, with ctx's error as cause.
//
// Implementations do not retry on their own; the storage client does retry
// its idempotent requests (every write here is, thanks to its
// precondition) and resends a failed upload chunk, within ctx.
//
// Errors never contain a source URL's userinfo or query string, where
// signed URLs keep their credentials: they show scheme, host and path only.
// The package logs nothing.
//
// # Permissions
//
// The worker's service account needs storage.objects.get, create and delete
// (the last only to remove a short write) on the output bucket, e.g.
// roles/storage.objectUser. Veo must write into the output bucket (its
// folder in Config.SourceFolders). NewGCS makes no call: a missing bucket or
// permission shows as Retryable errors of Copy.
package output

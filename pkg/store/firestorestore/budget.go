package firestorestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/store"
)

// Collections and fields of budgets (see store.BudgetTx for the model).
const (
	projectsCollection = "projects"
	periodsCollection  = "periods"
	usersCollection    = "users"
	shardsCollection   = "shards"
	ledgerCollection   = "ledger"

	fieldPeriod = "period"
	fieldAt     = "at"
)

// budgetDoc is projects/{project}.
type budgetDoc struct {
	MonthlyLimitMicros *int64         `firestore:"monthly_limit_micros"` // null: no limit
	Users              []userLimitDoc `firestore:"users"`
	// DefaultUserMicros caps users without a limit of their own; absent in
	// documents written before it existed (null: none).
	DefaultUserMicros *int64    `firestore:"default_user_limit_micros"`
	UpdatedAt         time.Time `firestore:"updated_at"`
}

// userLimitDoc is one user's limit. Users are a list, not a map, because
// user ids may hold characters that field paths would need quoted.
type userLimitDoc struct {
	UserID      string `firestore:"user_id"`
	LimitMicros int64  `firestore:"limit_micros"`
}

// periodDoc is projects/{project}/periods/{yyyy-mm} and, with UserID,
// .../users/{user}.
type periodDoc struct {
	ProjectID      string  `firestore:"project_id"`
	Period         string  `firestore:"period"`
	UserID         string  `firestore:"user_id,omitempty"`
	SpentMicros    int64   `firestore:"spent_micros"`
	ReservedMicros int64   `firestore:"reserved_micros"`
	Notified       []int64 `firestore:"notified"`
	// ForecastNotified is set on heads once the period's budget.forecast
	// event is announced.
	ForecastNotified bool `firestore:"forecast_notified,omitempty"`
	// Shard, AllotmentMicros and GrantedUnderMicros are set on shards
	// (.../shards/{n}), absent on heads.
	Shard              int       `firestore:"shard,omitempty"`
	AllotmentMicros    int64     `firestore:"allotment_micros,omitempty"`
	GrantedUnderMicros *int64    `firestore:"granted_under_micros,omitempty"`
	UpdatedAt          time.Time `firestore:"updated_at"`
}

// ledgerDoc is ledger/{job_id}-{attempt}.
type ledgerDoc struct {
	JobID          string    `firestore:"job_id"`
	Attempt        int       `firestore:"attempt"`
	ProjectID      string    `firestore:"project_id"`
	UserID         string    `firestore:"user_id,omitempty"`
	Backend        string    `firestore:"backend"`
	Model          string    `firestore:"model,omitempty"`
	Shape          *shapeDoc `firestore:"shape,omitempty"`
	Period         string    `firestore:"period"`
	Seconds        int       `firestore:"seconds"`
	Status         string    `firestore:"status"`
	EstimateMicros int64     `firestore:"estimate_micros"`
	ReservedMicros int64     `firestore:"reserved_micros"`
	CostMicros     int64     `firestore:"cost_micros"`
	ReleasedMicros int64     `firestore:"released_micros"`
	CarriedMicros  int64     `firestore:"carried_micros"`
	Final          bool      `firestore:"final"`
	At             time.Time `firestore:"at"`
	// What package learn reads (store.LedgerEntry).
	ErrorCode        string `firestore:"error_code,omitempty"`
	GenerationMicros int64  `firestore:"generation_micros,omitempty"`
}

func (s *Store) budgetRef(projectID string) *firestore.DocumentRef {
	return s.c.Collection(projectsCollection).Doc(projectID)
}

func (s *Store) periodRef(projectID, period string) *firestore.DocumentRef {
	return s.budgetRef(projectID).Collection(periodsCollection).Doc(period)
}

func (s *Store) userPeriodRef(projectID, period, userID string) *firestore.DocumentRef {
	return s.periodRef(projectID, period).Collection(usersCollection).Doc(userDocID(userID))
}

// shardRef is shard n of a project's period, or of a user's when userID
// is set: .../shards/{n} or .../shards/{n}~{user}.
func (s *Store) shardRef(projectID, period, userID string, n int) *firestore.DocumentRef {
	id := strconv.Itoa(n)
	if userID != "" {
		id += "~" + userDocID(userID)
	}
	return s.periodRef(projectID, period).Collection(shardsCollection).Doc(id)
}

func (s *Store) ledgerRef(id string) *firestore.DocumentRef {
	return s.c.Collection(ledgerCollection).Doc(id)
}

// userDocID maps a user id (any text of up to 128 characters) to a document
// id, injectively: letters, digits, '-', '@' and '+' stay, every other byte
// is %XX. The rare id whose escaped form would pass Firestore's 1500-byte
// limit becomes "%sha256-" and its hex SHA-256, which no escaped form can
// be ("%s" is not an escape).
func userDocID(u string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '@' || c == '+' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	if b.Len() > 1500 {
		sum := sha256.Sum256([]byte(u))
		return "%sha256-" + hex.EncodeToString(sum[:])
	}
	return b.String()
}

// checkPeriod validates the ids of a period document.
func checkPeriod(projectID, period string) error {
	if err := checkID("project", projectID); err != nil {
		return err
	}
	if !store.ValidPeriodID(period) {
		return errclass.New(errclass.Permanent, "firestorestore: invalid period %q: want yyyy-mm", period)
	}
	return nil
}

func toBudgetDoc(b store.Budget) budgetDoc {
	d := budgetDoc{Users: []userLimitDoc{}, UpdatedAt: store.NormalizeTime(b.UpdatedAt)}
	if b.MonthlyLimit != nil {
		v := int64(*b.MonthlyLimit)
		d.MonthlyLimitMicros = &v
	}
	if b.DefaultUserLimit != nil {
		v := int64(*b.DefaultUserLimit)
		d.DefaultUserMicros = &v
	}
	for u, v := range b.UserLimits {
		d.Users = append(d.Users, userLimitDoc{UserID: u, LimitMicros: int64(v)})
	}
	slices.SortFunc(d.Users, func(a, b userLimitDoc) int { return strings.Compare(a.UserID, b.UserID) })
	return d
}

func fromBudgetDoc(projectID string, d budgetDoc) store.Budget {
	b := store.Budget{ProjectID: projectID, UpdatedAt: store.NormalizeTime(d.UpdatedAt)}
	if d.MonthlyLimitMicros != nil {
		v := money.Micros(*d.MonthlyLimitMicros)
		b.MonthlyLimit = &v
	}
	if d.DefaultUserMicros != nil {
		v := money.Micros(*d.DefaultUserMicros)
		b.DefaultUserLimit = &v
	}
	if len(d.Users) > 0 {
		b.UserLimits = make(map[string]money.Micros, len(d.Users))
		for _, u := range d.Users {
			b.UserLimits[u.UserID] = money.Micros(u.LimitMicros)
		}
	}
	return b
}

func toPeriodDoc(p store.Period) periodDoc {
	d := periodDoc{
		ProjectID: p.ProjectID, Period: p.ID, UserID: p.UserID,
		SpentMicros: int64(p.Spent), ReservedMicros: int64(p.Reserved),
		Notified: make([]int64, 0, len(p.Notified)), UpdatedAt: store.NormalizeTime(p.UpdatedAt),
		Shard: p.Shard, AllotmentMicros: int64(p.Allotment), ForecastNotified: p.ForecastNotified,
	}
	if p.GrantedUnder != nil {
		v := int64(*p.GrantedUnder)
		d.GrantedUnderMicros = &v
	}
	for _, n := range p.Notified {
		d.Notified = append(d.Notified, int64(n))
	}
	slices.Sort(d.Notified)
	return d
}

func fromPeriodDoc(d periodDoc) store.Period {
	p := store.Period{
		ProjectID: d.ProjectID, ID: d.Period, UserID: d.UserID,
		Spent: money.Micros(d.SpentMicros), Reserved: money.Micros(d.ReservedMicros),
		UpdatedAt: store.NormalizeTime(d.UpdatedAt),
		Shard:     d.Shard, Allotment: money.Micros(d.AllotmentMicros), ForecastNotified: d.ForecastNotified,
	}
	if d.GrantedUnderMicros != nil {
		v := money.Micros(*d.GrantedUnderMicros)
		p.GrantedUnder = &v
	}
	for _, n := range d.Notified {
		p.Notified = append(p.Notified, int(n))
	}
	return p
}

func toLedgerDoc(e store.LedgerEntry) ledgerDoc {
	return ledgerDoc{
		JobID: e.JobID, Attempt: e.Attempt, ProjectID: e.ProjectID, UserID: e.UserID,
		Backend: e.Backend, Model: e.Model, Shape: toShapeDoc(e.Shape), Period: e.Period, Seconds: e.Seconds, Status: string(e.Status),
		EstimateMicros: int64(e.Estimate), ReservedMicros: int64(e.Reserved), CostMicros: int64(e.Cost),
		ReleasedMicros: int64(e.Released), CarriedMicros: int64(e.Carried), Final: e.Final,
		At: store.NormalizeTime(e.At), ErrorCode: e.ErrorCode, GenerationMicros: e.Generation.Microseconds(),
	}
}

func fromLedgerDoc(id string, d ledgerDoc) store.LedgerEntry {
	return store.LedgerEntry{
		ID: id, JobID: d.JobID, Attempt: d.Attempt, ProjectID: d.ProjectID, UserID: d.UserID,
		Backend: d.Backend, Model: d.Model, Shape: fromShapeDoc(d.Shape), Period: d.Period, Seconds: d.Seconds, Status: job.AttemptStatus(d.Status),
		Estimate: money.Micros(d.EstimateMicros), Reserved: money.Micros(d.ReservedMicros),
		Cost: money.Micros(d.CostMicros), Released: money.Micros(d.ReleasedMicros),
		Carried: money.Micros(d.CarriedMicros), Final: d.Final, At: store.NormalizeTime(d.At),
		ErrorCode: d.ErrorCode, Generation: time.Duration(d.GenerationMicros) * time.Microsecond,
	}
}

// getDoc reads ref (through ft when not nil) into v; found is false for an
// absent document.
func getDoc(ctx context.Context, ft *firestore.Transaction, ref *firestore.DocumentRef, v any, what string) (found bool, err error) {
	var snap *firestore.DocumentSnapshot
	if ft != nil {
		snap, err = ft.Get(ref)
	} else {
		snap, err = ref.Get(ctx)
	}
	if status.Code(err) == codes.NotFound {
		return false, nil
	}
	if err != nil {
		return false, classify(err, "get %s", what)
	}
	return decodeSnap(snap, v, what)
}

func (s *Store) getBudget(ctx context.Context, ft *firestore.Transaction, projectID string) (store.Budget, error) {
	if err := checkID("project", projectID); err != nil {
		return store.Budget{}, err
	}
	var d budgetDoc
	found, err := getDoc(ctx, ft, s.budgetRef(projectID), &d, "budget of project "+projectID)
	if err != nil || !found {
		return store.Budget{ProjectID: projectID}, err
	}
	return fromBudgetDoc(projectID, d), nil
}

func (s *Store) getPeriod(ctx context.Context, ft *firestore.Transaction, projectID, period, userID string) (store.Period, error) {
	return s.getPeriodDoc(ctx, ft, projectID, period, userID, 0)
}

// getPeriodDoc reads the head (shard 0) or a shard of a period.
func (s *Store) getPeriodDoc(ctx context.Context, ft *firestore.Transaction, projectID, period, userID string, shard int) (store.Period, error) {
	zero := store.Period{ProjectID: projectID, ID: period, UserID: userID, Shard: shard}
	if err := checkPeriod(projectID, period); err != nil {
		return zero, err
	}
	ref, what := s.periodRef(projectID, period), "period "+period+" of project "+projectID
	switch {
	case shard > 0:
		ref, what = s.shardRef(projectID, period, userID, shard), what+" shard "+strconv.Itoa(shard)
	case userID != "":
		ref, what = s.userPeriodRef(projectID, period, userID), what+" for a user"
	}
	var d periodDoc
	found, err := getDoc(ctx, ft, ref, &d, what)
	if err != nil || !found {
		return zero, err
	}
	p := fromPeriodDoc(d)
	p.ProjectID, p.ID, p.UserID, p.Shard = projectID, period, userID, shard
	return p, nil
}

// GetBudget reads a project's budget configuration (zero when absent).
func (s *Store) GetBudget(ctx context.Context, projectID string) (store.Budget, error) {
	return s.getBudget(ctx, nil, projectID)
}

// GetPeriod reads a project's period (zero when absent).
func (s *Store) GetPeriod(ctx context.Context, projectID, period string) (store.Period, error) {
	return s.getPeriod(ctx, nil, projectID, period, "")
}

// ListUserPeriods returns the user periods of a project's period, by user id.
func (s *Store) ListUserPeriods(ctx context.Context, projectID, period string) ([]store.Period, error) {
	if err := checkPeriod(projectID, period); err != nil {
		return nil, err
	}
	it := s.periodRef(projectID, period).Collection(usersCollection).Documents(ctx)
	out, err := listDocs(it, "user periods of "+period+" in project "+projectID, func(_ string, d periodDoc) store.Period {
		p := fromPeriodDoc(d)
		p.ProjectID, p.ID = projectID, period
		return p
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Period) int { return strings.Compare(a.UserID, b.UserID) })
	return out, nil
}

// ListLedger returns a project's ledger entries matching q, by At then id.
// It needs the composite indexes on ledger in indexes.json.
func (s *Store) ListLedger(ctx context.Context, q store.LedgerQuery) ([]store.LedgerEntry, error) {
	if q.ProjectID == "" {
		return nil, errclass.New(errclass.Permanent, "list ledger: project id is required")
	}
	fq := s.c.Collection(ledgerCollection).Where(fieldProjectID, "==", q.ProjectID)
	if q.Period != "" {
		fq = fq.Where(fieldPeriod, "==", q.Period)
	}
	if !q.From.IsZero() {
		fq = fq.Where(fieldAt, ">=", store.NormalizeTime(q.From))
	}
	if !q.To.IsZero() {
		fq = fq.Where(fieldAt, "<", store.NormalizeTime(q.To))
	}
	it := fq.OrderBy(fieldAt, firestore.Asc).OrderBy(firestore.DocumentID, firestore.Asc).Documents(ctx)
	return listDocs(it, "ledger of project "+q.ProjectID, fromLedgerDoc)
}

func (t *tx) GetBudget(projectID string) (store.Budget, error) {
	if err := t.checkRead(); err != nil {
		return store.Budget{}, err
	}
	return t.s.getBudget(context.Background(), t.ft, projectID)
}

func (t *tx) PutBudget(b store.Budget) error {
	if err := t.checkWrite("project", b.ProjectID); err != nil {
		return err
	}
	if (b.MonthlyLimit != nil && *b.MonthlyLimit < 0) || (b.DefaultUserLimit != nil && *b.DefaultUserLimit < 0) {
		return errclass.New(errclass.Permanent, "firestorestore: budget of project %s: negative limit", b.ProjectID)
	}
	for u, v := range b.UserLimits {
		if u == "" || v < 0 {
			return errclass.New(errclass.Permanent, "firestorestore: budget of project %s: invalid user limit %q: %s", b.ProjectID, u, v)
		}
	}
	t.set(t.s.budgetRef(b.ProjectID), toBudgetDoc(b))
	return nil
}

func (t *tx) GetPeriod(projectID, period string) (store.Period, error) {
	if err := t.checkRead(); err != nil {
		return store.Period{}, err
	}
	return t.s.getPeriod(context.Background(), t.ft, projectID, period, "")
}

func (t *tx) PutPeriod(p store.Period) error {
	if p.UserID != "" {
		return errclass.New(errclass.Permanent, "firestorestore: PutPeriod of a user period (user %q); use PutUserPeriod", p.UserID)
	}
	return t.putPeriod(p)
}

func (t *tx) GetUserPeriod(projectID, period, userID string) (store.Period, error) {
	if err := t.checkRead(); err != nil {
		return store.Period{}, err
	}
	if userID == "" {
		return store.Period{}, errclass.New(errclass.Permanent, "firestorestore: user period without a user id")
	}
	return t.s.getPeriod(context.Background(), t.ft, projectID, period, userID)
}

func (t *tx) PutUserPeriod(p store.Period) error {
	if p.UserID == "" {
		return errclass.New(errclass.Permanent, "firestorestore: PutUserPeriod without a user id")
	}
	return t.putPeriod(p)
}

func (t *tx) putPeriod(p store.Period) error {
	if t.done {
		return errTxDone
	}
	if err := checkPeriod(p.ProjectID, p.ID); err != nil {
		return err
	}
	ref := t.s.periodRef(p.ProjectID, p.ID)
	switch {
	case p.Shard < 0:
		return errclass.New(errclass.Permanent, "firestorestore: negative period shard %d", p.Shard)
	case p.Shard > 0:
		ref = t.s.shardRef(p.ProjectID, p.ID, p.UserID, p.Shard)
	case p.UserID != "":
		ref = t.s.userPeriodRef(p.ProjectID, p.ID, p.UserID)
	}
	t.set(ref, toPeriodDoc(p))
	return nil
}

func (t *tx) GetPeriodShard(projectID, period, userID string, n int) (store.Period, error) {
	if err := t.checkRead(); err != nil {
		return store.Period{}, err
	}
	if n < 1 {
		return store.Period{}, errclass.New(errclass.Permanent, "firestorestore: period shard %d: shards count from 1", n)
	}
	return t.s.getPeriodDoc(context.Background(), t.ft, projectID, period, userID, n)
}

// GetPeriods reads the period documents keys name, and the budget
// configuration when cfg is not nil, in one batch get.
func (t *tx) GetPeriods(projectID string, keys []store.PeriodKey, cfg *store.Budget) ([]store.Period, error) {
	if err := t.checkRead(); err != nil {
		return nil, err
	}
	if err := checkID("project", projectID); err != nil {
		return nil, err
	}
	refs := make([]*firestore.DocumentRef, 0, len(keys)+1)
	for _, k := range keys {
		if err := checkPeriod(projectID, k.Period); err != nil {
			return nil, err
		}
		switch {
		case k.Shard < 0:
			return nil, errclass.New(errclass.Permanent, "firestorestore: negative period shard %d", k.Shard)
		case k.Shard > 0:
			refs = append(refs, t.s.shardRef(projectID, k.Period, k.UserID, k.Shard))
		case k.UserID != "":
			refs = append(refs, t.s.userPeriodRef(projectID, k.Period, k.UserID))
		default:
			refs = append(refs, t.s.periodRef(projectID, k.Period))
		}
	}
	if cfg != nil {
		refs = append(refs, t.s.budgetRef(projectID))
	}
	snaps, err := t.ft.GetAll(refs)
	if err != nil {
		return nil, classify(err, "get %d budget documents of project %s", len(refs), projectID)
	}
	out := make([]store.Period, len(keys))
	for i, k := range keys {
		out[i] = store.Period{ProjectID: projectID, ID: k.Period, UserID: k.UserID, Shard: k.Shard}
		var d periodDoc
		if found, err := decodeSnap(snaps[i], &d, "period "+k.Period+" of project "+projectID); err != nil {
			return nil, err
		} else if found {
			p := fromPeriodDoc(d)
			p.ProjectID, p.ID, p.UserID, p.Shard = projectID, k.Period, k.UserID, k.Shard
			out[i] = p
		}
	}
	if cfg != nil {
		*cfg = store.Budget{ProjectID: projectID}
		var d budgetDoc
		if found, err := decodeSnap(snaps[len(keys)], &d, "budget of project "+projectID); err != nil {
			return nil, err
		} else if found {
			*cfg = fromBudgetDoc(projectID, d)
		}
	}
	return out, nil
}

// decodeSnap decodes a document of a batch get into v; found is false for
// a missing one.
func decodeSnap(snap *firestore.DocumentSnapshot, v any, what string) (found bool, err error) {
	if !snap.Exists() {
		return false, nil
	}
	if err := snap.DataTo(v); err != nil {
		return false, classify(err, "decode %s", what)
	}
	return true, nil
}

// ListPeriodShards returns every shard of a project's period, by user id
// then shard.
func (s *Store) ListPeriodShards(ctx context.Context, projectID, period string) ([]store.Period, error) {
	if err := checkPeriod(projectID, period); err != nil {
		return nil, err
	}
	it := s.periodRef(projectID, period).Collection(shardsCollection).Documents(ctx)
	out, err := listDocs(it, "shards of period "+period+" of project "+projectID, func(_ string, d periodDoc) store.Period {
		p := fromPeriodDoc(d)
		p.ProjectID, p.ID = projectID, period
		return p
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Period) int {
		if c := strings.Compare(a.UserID, b.UserID); c != 0 {
			return c
		}
		return a.Shard - b.Shard
	})
	return out, nil
}

func (t *tx) GetLedger(id string) (store.LedgerEntry, error) {
	if err := t.checkRead(); err != nil {
		return store.LedgerEntry{}, err
	}
	if !validID(id) {
		return store.LedgerEntry{}, errclass.New(errclass.NotFound, "ledger entry %s not found", id)
	}
	var d ledgerDoc
	found, err := getDoc(context.Background(), t.ft, t.s.ledgerRef(id), &d, "ledger entry "+id)
	if err != nil {
		return store.LedgerEntry{}, err
	}
	if !found {
		return store.LedgerEntry{}, errclass.New(errclass.NotFound, "ledger entry %s not found", id)
	}
	return fromLedgerDoc(id, d), nil
}

func (t *tx) CreateLedger(e store.LedgerEntry) error {
	if err := t.checkWrite("ledger entry", e.ID); err != nil {
		return err
	}
	if e.ProjectID == "" {
		return errclass.New(errclass.Permanent, "firestorestore: ledger entry %s without a project id", e.ID)
	}
	t.create(t.s.ledgerRef(e.ID), toLedgerDoc(e))
	return nil
}

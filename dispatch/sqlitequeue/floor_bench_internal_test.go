package sqlitequeue

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkEngineFloor measures what SQLite itself (the pure Go driver the store uses)
// spends on one delivery's life, without the store around it: on the store's schema
// (migrate), in each transaction 20 deliveries inserted, the 20 leased by the previous
// transaction acknowledged and 20 leased (the store's candidate SELECT and UPDATE …
// RETURNING), with the store's statements (writeSQL). It is the floor under the
// committer: with the pending table's secondary indexes or with them dropped (the unique
// id alone), and with one statement per row, as the store runs them, or one INSERT and one
// DELETE of the 20. The metric µs/delivery is the time of one transaction over 20, on one
// goroutine.
func BenchmarkEngineFloor(b *testing.B) {
	const k = 20
	for _, indexes := range []string{"store", "id-only"} {
		for _, statements := range []string{"per-row", "per-20"} {
			b.Run("indexes="+indexes+"/statements="+statements, func(b *testing.B) {
				db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "floor.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				db.SetMaxOpenConns(1)
				if err := migrate(b.Context(), db, false); err != nil {
					b.Fatal(err)
				}
				if indexes == "id-only" {
					if _, err := db.Exec(`DROP INDEX pending_due; DROP INDEX pending_endpoint; DROP INDEX pending_ordered; DROP INDEX pending_lease`); err != nil {
						b.Fatal(err)
					}
				}
				c := newFloorCycle(b, db, k, statements == "per-20")
				for range 100 { // a steady state: k leased, k pending
					c.run(b)
				}
				b.ResetTimer()
				for range b.N {
					c.run(b)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*k), "µs/delivery")
			})
		}
	}
}

// floorCycle is the statements and state of BenchmarkEngineFloor.
type floorCycle struct {
	db              *sql.DB
	k               int
	many            bool
	st              map[string]*sql.Stmt
	seq             int
	leased          []any // seq, lease, id of each delivery the previous transaction leased
	blob            []byte
	args            []any
	dest            []any
	seqCol, dueCol  int64
	leaseCol, idCol sql.RawBytes
}

func newFloorCycle(b *testing.B, db *sql.DB, k int, many bool) *floorCycle {
	c := &floorCycle{db: db, k: k, many: many, blob: make([]byte, 280), st: map[string]*sql.Stmt{}}
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for name, q := range map[string]string{
		"insert": writeSQL[stInsert],
		"ack":    writeSQL[stAck],
		"free":   writeSQL[stLeaseFree],
		"take":   writeSQL[stLeaseTake],
		"insertMany": `INSERT INTO pending (seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts)
			VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", k), ",") + ` ON CONFLICT (id) DO NOTHING`,
		"ackMany": `DELETE FROM pending WHERE (seq, lease, id) IN (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?),", k), ",") + `)`,
	} {
		st, err := db.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		c.st[name] = st
	}
	// pendingCols: seq, id, endpoint, event, ordered, created, due, round_start, lease,
	// lease_expires, NULL, NULL, n_attempts.
	var skip sql.RawBytes
	c.dest = []any{&c.seqCol, &c.idCol, &skip, &skip, &skip, &skip, &skip, &skip, &c.leaseCol, &skip, &skip, &skip, &skip}
	return c
}

// run is one transaction: k inserted, the k leased by the previous one acknowledged, k leased.
func (c *floorCycle) run(b *testing.B) {
	ctx := context.Background()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	exec := func(name string, want int64, args ...any) {
		res, err := tx.Stmt(c.st[name]).ExecContext(ctx, args...)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != want {
			b.Fatalf("%s: %d rows, want %d (%v)", name, n, want, err)
		}
	}
	c.args = c.args[:0]
	for range c.k {
		c.seq++
		id := "dlv_" + strconv.Itoa(c.seq*7919%1000003) + "_" + strconv.Itoa(c.seq)
		args := []any{c.seq, id, "ep", "evt_" + id, c.blob, false, c.seq, c.seq, 0, 0}
		if c.many {
			c.args = append(c.args, args...)
		} else {
			exec("insert", 1, append(args, nil, nil)...) // not leased: lease, lease_expires NULL
		}
	}
	if c.many {
		exec("insertMany", int64(c.k), c.args...)
		if len(c.leased) > 0 {
			exec("ackMany", int64(len(c.leased)/3), c.leased...)
		}
	} else {
		for i := 0; i < len(c.leased); i += 3 {
			exec("ack", 1, c.leased[i:i+3]...)
		}
	}
	c.leased = c.leased[:0]
	rows, err := tx.Stmt(c.st["free"]).QueryContext(ctx, c.seq, c.k)
	if err != nil {
		b.Fatal(err)
	}
	seqs := []byte{'['}
	for rows.Next() {
		if err := rows.Scan(&c.seqCol, &c.dueCol); err != nil {
			b.Fatal(err)
		}
		if len(seqs) > 1 {
			seqs = append(seqs, ',')
		}
		seqs = strconv.AppendInt(seqs, c.seqCol, 10)
	}
	_ = rows.Close()
	rows, err = tx.Stmt(c.st["take"]).QueryContext(ctx, "tok.", c.seq+1000, string(append(seqs, ']')))
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(c.dest...); err != nil {
			b.Fatal(err)
		}
		c.leased = append(c.leased, c.seqCol, string(c.leaseCol), string(c.idCol))
	}
	_ = rows.Close()
	if len(c.leased) != 3*c.k {
		b.Fatalf("leased %d, want %d", len(c.leased)/3, c.k)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

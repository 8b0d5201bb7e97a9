package sqlitequeue_test

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the driver the store uses, for a table of the benchmark's own
)

// floorIndexes are the secondary indexes of the store's pending table (schema version 3).
const floorIndexes = `
CREATE INDEX p_due ON p (due, seq) WHERE lease IS NULL;
CREATE INDEX p_endpoint ON p (endpoint, due, seq);
CREATE INDEX p_ordered ON p (endpoint, seq) WHERE ordered = 1;
CREATE INDEX p_lease ON p (lease_expires) WHERE lease IS NOT NULL;`

// BenchmarkEngineFloor measures what SQLite itself (the pure Go driver the store uses)
// spends on one delivery's life, without the store: in each transaction, 20 rows of the
// pending table's shape inserted, the 20 leased by the previous transaction deleted, and
// 20 leased (a SELECT of the candidates, an UPDATE … RETURNING their rows). It is the
// floor under the store's committer: with the store's four secondary indexes or only the
// unique id, and with one statement per row or one INSERT and one DELETE of 20 rows. The
// metric µs/delivery is the time of one transaction over 20, on one goroutine.
func BenchmarkEngineFloor(b *testing.B) {
	const k = 20
	for _, indexes := range []struct{ name, ddl string }{{"store", floorIndexes}, {"id-only", ""}} {
		for _, many := range []bool{false, true} {
			name := "indexes=" + indexes.name + "/statements=per-row"
			if many {
				name = "indexes=" + indexes.name + "/statements=per-20"
			}
			b.Run(name, func(b *testing.B) {
				db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "floor.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				db.SetMaxOpenConns(1)
				if _, err := db.Exec(`CREATE TABLE p (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, endpoint TEXT NOT NULL,
					event_id TEXT NOT NULL, event BLOB NOT NULL, ordered INTEGER NOT NULL, created INTEGER, due INTEGER NOT NULL,
					round_start INTEGER NOT NULL, n_attempts INTEGER NOT NULL, lease TEXT, lease_expires INTEGER);` + indexes.ddl); err != nil {
					b.Fatal(err)
				}
				cycle := newFloorCycle(b, db, k, many)
				for range 100 { // a steady state: k leased, k pending
					cycle.run(b)
				}
				b.ResetTimer()
				for range b.N {
					cycle.run(b)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*k), "µs/delivery")
			})
		}
	}
}

// floorCycle is the statements of BenchmarkEngineFloor, prepared once.
type floorCycle struct {
	db                                *sql.DB
	k                                 int
	many                              bool
	ins, insMany, ack, ackMany, cands *sql.Stmt
	take                              *sql.Stmt
	seq                               int
	leased                            []any // seq, lease pairs of the previous transaction
	blob                              []byte
	args                              []any
}

func newFloorCycle(b *testing.B, db *sql.DB, k int, many bool) *floorCycle {
	prep := func(q string) *sql.Stmt {
		st, err := db.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		return st
	}
	row := "(?, ?, 'ep', ?, ?, 0, ?, ?, 0, 0)"
	return &floorCycle{db: db, k: k, many: many, blob: make([]byte, 280),
		ins:     prep(`INSERT INTO p (seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts) VALUES ` + row + ` ON CONFLICT (id) DO NOTHING`),
		insMany: prep(`INSERT INTO p (seq, id, endpoint, event_id, event, ordered, created, due, round_start, n_attempts) VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", k), ",") + ` ON CONFLICT (id) DO NOTHING`),
		ack:     prep(`DELETE FROM p WHERE seq = ? AND lease = ?`),
		ackMany: prep(`DELETE FROM p WHERE (seq, lease) IN (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?),", k), ",") + `)`),
		cands:   prep(`SELECT seq FROM p WHERE lease IS NULL AND due <= ? ORDER BY due, seq LIMIT ? + 0`),
		take: prep(`UPDATE p SET lease = ?1 || seq, lease_expires = ?2 WHERE seq IN (SELECT value FROM json_each(?3))
			RETURNING seq, id, endpoint, event, ordered, created, due, round_start, lease, lease_expires, n_attempts`),
	}
}

// run is one transaction: k inserted, the k leased by the previous one deleted, k leased.
func (c *floorCycle) run(b *testing.B) {
	tx, err := c.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	exec := func(st *sql.Stmt, want int64, args ...any) {
		res, err := tx.Stmt(st).Exec(args...)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != want {
			b.Fatalf("%d rows, want %d (%v)", n, want, err)
		}
	}
	c.args = c.args[:0]
	for range c.k {
		c.seq++
		id := "dlv_" + strconv.Itoa(c.seq*7919%1000003) + "_" + strconv.Itoa(c.seq)
		if c.many {
			c.args = append(c.args, c.seq, id, "evt_"+id, c.blob, c.seq, c.seq)
		} else {
			exec(c.ins, 1, c.seq, id, "evt_"+id, c.blob, c.seq, c.seq)
		}
	}
	if c.many {
		exec(c.insMany, int64(c.k), c.args...)
		if len(c.leased) > 0 {
			exec(c.ackMany, int64(len(c.leased)/2), c.leased...)
		}
	} else {
		for i := 0; i < len(c.leased); i += 2 {
			exec(c.ack, 1, c.leased[i], c.leased[i+1])
		}
	}
	c.leased = c.leased[:0]
	rows, err := tx.Stmt(c.cands).Query(c.seq, c.k)
	if err != nil {
		b.Fatal(err)
	}
	seqs := []byte{'['}
	for rows.Next() {
		var s int
		if err := rows.Scan(&s); err != nil {
			b.Fatal(err)
		}
		if len(seqs) > 1 {
			seqs = append(seqs, ',')
		}
		seqs = strconv.AppendInt(seqs, int64(s), 10)
	}
	rows.Close()
	rows, err = tx.Stmt(c.take).Query("tok.", c.seq+1000, string(append(seqs, ']')))
	if err != nil {
		b.Fatal(err)
	}
	var (
		s, ord, n, created, due, rs, exp int64
		id, ep, lease                    string
		ev                               sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&s, &id, &ep, &ev, &ord, &created, &due, &rs, &lease, &exp, &n); err != nil {
			b.Fatal(err)
		}
		c.leased = append(c.leased, s, lease)
	}
	rows.Close()
	if len(c.leased) != 2*c.k {
		b.Fatalf("leased %d, want %d", len(c.leased)/2, c.k)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
